"""The prepared accelerator run works on CPU: `bash benchmarks/accelerator.sh DIR OUT --device cpu --smoke`.

One smoke run of every part but MobileNetV2 (full job, training, profile, layers, sequence) on a tiny MNIST
written in the IDX format: every contender appears and ran, the JSON and Markdown
are written. No timing is asserted: speed is read from benchmarks/RESULTS.md runs.
Torch contenders are expected only when torch is installed.
"""
import gzip
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TORCHVISION = HAS_TORCH and importlib.util.find_spec("torchvision") is not None

LAYER_CONTENDERS = {
    "conv": {"jaxlayers", "flax nn.Conv", "keras.ops.conv", "torch F.conv2d"},
    "conv_few": {"jaxlayers", "jaxlayers (lax path)", "flax nn.Conv", "keras.ops.conv", "torch F.conv2d"},
    "conv_in1": {"jaxlayers", "jaxlayers (lax path)", "flax nn.Conv", "keras.ops.conv", "torch F.conv2d"},
    "conv_t1": {"jaxlayers", "flax nn.ConvTranspose", "keras.ops.conv_transpose", "torch F.conv_transpose2d"},
    "conv_t1v": {"jaxlayers", "jaxlayers (lax path)", "flax nn.ConvTranspose", "keras.ops.conv_transpose",
                 "torch F.conv_transpose2d"},
    "conv_t2": {"jaxlayers", "jaxlayers (lax path)", "flax nn.ConvTranspose", "keras.ops.conv_transpose",
                "torch F.conv_transpose2d"},
    "max_pool": {"jaxlayers", "jaxlayers (lax path)", "flax nn.max_pool", "keras.ops.max_pool", "torch F.max_pool2d"},
    "avg_pool": {"jaxlayers", "jaxlayers (lax path)", "flax nn.avg_pool", "keras.ops.average_pool",
                 "torch F.avg_pool2d"},
    "nearest": {"jaxlayers", "jaxlayers (lax path)", "jax.image.resize", "keras.ops.repeat", "torch F.interpolate"},
    "bed_of_nails": {"jaxlayers", "jnp .at[::2,::2].set"},
    "unpool": {"jaxlayers", "jaxlayers (lax path)", "torch max_pool2d+max_unpool2d"},
    "dwconv": {"jaxlayers", "jaxlayers (lax path)", "flax nn.Conv (groups=C)", "keras.ops.depthwise_conv",
               "torch F.conv2d (groups=C)"},
    "dwconv_s2": {"jaxlayers", "jaxlayers (lax path)", "flax nn.Conv (groups=C)", "keras.ops.depthwise_conv",
                  "torch F.conv2d (groups=C)"},
    "conv_1x1": {"jaxlayers", "jaxlayers (lax path)", "flax nn.Conv", "keras.ops.conv", "torch F.conv2d"},
    "conv_stem": {"jaxlayers", "jaxlayers (lax path)", "flax nn.Conv", "keras.ops.conv", "torch F.conv2d"},
}
# The smoke run leaves out the contenders that only vary a setting of another (other loop,
# lax lowerings, XLA fusions): every code path runs, not every setting.
TRAINING_CONTENDERS = {
    "jaxlayers (experiments.train)", "jaxlayers (plain loop)", "flax built-ins (plain loop)",
    "keras fit (jax, spe=1)", "keras fit (jax, spe=50)", "keras fit (torch)", "torch eager (NCHW)",
    "torch eager (channels_last)",
}

# MobileNetV2 (smoke: without keras fit spe=50 and torch.compile); torchvision's only where it imports.
APPLICATION_CONTENDERS = {"jaxlayers (from_keras, plain loop)", "keras fit (jax, spe=1)", "torch eager (channels_last)"}


def _expected(names: set[str]) -> set[str]:
    return {n for n in names if HAS_TORCH or "torch" not in n}


def write_idx(folder: Path, n_train: int = 512, n_test: int = 256, seed: int = 0) -> Path:
    """A tiny MNIST in the original gzipped IDX format (random strokes, not digits)."""
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = (rng.random((n, 28, 28)) > 0.8).astype(np.uint8) * 255
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + rng.integers(0, 10, n, dtype=np.uint8).tobytes())
    return folder


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    mnist = write_idx(tmp_path_factory.mktemp("mnist"))
    out = tmp_path_factory.mktemp("accelerator")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAXLAYERS_SKIP_INSTALL": "1", "PYTHON": sys.executable}
    env.pop("KERAS_BACKEND", None)  # benchmarks.run picks the JAX backend itself
    proc = subprocess.run(["bash", "benchmarks/accelerator.sh", str(mnist), str(out), "--device", "cpu", "--smoke"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "accelerator.json").read_text()), (out / "accelerator.md").read_text(), proc.stdout


def test_json_describes_machine_and_versions(smoke):
    result, _, _ = smoke
    assert result["machine"]["cores"] >= 1 and result["machine"]["cpu"]
    assert result["machine"]["platform"] == "cpu"
    for lib in ("jax", "jaxlib", "flax", "keras"):
        assert result["versions"][lib]
    assert result["matmul_peak"]["peak_flops"] > 0
    assert result["settings"]["parts"] == ["fulljob", "training", "profile", "layers", "sequence"]


def test_every_layer_contender_ran(smoke):
    result, _, _ = smoke
    seen = {}
    for record in result["layers"]:
        seen.setdefault(record["op"], set()).update(record["results"])
        for name, stats in record["results"].items():
            assert stats["error"] is None, (record["op"], record["mode"], name, stats["error"])
            assert 0 < stats["min"] <= stats["median"] <= stats["max"]
            if name == "jaxlayers":
                assert stats["jaxlayers_speedup"] == pytest.approx(1.0)
            if name.startswith("torch"):  # on the CPU in its own process, with OpenMP's defaults
                assert stats["note"].startswith("subprocess"), (record["op"], name, stats["note"])
    for op, names in LAYER_CONTENDERS.items():
        assert _expected(names) <= seen[op], op


SEQUENCE_CONTENDERS = {
    "lstm": {"jaxlayers", "flax nn.RNN(OptimizedLSTMCell)", "keras LSTM (jax)", "torch nn.LSTM"},
    "mha": {"jaxlayers", "flax nn.MultiHeadDotProductAttention", "keras MultiHeadAttention (jax)",
            "torch nn.MultiheadAttention"},
}


def test_every_sequence_contender_ran(smoke):
    result, markdown, _ = smoke
    records = {r["op"]: r for r in result["sequence"]}
    assert set(records) == set(SEQUENCE_CONTENDERS)
    for op, names in SEQUENCE_CONTENDERS.items():
        results = records[op]["results"]
        assert _expected(names) <= set(results), op
        for name, stats in results.items():
            assert stats["error"] is None, (op, name, stats["error"])
            assert 0 < stats["min"] <= stats["median"] <= stats["max"]
            if name.startswith("torch"):
                assert stats["note"] == "subprocess", (op, name, stats["note"])
        assert results["jaxlayers"]["jaxlayers_speedup"] == pytest.approx(1.0)
    assert "Sequence layers, forward+backward" in markdown and "MultiHeadAttention (self-attention)" in markdown


def test_the_depthwise_part_runs_the_mobilenetv2_cases_alone(tmp_path):
    """`--only depthwise --smoke`: the layers part's MobileNetV2 cases and nothing else, in a table of its own."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--only", "depthwise", "--smoke", "--json",
                           str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "r.json").read_text())
    assert "layers" not in result and result["settings"]["parts"] == ["depthwise"]
    assert {r["case"] for r in result["depthwise"]} == {"mobilenetv2"}
    assert {r["op"] for r in result["depthwise"]} == {"dwconv", "dwconv_s2", "conv_1x1", "conv_stem"}
    for record in result["depthwise"]:
        assert _expected(LAYER_CONTENDERS[record["op"]]) <= set(record["results"])
        assert all(stats["error"] is None for stats in record["results"].values())
    assert "MobileNetV2's depthwise, 1x1 and first convs" in (tmp_path / "r.md").read_text()


def test_every_training_contender_ran(smoke):
    result, _, _ = smoke
    for record in result["training"]:
        assert _expected(TRAINING_CONTENDERS) <= set(record["results"])
        for name in _expected(TRAINING_CONTENDERS):
            stats = record["results"][name]
            assert stats["error"] is None, (name, stats["error"])
            assert stats["images_per_second"] > 0
        assert record["flops_per_image"]["analytic"] > 0


@pytest.mark.slow
def test_every_mobilenetv2_contender_ran(tmp_path):
    """`--only applications --smoke` (left out of the accelerator smoke run: minutes of compile on CPU)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--only", "applications", "--smoke",
                           "--device", "cpu", "--json", str(tmp_path / "app.json"), "--markdown",
                           str(tmp_path / "app.md")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "MobileNetV2 training" in proc.stdout
    (record,) = json.loads((tmp_path / "app.json").read_text())["applications"]
    assert record["batch"] == 32 and record["images"] == 64 and record["image_size"] == 32
    expected = {n for n in APPLICATION_CONTENDERS if HAS_TORCHVISION or "torch" not in n}
    assert expected <= set(record["results"])
    for name in expected:
        stats = record["results"][name]
        assert stats["error"] is None, (name, stats["error"])
        assert stats["images_per_second"] > 0
    assert record["results"]["jaxlayers (from_keras, plain loop)"]["jaxlayers_speedup"] == pytest.approx(1.0)
    if not HAS_TORCHVISION:
        assert record["results"]["torch eager (channels_last)"]["error"].startswith("skipped: torch")
    assert record["flops_per_image"]["xla_cost_analysis"] > 0


def test_mobilenetv2_without_torchvision_is_recorded_as_skipped(monkeypatch):
    """No torchvision: its contenders are named, with the reason, and nothing is started for them."""
    from benchmarks import applications
    from benchmarks.timing import Stats

    seen = []

    def fake_measure(contenders, **kw):
        seen.extend(c.name for c in contenders)
        return {c.name: Stats.of([0.5 if c.name.startswith("keras") else 0.25]) for c in contenders}

    monkeypatch.setattr(applications, "measure", fake_measure)
    monkeypatch.setattr(applications, "torchvision_missing", lambda: "torchvision is not installed")
    (record,) = applications.run(100, 1, None, log=lambda m: None)
    assert record["images"] == 96  # whole batches of 32
    assert seen == ["jaxlayers (from_keras, plain loop)", "keras fit (jax, spe=1)", "keras fit (jax, spe=50)"]
    results = record["results"]
    assert results["keras fit (jax, spe=50)"]["jaxlayers_speedup"] == pytest.approx(2.0)
    assert results["jaxlayers (from_keras, plain loop)"]["images_per_second"] == pytest.approx(96 / 0.25)
    for name in ("torch eager (channels_last)", "torch.compile (channels_last)"):
        assert results[name] == {"error": "skipped: torchvision is not installed"}


def test_full_job_trains_on_the_idx_files(smoke):
    result, _, _ = smoke
    (record,) = result["fulljob"]
    assert record["epochs"] == 1 and record["images"] == 512
    assert record["data"].startswith("mnist") and record["loop"] == "python"
    assert record["train_seconds"] > 0 and record["compile_seconds"] > 0
    assert 0 < record["val_loss_final"] < 1  # binary cross-entropy of a sigmoid, trained once


def test_profile_names_ops_of_both_libraries(smoke):
    result, _, _ = smoke
    (record,) = result["profile"]
    for library in ("jaxlayers",) + (("torch",) if HAS_TORCH else ()):
        ops = record[library]["ops"]
        assert ops and all(o["ms_per_step"] > 0 for o in ops), library
        assert sum(o["share"] for o in ops) <= 1 + 1e-9


def test_tables_print_and_markdown_is_written(smoke):
    _, markdown, stdout = smoke
    for text in (stdout, markdown):
        assert "Layers" in text and "Training" in text and "full job" in text and "op by op" in text
        assert "depthwise conv2d 3x3 s2 same" in text
        assert "jl speedup" in text and "keras fit (jax, spe=50)" in text
    assert markdown.count("|---|") >= 5  # one Markdown table per part


RNN_CONTENDERS = {"jaxlayers (experiments.rnn)", "keras fit (jax, spe=1)", "torch eager (nn.LSTM)"}


def test_rnn_comparison_runs_every_contender(tmp_path):
    """`--only rnn --smoke` on a tiny IDX MNIST: every contender trains in its worker, the table prints."""
    (tmp_path / "mnist").mkdir()
    mnist = write_idx(tmp_path / "mnist", 256, 128)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--only", "rnn", "--smoke", "--mnist-dir",
                           str(mnist), "--json", str(tmp_path / "rnn.json")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = json.loads((tmp_path / "rnn.json").read_text())["rnn"]
    assert {r["name"] for r in records} == _expected(RNN_CONTENDERS)
    for r in records:
        assert "error" not in r, r
        assert r["images_per_second"] > 0 and 0 <= r["val_accuracy"] <= 1 and len(r["epoch_seconds"]) == 2
        assert r["data"] == "mnist"
    assert "The RNN guide's LSTM classifier" in proc.stdout and "jaxlayers speedup" in proc.stdout


def test_workers_get_openmps_defaults(monkeypatch):
    """torch beside JAX sleeps its threads (OMP_WAIT_POLICY=PASSIVE, set by benchmarks.run); a worker
    process, torch alone, must not inherit that (4x slower LSTM training here), and takes its own settings."""
    from benchmarks.timing import worker_env

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv("JAXLAYERS_TEST_KEEP", "1")
    env = worker_env()
    assert "OMP_WAIT_POLICY" not in env and env["JAXLAYERS_TEST_KEEP"] == "1"
    env = worker_env({"OMP_WAIT_POLICY": "ACTIVE", "KERAS_BACKEND": "torch", "JAXLAYERS_TEST_KEEP": None})
    assert env["OMP_WAIT_POLICY"] == "ACTIVE" and env["KERAS_BACKEND"] == "torch" and "JAXLAYERS_TEST_KEEP" not in env
