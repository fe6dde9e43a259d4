"""Test set-up: Keras 3 on the JAX backend is the oracle (set before anything imports it)."""
import os
import signal
import subprocess
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator, fresh for each test."""
    return np.random.default_rng(0)


@pytest.fixture
def kill_then_resume(tmp_path):
    """`check(args)`: run the CLI `args` (no --out), SIGKILL it after its first checkpoint, resume it with
    --resume, and assert it ends bit-identical to an uninterrupted run of the same three epochs."""
    from experiments.checkpoint import Checkpoints, saved_epochs

    repo, env = Path(__file__).resolve().parents[1], dict(os.environ, CI="true")

    def check(args: list[str]) -> None:
        killed = subprocess.Popen(args + ["--out", str(tmp_path / "k")], cwd=repo, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        while not saved_epochs(tmp_path / "k" / "checkpoints") and time.time() < deadline:
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        done = saved_epochs(tmp_path / "k" / "checkpoints")
        assert done and done[-1] < 3
        for out, extra in (("k", ["--resume"]), ("straight", [])):
            subprocess.run(args + ["--out", str(tmp_path / out)] + extra, cwd=repo, env=env, check=True,
                           capture_output=True, timeout=300)
        finals = []
        for out in ("k", "straight"):
            with Checkpoints(tmp_path / out / "checkpoints", read_only=True) as checkpoints:
                assert checkpoints.epochs()[-1] == 3
                finals.append(checkpoints.restore(3)["params"])
        jax.tree.map(np.testing.assert_array_equal, *finals)

    return check
