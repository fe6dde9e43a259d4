"""Multi-process training on JAX's distributed runtime: real processes on 127.0.0.1 (CPU, gloo).

Each test launches `python -m experiments.autoencoder --distributed` twice, one CPU device
per process, through --coordinator-address / --num-processes / --process-id, and bounds
every wait with a timeout: a hang fails the test instead of stalling it.
"""
from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from experiments import autoencoder
from experiments.checkpoint import saved_epochs
from experiments.distributed import allgather_json, check_agreement, from_process_0, on_every_process
from experiments.loop import Layout, epoch_batches, make_mesh, put_replicated, shuffle
from experiments.step import Recipe, epoch_key

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 180  # per launch; a run here takes 10-30 s
# Runs `python -m experiments.autoencoder ARGS` and reports on stderr each file it opens for
# writing or renames to under $WATCH_DIR ("WROTE path"). With $CLOCK_SKEW_S its clock runs that far ahead
# (hosts whose clocks differ); it is offline (no MNIST download), as every child here.
LAUNCHER = """
import datetime, os, runpy, sys, types
import experiments.data
experiments.data.network_available = lambda *args, **kwargs: False
watched = os.path.abspath(os.environ["WATCH_DIR"]) + os.sep
def audit(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1], args[2]
        writes = any(c in mode for c in "wax+") if mode else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
    elif event == "os.rename":  # os.rename and os.replace: the file written is the target
        args, writes = args[1:], True
    else:
        return
    path = os.path.abspath(os.fsdecode(args[0]))
    if writes and path.startswith(watched):
        sys.stderr.write(f"WROTE {path}\\n")
sys.addaudithook(audit)
if skew := float(os.environ.get("CLOCK_SKEW_S", "0")):
    import experiments.train
    class Skewed(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.now(tz) + datetime.timedelta(seconds=skew)
    experiments.train.datetime = types.SimpleNamespace(datetime=Skewed)
sys.argv[0] = "experiments.autoencoder"
runpy.run_module("experiments.autoencoder", run_name="__main__", alter_sys=True)
"""


def write_idx_dir(directory: Path, n_train: int = 320, n_test: int = 64, seed: int = 0) -> Path:
    """Four gzip IDX files of random 28x28 images (an MNIST stand-in that loads in no time)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = (rng.uniform(size=(n, 28, 28)) ** 4 * 255).astype(np.uint8)
        (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">4i", 2051, n, 28, 28) + images.tobytes()))
        (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">2i", 2049, n) + rng.integers(0, 10, n, dtype=np.uint8).tobytes()))
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(devices: int, home: Path, **extra: str) -> dict[str, str]:
    """A child on `devices` CPU devices, with no MNIST in sight ($HOME: `home`)."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("MNIST_DIR", "TFDS_DATA_DIR", "JAX_COORDINATOR_ADDRESS")}
    return dict(env, CI="true", JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO), HOME=str(home),
                XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", **extra)


def launch(args: list[list[str]], cwd: Path, watch: Path, skew: tuple[float, ...] = ()) -> list[subprocess.Popen]:
    """One process per entry of `args` (its own arguments), all of one distributed run, in
    `cwd` with $HOME `cwd`/home; process i's clock `skew[i]` seconds ahead."""
    address = f"127.0.0.1:{free_port()}"
    procs = []
    for i, own in enumerate(args):
        cmd = [sys.executable, "-c", LAUNCHER, "--distributed", "--coordinator-address", address,
               "--num-processes", str(len(args)), "--process-id", str(i), *own]
        env = child_env(1, cwd / "home", WATCH_DIR=str(watch), CLOCK_SKEW_S=str(skew[i] if i < len(skew) else 0))
        procs.append(subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    return procs


def finish(procs: list[subprocess.Popen], timeout: float = TIMEOUT_S) -> list[tuple[int, str, str]]:
    """(exit status, stdout, stderr) of each process; every process is killed if any hangs."""
    deadline = time.monotonic() + timeout
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((proc.returncode, out, err))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        pytest.fail(f"a process was still running after {timeout:.0f} s (hang): "
                    + " | ".join(f"{p.args[-1]}: {p.communicate()[1][-1500:]}" for p in procs))
    return results


def losses(metrics: dict) -> list[tuple[float, float]]:
    return [(e["train_loss"], e["val_loss"]) for e in metrics["epochs"]]


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("python -m experiments.autoencoder: error:")]


def test_two_processes_match_one_process_then_resume_after_sigkill(tmp_path):
    """Two processes (1 CPU device each): the losses of one process on the same 2-device mesh;
    one run directory although their clocks differ by an hour; only process 0 writes the
    run's files; killed after the first checkpoint, --resume goes on with the same losses."""
    data = write_idx_dir(tmp_path / "idx")
    common = ["--epochs", "3", "--batch-size", "64", "--data-dir", str(data), "--data", "mnist",
              "--compilation-cache", str(tmp_path / "cache")]
    # the reference, alongside: one process with 2 CPU devices
    one = subprocess.Popen([sys.executable, "-m", "experiments.autoencoder", *common, "--out", str(tmp_path / "one")],
                           cwd=REPO, env=child_env(2, tmp_path / "home"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    work = tmp_path / "work"  # no --out: runs/<variant>-<date-time> chosen by process 0
    work.mkdir()
    procs = launch([common, common], work, watch=work, skew=(0, 3600))
    deadline = time.monotonic() + TIMEOUT_S
    while not any(saved_epochs(run / "checkpoints") for run in (work / "runs").glob("*")):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            pytest.fail(f"no checkpoint while both ran: {finish(procs, 10)}")
        time.sleep(0.05)
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
    assert [status for status, _, _ in finish(procs)] == [-signal.SIGKILL] * 2
    (run,) = (work / "runs").iterdir()
    assert saved_epochs(run / "checkpoints")[-1] < 3
    ((status, _, stderr),) = finish([one])
    assert status == 0, stderr[-3000:]
    expected = losses(json.loads((tmp_path / "one" / "metrics.json").read_text()))

    results = finish(launch([common + ["--resume"]] * 2, work, watch=work, skew=(0, 3600)))
    for status, _, stderr in results:
        assert status == 0, stderr[-3000:]
    assert list((work / "runs").iterdir()) == [run]
    metrics = json.loads((run / "metrics.json").read_text())
    assert losses(metrics) == expected  # bit for bit
    assert metrics["devices"]["count"] == 2
    (stdout0, stderr0), (stdout1, stderr1) = ((out, err) for _, out, err in results)
    assert "Resumed from" in stdout0 and "Epoch 3/3" in stdout0 and "Final: loss" in stdout0
    assert not [line for line in stdout1.splitlines() if line.strip() and not line.startswith("[Gloo]")]
    wrote = [{path.relative_to(run) for line in err.splitlines() if line.startswith("WROTE ")
              if (path := Path(line.split(" ", 1)[1])).is_relative_to(run)} for err in (stderr0, stderr1)]
    assert {"metrics.json", "summary.txt", "reconstructions.png", "loss.png"} <= {str(p) for p in wrote[0]}
    assert all(p.parts[0] == "checkpoints" for p in wrote[1]), wrote[1]  # at most orbax's own shards


def test_processes_that_disagree_stop_with_one_error(tmp_path):
    """Process 1's --data-dir is missing (it would fall back to scikit-learn's digits) and its
    --epochs differ: both processes exit 2 with one line naming both, before any training."""
    data = write_idx_dir(tmp_path / "idx")
    common = ["--batch-size", "64", "--data", "auto", "--out", str(tmp_path / "run"), "--compilation-cache", "off"]
    results = finish(launch([common + ["--epochs", "2", "--data-dir", str(data)],
                             common + ["--epochs", "3", "--data-dir", str(tmp_path / "missing")]],
                            tmp_path, watch=tmp_path))
    for status, stdout, stderr in results:
        assert status == 2, stderr[-3000:]
        (line,) = errors(stderr)
        assert "the 2 processes disagree" in line and "--epochs: process 0 2, process 1 3" in line
        assert "process 0 ['mnist', 320, 64" in line and "process 1 ['sklearn-digits'" in line
        assert "Epoch 1/" not in stdout
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_data_error_on_one_process_stops_both(tmp_path):
    """--data mnist with a missing --data-dir on process 1 only: both exit 2, naming process 1."""
    data = write_idx_dir(tmp_path / "idx")
    common = ["--epochs", "1", "--data", "mnist", "--out", str(tmp_path / "run"), "--compilation-cache", "off"]
    results = finish(launch([common + ["--data-dir", str(data)], common + ["--data-dir", str(tmp_path / "missing")]],
                            tmp_path, watch=tmp_path))
    for status, _, stderr in results:
        assert status == 2, stderr[-3000:]
        assert "error: process 1: MNIST required" in stderr


def test_distributed_without_a_cluster_is_a_one_line_error(tmp_path):
    """JAX reads only the address from the environment: without --num-processes it cannot start."""
    env = child_env(1, tmp_path, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{free_port()}")
    proc = subprocess.run([sys.executable, "-m", "experiments.autoencoder", "--distributed", "--epochs", "1",
                           "--out", str(tmp_path / "run")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "Number of processes must be defined" in line and "--num-processes N" in line


# ------------------------------------------------------------- in this process


def test_one_process_shares_without_communicating():
    def missing() -> str:
        raise FileNotFoundError("no run to resume")

    assert jax.process_count() == 1
    assert allgather_json({"a": (1, 2)}) == [{"a": [1, 2]}]
    assert on_every_process(lambda: 3) == 3 and from_process_0(lambda: "x") == "x"
    check_agreement({"k": 1})
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        from_process_0(missing)


def test_batches_from_the_host_equal_batches_gathered_on_the_device():
    """The two sources of an epoch's batches (several processes / one) hold the same rows."""
    layout = Layout(Recipe("upsample", "nearest", "linen", "adam", 1e-3, "float32"), make_mesh(), 8, 21, 5)
    images = np.random.default_rng(0).uniform(size=(21, 28, 28, 1)).astype(np.float32)
    perm = shuffle(epoch_key(0, 1), layout=layout)
    on_device = epoch_batches(put_replicated(images, layout.replicated), perm, layout)
    from_host = epoch_batches(images, perm, layout)
    assert on_device.shape == from_host.shape == (3, 8, 28, 28, 1)
    assert on_device.sharding.is_equivalent_to(from_host.sharding, 5)
    np.testing.assert_array_equal(np.asarray(on_device), np.asarray(from_host))
    np.testing.assert_array_equal(np.asarray(from_host).reshape(24, 28, 28, 1), images[np.asarray(perm)])
    assert layout.local_rows == slice(0, 8)


def test_cli_distributed_flags():
    _, options = autoencoder.parse_args(["--distributed", "--coordinator-address", "10.0.0.1:1234",
                                         "--num-processes", "2", "--process-id", "1", "--local-device-ids", "0,1"])
    assert (options.coordinator_address, options.num_processes, options.process_id, options.local_device_ids) == (
        "10.0.0.1:1234", 2, 1, [0, 1])
    for bad in (["--coordinator-address", "10.0.0.1"], ["--coordinator-address", "h:0"], ["--num-processes", "0"],
                ["--process-id", "-1"], ["--local-device-ids", "a"], ["--num-processes", "2", "--process-id", "2"]):
        with pytest.raises(SystemExit):
            autoencoder.parse_args(["--distributed", *bad])
    with pytest.raises(SystemExit):
        autoencoder.parse_args(["--num-processes", "2"])  # needs --distributed
