"""The tutorial's autoencoders (summaries vs Keras), the unpool / bed-of-nails variants, the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlayers
from experiments import autoencoder
from experiments.config import auto_cpu_devices
from experiments.loop import set_cpu_devices
from experiments.models import PARAMS, build_model

REPO = Path(__file__).resolve().parents[1]

UPSAMPLE_ROWS = [
    ("Conv2D", (None, 28, 28, 16), 160), ("MaxPooling2D", (None, 14, 14, 16), 0),
    ("Conv2D", (None, 14, 14, 8), 1160), ("MaxPooling2D", (None, 7, 7, 8), 0),
    ("Conv2D", (None, 7, 7, 4), 292), ("MaxPooling2D", (None, 4, 4, 4), 0),
    ("Conv2D", (None, 4, 4, 4), 148), ("UpSampling2D", (None, 8, 8, 4), 0),
    ("Conv2D", (None, 8, 8, 8), 296), ("UpSampling2D", (None, 16, 16, 8), 0),
    ("Conv2D", (None, 14, 14, 16), 1168), ("UpSampling2D", (None, 28, 28, 16), 0),
    ("Conv2D", (None, 28, 28, 1), 145),
]
TRANSPOSE_ROWS = [
    ("Conv2D", (None, 26, 26, 16), 160), ("MaxPooling2D", (None, 13, 13, 16), 0),
    ("Conv2D", (None, 11, 11, 8), 1160), ("MaxPooling2D", (None, 5, 5, 8), 0),
    ("Conv2D", (None, 3, 3, 4), 292), ("Conv2DTranspose", (None, 3, 3, 4), 148),
    ("UpSampling2D", (None, 6, 6, 4), 0), ("Conv2DTranspose", (None, 6, 6, 8), 296),
    ("UpSampling2D", (None, 12, 12, 8), 0), ("Conv2DTranspose", (None, 14, 14, 16), 1168),
    ("UpSampling2D", (None, 28, 28, 16), 0), ("Conv2DTranspose", (None, 28, 28, 1), 145),
]
UNPOOL_ROWS = [
    ("Conv2D", (None, 28, 28, 16), 160), ("MaxPoolingWithIndices", ((None, 14, 14, 16),) * 2, 0),
    ("Conv2D", (None, 14, 14, 8), 1160), ("MaxPoolingWithIndices", ((None, 7, 7, 8),) * 2, 0),
    ("Conv2D", (None, 7, 7, 4), 292), ("MaxPoolingWithIndices", ((None, 4, 4, 4),) * 2, 0),
    ("Conv2D", (None, 4, 4, 4), 148), ("MaxUnpooling", (None, 7, 7, 4), 0),
    ("Conv2D", (None, 7, 7, 8), 296), ("MaxUnpooling", (None, 14, 14, 8), 0),
    ("Conv2D", (None, 14, 14, 16), 1168), ("MaxUnpooling", (None, 28, 28, 16), 0),
    ("Conv2D", (None, 28, 28, 1), 145),
]


def rows(variant: str, upsampling: str = "nearest"):
    s = jaxlayers.summary(build_model(variant, upsampling), (None, 28, 28, 1))
    assert s.total_params == s.trainable_params == PARAMS == 3369
    return [(r.type, r.output_shape, r.params) for r in s.rows]


def keras_tutorial_rows(variant: str):
    """The tutorial's models built in Keras 3: (class, output shape, params) per layer."""
    import keras
    from keras import layers as K

    if variant == "upsample":
        stack = [K.Conv2D(16, 3, activation="relu", padding="same"), K.MaxPooling2D(2, padding="same"),
                 K.Conv2D(8, 3, activation="relu", padding="same"), K.MaxPooling2D(2, padding="same"),
                 K.Conv2D(4, 3, activation="relu", padding="same"), K.MaxPooling2D(2, padding="same"),
                 K.Conv2D(4, 3, activation="relu", padding="same"), K.UpSampling2D(2),
                 K.Conv2D(8, 3, activation="relu", padding="same"), K.UpSampling2D(2),
                 K.Conv2D(16, 3, activation="relu"), K.UpSampling2D(2),
                 K.Conv2D(1, 3, activation="sigmoid", padding="same")]
    else:
        stack = [K.Conv2D(16, 3, activation="relu"), K.MaxPooling2D(2), K.Conv2D(8, 3, activation="relu"),
                 K.MaxPooling2D(2), K.Conv2D(4, 3, activation="relu"),
                 K.Conv2DTranspose(4, 3, activation="relu", padding="same"), K.UpSampling2D(2),
                 K.Conv2DTranspose(8, 3, activation="relu", padding="same"), K.UpSampling2D(2),
                 K.Conv2DTranspose(16, 3, activation="relu"), K.UpSampling2D(2),
                 K.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")]
    model = keras.Sequential([keras.Input((28, 28, 1)), *stack])
    assert model.count_params() == 3369
    return [(type(layer).__name__, tuple(layer.output.shape), layer.count_params()) for layer in model.layers]


@pytest.mark.parametrize("variant,expected", [("upsample", UPSAMPLE_ROWS), ("transpose", TRANSPOSE_ROWS)])
def test_tutorial_summaries_match_keras(variant, expected):
    assert rows(variant) == expected
    assert rows(variant) == keras_tutorial_rows(variant)


def test_unpool_summary_mirrors_encoder():
    assert rows("unpool") == UNPOOL_ROWS


def test_bed_of_nails_summary_and_output():
    assert rows("upsample", "bed_of_nails") == UPSAMPLE_ROWS
    nearest, nails = build_model("upsample"), build_model("upsample", "bed_of_nails")
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 28, 28, 1)), jnp.float32)
    params = jax.jit(nearest.init)(jax.random.key(0, impl="rbg"), x)
    y_near = jax.jit(nearest.apply)(params, x)  # the same parameters fit both
    capture = lambda m, _: type(m).__name__ == "UpSampling2D"  # noqa: E731
    y_nails, inter = jax.jit(lambda p, x: nails.apply(p, x, capture_intermediates=capture, mutable=["intermediates"]))(params, x)
    assert y_nails.shape == (2, 28, 28, 1) and not np.allclose(y_near, y_nails)
    # Only the upsampling differs: bed of nails leaves 3 of the 4 cells of each 2x2 block at 0.
    up = np.asarray(inter["intermediates"]["UpSampling2D_0"]["__call__"][0])
    assert np.all(up[:, 1::2] == 0) and np.all(up[:, :, 1::2] == 0)


def test_unpool_forward_and_gradients():
    model = build_model("unpool")
    x = jnp.asarray(np.random.default_rng(1).uniform(size=(2, 28, 28, 1)), jnp.float32)
    params = jax.jit(model.init)(jax.random.key(0, impl="rbg"), x)["params"]

    @jax.jit
    def forward_and_grads(p):
        return model.apply({"params": p}, x), jax.grad(lambda q: jnp.mean(model.apply({"params": q}, x)))(p)

    y, grads = forward_and_grads(params)
    assert y.shape == (2, 28, 28, 1) and bool(jnp.all((y > 0) & (y < 1)))
    # Every kernel receives a gradient through the unpooling.
    assert all(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads))


def test_build_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        build_model("dense")
    with pytest.raises(ValueError, match="upsampling"):
        build_model("upsample", "bilinear")
    with pytest.raises(ValueError, match="only to variant 'upsample'"):
        build_model("transpose", "bed_of_nails")


def test_cli_defaults():
    config, options = autoencoder.parse_args([])
    assert (config.variant, config.epochs, config.batch_size, config.optimizer, config.lr, config.upsampling,
            config.data, config.resume) == ("upsample", 50, 256, "adam", 1e-3, "nearest", "auto", False)
    assert options.distributed is False and options.compilation_cache
    assert autoencoder.parse_args(["--optimizer", "adadelta", "--loop", "scan"])[0].loop == "scan"
    assert config.cpu_fusions == "dots" and autoencoder.parse_args(["--cpu-fusions", "default"])[0].cpu_fusions == "default"
    with pytest.raises(SystemExit):
        autoencoder.parse_args(["--variant", "unpool", "--upsampling", "bed_of_nails"])


def test_auto_cpu_devices_divide_the_batch():
    assert [auto_cpu_devices(256, cores) for cores in (1, 2, 3, 4, 16)] == [1, 2, 2, 4, 8]
    assert auto_cpu_devices(100, 8) == 5 and auto_cpu_devices(7, 2) == 1 and auto_cpu_devices(256, 0) == 1


def test_cli_cpu_devices_flag():
    assert autoencoder.parse_args([])[1].cpu_devices == "auto"
    assert autoencoder.parse_args(["--cpu-devices", "3"])[1].cpu_devices == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit):
            autoencoder.parse_args(["--cpu-devices", bad])
    # In this process JAX already runs: the count cannot change any more, and it says so.
    jax.devices()
    with pytest.warns(UserWarning, match="already initialised"):
        assert set_cpu_devices(2, 256) is None


METRICS_KEYS = {"config", "dataset", "devices", "versions", "model", "epochs", "final", "compile_seconds",
                "compiler_options", "loop", "compilation_cache"}


def run_cli(tmp_path: Path, out: str, *args: str) -> tuple[str, dict]:
    """`python -m experiments.autoencoder` from the checkout (1 epoch on 1,024 images): (stdout, metrics)."""
    shared = REPO.parent / "shared" / "data" / "mnist"  # MNIST when $MNIST_DIR or shared/ has it, else the fallback
    env = dict(os.environ, CI="true", **({} if os.environ.get("MNIST_DIR") or not shared.is_dir()
                                          else {"MNIST_DIR": str(shared)}))
    proc = subprocess.run([sys.executable, "-m", "experiments.autoencoder", "--epochs", "1", "--limit", "1024",
                           "--out", str(tmp_path / out), "--compilation-cache", str(tmp_path / "cache"), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout, json.loads((tmp_path / out / "metrics.json").read_text())


def test_cli_run_writes_outputs_and_the_next_run_compiles_nothing(tmp_path):
    printed, metrics = run_cli(tmp_path, "run")
    out = tmp_path / "run"
    assert printed.index("Total params: 3,369") < printed.index("Epoch 1/1")
    assert str(out) in printed and "Final: loss" in printed
    for name in ("metrics.json", "summary.txt", "reconstructions.png", "loss.png", "checkpoints/1"):
        assert (out / name).exists(), name
    assert (out / "reconstructions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert METRICS_KEYS <= set(metrics)
    assert metrics["config"]["variant"] == "upsample" and metrics["model"]["params"] == 3369
    assert set(metrics["dataset"]) >= {"name", "source"} and metrics["dataset"]["train_examples"] == 1024
    assert set(metrics["devices"]) >= {"kind", "count", "platform"}
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        # --cpu-devices auto: the batch sharded over one CPU device per usable core
        assert metrics["devices"]["count"] == auto_cpu_devices(256, len(os.sched_getaffinity(0)))
    assert set(metrics["versions"]) >= {"jax", "jaxlib", "flax", "optax", "jaxlayers"}
    (epoch,) = metrics["epochs"]
    assert set(epoch) >= {"epoch", "train_loss", "val_loss", "epoch_seconds", "images_per_second"}
    assert 0 < epoch["val_loss"] < 1 and epoch["images_per_second"] > 0
    assert "Total params: 3,369" in (out / "summary.txt").read_text()
    # The first run filled the persistent compilation cache; the same job again compiles nothing.
    first = metrics["compilation_cache"]
    assert first["dir"] == str(tmp_path / "cache") and first["writes"] >= 2 and first["hits"] == 0
    _, again = run_cli(tmp_path, "again")
    cache = again["compilation_cache"]
    assert cache["hits"] == cache["requests"] >= 2 and cache["writes"] == 0
    assert again["epochs"][0]["train_loss"] == epoch["train_loss"]
