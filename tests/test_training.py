"""Training semantics: loss and optimizers vs Keras, partial batches, resume, loop/scan, sharding, devices."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import autoencoder
from experiments.checkpoint import Checkpoints, saved_epochs
from experiments.config import CPU_FUSIONS, TrainConfig
from experiments.data import Dataset
from experiments.keras_compat import (
    binary_crossentropy, keras_adadelta, keras_adam, make_optimizer, per_example_loss,
)
from experiments.loop import compiler_options, make_mesh
from experiments.models import build_model
from experiments.step import epoch_key, init_state, make_train_step
from experiments.train import check_resume, train

REPO = Path(__file__).resolve().parents[1]


def tiny_dataset(n_train: int = 100, n_test: int = 40, seed: int = 0) -> Dataset:
    """Random blobs in [0, 1] shaped like MNIST (100 train = 3 full batches of 32 + 4)."""
    g = np.random.default_rng(seed)
    x = g.uniform(size=(n_train + n_test, 28, 28, 1)).astype(np.float32) ** 4
    y = g.integers(0, 10, n_train + n_test).astype(np.int32)
    return Dataset(x[:n_train], x[n_train:], y[:n_train], y[n_train:], "random", "test")


# ------------------------------------------------------------------ loss


def test_binary_crossentropy_matches_keras(rng):
    import keras

    y_true = rng.uniform(size=(4, 28, 28, 1)).astype(np.float32)
    y_true[0, :3] = 0.0
    y_true[1, :3] = 1.0
    y_pred = rng.uniform(size=(4, 28, 28, 1)).astype(np.float32)
    y_pred[0, 0, :5] = 0.0  # clipped to 1e-7
    y_pred[1, 0, :5] = 1.0  # clipped to 1 - 1e-7
    expected = np.asarray(keras.losses.binary_crossentropy(y_true, y_pred))
    np.testing.assert_allclose(np.asarray(binary_crossentropy(y_true, y_pred)), expected, rtol=1e-6, atol=1e-7)
    scalar = float(keras.losses.BinaryCrossentropy()(y_true, y_pred))  # Keras fit's loss
    np.testing.assert_allclose(float(jnp.mean(per_example_loss(y_true, y_pred))), scalar, rtol=1e-6)


# ------------------------------------------------------------- optimizers


def _keras_steps(optimizer, params, grads_seq):
    import keras

    variables = [keras.Variable(p) for p in params]
    for grads in grads_seq:
        optimizer.apply_gradients(zip([np.asarray(g) for g in grads], variables))
    return [np.asarray(v) for v in variables]


def _optax_steps(optimizer, params, grads_seq):
    import optax

    params = [jnp.asarray(p) for p in params]
    state = optimizer.init(params)
    for grads in grads_seq:
        updates, state = optimizer.update([jnp.asarray(g) for g in grads], state, params)
        params = optax.apply_updates(params, updates)
    return [np.asarray(p) for p in params]


@pytest.mark.parametrize("name", ["adam", "adadelta"])
def test_optimizer_matches_keras(name, rng):
    import keras

    params = [rng.standard_normal((3, 3, 1, 16)).astype(np.float32), rng.standard_normal(16).astype(np.float32)]
    # Mixed magnitudes: Keras Adam's epsilon placement matters for the small ones.
    grads_seq = [[(rng.standard_normal(p.shape) * s).astype(np.float32) for p, s in zip(params, (1.0, 1e-3))]
                 for _ in range(3)]
    for lr in (1e-3, 0.5):
        keras_opt = keras.optimizers.Adam(learning_rate=lr) if name == "adam" else keras.optimizers.Adadelta(learning_rate=lr)
        expected = _keras_steps(keras_opt, params, grads_seq)
        got = _optax_steps(make_optimizer(name, lr), params, grads_seq)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)
        # One step, tight: the step itself, not accumulated rounding.
        one = _optax_steps(make_optimizer(name, lr), params, grads_seq[:1])
        for g, e in zip(one, _keras_steps(type(keras_opt)(learning_rate=lr), params, grads_seq[:1])):
            np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)


def test_keras_defaults_used():
    import keras

    import inspect

    adadelta = keras.optimizers.Adadelta()
    assert (float(adadelta.learning_rate), adadelta.rho, adadelta.epsilon) == pytest.approx((1e-3, 0.95, 1e-7))
    mine = inspect.signature(keras_adadelta).parameters
    assert (mine["learning_rate"].default, mine["rho"].default, mine["epsilon"].default) == (1e-3, 0.95, 1e-7)
    adam = keras.optimizers.Adam()
    assert (float(adam.learning_rate), adam.beta_1, adam.beta_2, adam.epsilon) == pytest.approx((1e-3, 0.9, 0.999, 1e-7))
    mine = inspect.signature(keras_adam).parameters
    assert tuple(mine[k].default for k in ("learning_rate", "beta_1", "beta_2", "epsilon")) == (1e-3, 0.9, 0.999, 1e-7)


# ------------------------------------------------------------ train step


def test_padded_rows_do_not_count(rng):
    """Rows with weight 0 change neither the loss (mean over real rows) nor the update."""
    model = build_model("upsample")
    optimizer = make_optimizer("adam")
    state = jax.jit(lambda k: init_state(model, optimizer, k))(jax.random.key(0, impl="rbg"))
    x = rng.uniform(size=(5, 28, 28, 1)).astype(np.float32)
    weights = np.array([1] * 5 + [0] * 3, np.float32)
    step = make_train_step(model, optimizer, donate=False)
    outs = [step(state, np.concatenate([x, rng.uniform(size=(3, 28, 28, 1)).astype(np.float32) * s]), weights)
            for s in (0.0, 1.0)]
    expected = np.mean(np.asarray(per_example_loss(x, jax.jit(model.apply)({"params": state.params}, x))))
    for new_state, metrics in outs:
        np.testing.assert_allclose(float(metrics["loss"]), expected, rtol=1e-6)
        assert float(metrics["count"]) == 5
    jax.tree.map(np.testing.assert_array_equal, outs[0][0].params, outs[1][0].params)
    assert int(outs[0][0].step) == 1


def test_epoch_key_depends_only_on_seed_and_epoch():
    perm = lambda s, e: np.asarray(jax.random.permutation(epoch_key(s, e), 50))  # noqa: E731
    np.testing.assert_array_equal(perm(1, 3), perm(1, 3))
    assert not np.array_equal(perm(1, 3), perm(1, 4))
    assert not np.array_equal(perm(1, 3), perm(2, 3))


# --------------------------------------------------------- full training


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 2-epoch run on 100 examples, batches of 32 (last one partial)."""
    config = TrainConfig(variant="upsample", epochs=2, batch_size=32, seed=3,
                         out=str(tmp_path_factory.mktemp("ref")))
    return config, train(config, tiny_dataset(), progress=False, write_outputs=False)


def test_partial_batch_kept(reference):
    _, result = reference
    assert result.metrics["dataset"]["train_examples"] == 100
    losses = [r["train_loss"] for r in result.metrics["epochs"]]
    assert len(losses) == 2 and losses[1] < losses[0]


def test_resume_reproduces_uninterrupted_run(reference, tmp_path):
    config, uninterrupted = reference
    out = tmp_path / "run"
    first = train(TrainConfig(**{**vars(config), "out": str(out), "stop_after_epochs": 1}), tiny_dataset(),
                  progress=False, write_outputs=False)
    assert not first.completed
    assert saved_epochs(out / "checkpoints") == [1]
    assert sorted(p.name for p in (out / "checkpoints").iterdir() if not p.name.startswith("_")) == ["1"]
    resumed = train(TrainConfig(**{**vars(config), "out": str(out), "resume": True}), tiny_dataset(),
                    progress=False, write_outputs=False)
    assert resumed.completed
    jax.tree.map(np.testing.assert_array_equal, resumed.params, uninterrupted.params)
    for a, b in zip(resumed.metrics["epochs"], uninterrupted.metrics["epochs"]):
        assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"]
    # The restored state sits on the run's devices with the run's (replicated) sharding.
    assert all(leaf.sharding.is_fully_replicated for leaf in jax.tree.leaves(resumed.state))


def test_resume_refuses_another_model(reference, tmp_path):
    config, _ = reference
    out = tmp_path / "run"
    with Checkpoints(out / "checkpoints") as checkpoints:
        checkpoints.save(1, {"x": np.zeros(2)}, {"epoch": 1, "history": [], "config": {"variant": "transpose"}})
    with pytest.raises(ValueError, match="checkpoint has variant='transpose', this run variant='upsample'"):
        train(TrainConfig(**{**vars(config), "out": str(out), "resume": True}), tiny_dataset(), progress=False)


def test_cli_reports_a_refused_checkpoint_in_one_line(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    with Checkpoints(out / "checkpoints") as checkpoints:
        checkpoints.save(1, {"x": np.zeros(2)}, {"epoch": 1, "history": [], "config": {"variant": "transpose"}})
    monkeypatch.setattr(autoencoder, "train", lambda config: train(config, tiny_dataset(), progress=False))
    code = autoencoder.main(["--variant", "upsample", "--resume", "--out", str(out), "--epochs", "1",
                             "--compilation-cache", "off"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "python -m experiments.autoencoder: error: --resume: the checkpoint has variant='transpose', "
        "this run variant='upsample'; use another --out or the checkpoint's settings."]


def test_resume_warns_when_the_api_differs(reference, tmp_path):
    config, _ = reference
    saved = {**vars(config), "api": "nnx"}
    with pytest.warns(UserWarning, match="checkpoint has api='nnx', this run api='linen'"):
        check_resume(config, saved)


def test_fresh_run_replaces_old_checkpoints(reference, tmp_path):
    """Without resume, a used run directory starts over (orbax never overwrites a step)."""
    config, uninterrupted = reference
    out = tmp_path / "run"
    with Checkpoints(out / "checkpoints", keep=5) as checkpoints:
        for epoch in (1, 2, 3):
            checkpoints.save(epoch, {"x": np.zeros(2)}, {"epoch": epoch})
    again = train(TrainConfig(**{**vars(config), "out": str(out)}), tiny_dataset(), progress=False,
                  write_outputs=False)
    assert saved_epochs(out / "checkpoints") == [1, 2]
    jax.tree.map(np.testing.assert_array_equal, again.params, uninterrupted.params)


def test_scan_loop_matches_python_loop(reference):
    config, python_loop = reference
    scanned = train(TrainConfig(**{**vars(config), "loop": "scan", "out": config.out + "-scan"}), tiny_dataset(),
                    progress=False, write_outputs=False)
    for a, b in zip(scanned.metrics["epochs"], python_loop.metrics["epochs"]):
        np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-5)
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), scanned.params, python_loop.params)


def test_cpu_fusion_options_change_speed_not_results(reference):
    """`cpu_fusions` only picks XLA:CPU's code generators: same losses and parameters to float rounding."""
    config, dots = reference
    assert dots.metrics["config"]["cpu_fusions"] == "dots"
    assert dots.metrics["compiler_options"] == (CPU_FUSIONS["dots"] if jax.default_backend() == "cpu" else {})
    default = train(TrainConfig(**{**vars(config), "cpu_fusions": "default", "out": config.out + "-default"}),
                    tiny_dataset(), progress=False, write_outputs=False)
    assert default.metrics["compiler_options"] == {}
    for a, b in zip(default.metrics["epochs"], dots.metrics["epochs"]):
        np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-5)
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), default.params, dots.params)
    with pytest.raises(ValueError, match="cpu_fusions"):
        TrainConfig(cpu_fusions="fast")


# ------------------------------------------------------- mixed precision


def _conv_dtypes(jaxpr) -> list[set]:
    """The operand dtypes of each convolution and dot in a jaxpr, sub-jaxprs included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("conv_general_dilated", "dot_general"):
            found.append({v.aval.dtype for v in eqn.invars})
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                found += _conv_dtypes(inner)
    return found


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_bfloat16_computes_in_bfloat16_and_keeps_float32_state(api):
    """--dtype bfloat16: every conv and dot (forward and backward) takes bfloat16 operands (a
    float32 cotangent may meet one: the shift-sum accumulates in float32); parameters,
    optimizer state and loss float32. Traced only (shapes), nothing computed."""
    model = build_model("upsample", api=api, dtype="bfloat16")
    optimizer = make_optimizer("adam")
    state = jax.eval_shape(lambda: init_state(model, optimizer, jax.random.key(0)))
    step = make_train_step(model, optimizer, jit=False)
    x = jnp.asarray(tiny_dataset().x_train[:8])
    jaxpr = jax.make_jaxpr(step)(state, x).jaxpr
    operands = _conv_dtypes(jaxpr)
    assert operands and all(jnp.dtype(jnp.bfloat16) in dtypes for dtypes in operands), operands
    shapes = jax.eval_shape(step, state, x)
    assert {leaf.dtype for leaf in jax.tree.leaves(shapes)} == {jnp.dtype(jnp.float32), jnp.dtype(jnp.int32)}


def test_bfloat16_run_stays_close_to_float32(reference):
    config, f32 = reference
    bf16 = train(TrainConfig(**{**vars(config), "dtype": "bfloat16", "out": config.out + "-bf16"}),
                 tiny_dataset(), progress=False, write_outputs=False)
    assert bf16.metrics["config"]["dtype"] == "bfloat16"
    for a, b in zip(bf16.metrics["epochs"], f32.metrics["epochs"]):
        assert a["val_loss"] != b["val_loss"]  # really another computation ...
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=0.02)  # ... to bfloat16's precision
    with pytest.raises(ValueError, match="dtype must be one of"):
        TrainConfig(dtype="float16")


MNIST = Path(os.environ.get("MNIST_DIR") or REPO.parent / "shared" / "data" / "mnist")


@pytest.mark.slow
@pytest.mark.skipif(not (MNIST / "train-images-idx3-ubyte.gz").is_file(), reason="real MNIST not found ($MNIST_DIR)")
@pytest.mark.parametrize("variant", ["upsample", "transpose"])
def test_bfloat16_reaches_float32_validation_loss_on_mnist(variant, tmp_path):
    """5 epochs of adam on real MNIST: bfloat16 computation within 3% of float32's validation loss."""
    losses = {}
    for dtype in ("float32", "bfloat16"):
        config = TrainConfig(variant=variant, epochs=5, dtype=dtype, data_dir=str(MNIST), data="mnist",
                             out=str(tmp_path / dtype))
        losses[dtype] = train(config, progress=False, write_outputs=False).metrics["epochs"][-1]["val_loss"]
    assert abs(losses["bfloat16"] - losses["float32"]) <= 0.03 * losses["float32"], losses


def test_unknown_compiler_option_falls_back_with_a_warning(monkeypatch):
    monkeypatch.setitem(CPU_FUSIONS, "bogus", {"xla_cpu_no_such_option_here": "1"})
    mesh = make_mesh(1)
    if mesh.devices.flat[0].platform != "cpu":
        pytest.skip("the options are CPU-only")
    with pytest.warns(UserWarning, match="xla_cpu_no_such_option_here"):
        assert compiler_options(mesh, "bogus") == {}
    assert compiler_options(mesh, "default") == {}


def test_checkpoint_roundtrip_keeps_newest_and_restores_into_target_sharding(tmp_path):
    mesh = make_mesh(1)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    state = {"w": jax.device_put(np.arange(6, dtype=np.float32).reshape(2, 3), replicated),
             "n": jax.device_put(np.int32(4), replicated)}
    with Checkpoints(tmp_path, keep=2) as checkpoints:
        for epoch in (1, 2, 3):
            checkpoints.save(epoch, jax.tree.map(lambda a: a + epoch, state), {"epoch": epoch, "history": [epoch]})
        checkpoints.wait()
        assert checkpoints.epochs() == [2, 3]
        target = jax.tree.map(jnp.zeros_like, state)
        restored = checkpoints.restore(3, target)
        assert checkpoints.meta(3) == {"epoch": 3, "history": [3]}
    np.testing.assert_array_equal(restored["w"], np.arange(6).reshape(2, 3) + 3)
    assert int(restored["n"]) == 7 and restored["w"].dtype == np.float32
    assert restored["w"].sharding == replicated and isinstance(restored["w"], jax.Array)
    assert saved_epochs(tmp_path) == [2, 3] and saved_epochs(tmp_path / "missing") == []
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]
    with pytest.raises(ValueError, match="keep must be a positive int, got 0"):
        Checkpoints(tmp_path, keep=0)


def test_distributed_only_with_the_flag(monkeypatch, tmp_path):
    """`--distributed` calls jax.distributed.initialize() (which detects the cluster); nothing else does."""
    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **kw: calls.append((a, kw)))
    monkeypatch.setattr(autoencoder, "train", lambda config: type("R", (), {"metrics": {}})())
    argv = ["--epochs", "1", "--out", str(tmp_path), "--compilation-cache", "off"]
    monkeypatch.setenv("SLURM_NTASKS", "2")  # a cluster in sight is not enough
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    assert autoencoder.main(argv) == 0 and calls == []
    assert autoencoder.main(argv + ["--distributed"]) == 0 and calls == [((), {})]


# --------------------------------------------------------------- sharding

SHARDING_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
    from test_training import tiny_dataset
    from experiments.config import TrainConfig
    from experiments.train import check_resume, train
    assert jax.device_count() == 4, jax.devices()
    seen = []
    def hook(sharding):
        seen.append({"spec": list(sharding.spec), "devices": len(sharding.device_set),
                     "shard": list(sharding.shard_shape((32, 28, 28, 1))),
                     "blocks": sorted(str(v) for v in sharding.devices_indices_map((32, 28, 28, 1)).values())})
    out = {}
    for n in (4, 1):
        cfg = TrainConfig(epochs=2, batch_size=32, seed=1, devices=n, out=sys.argv[3] + f"/d{n}")
        r = train(cfg, tiny_dataset(), progress=False, write_outputs=False, sharding_hook=hook if n == 4 else None)
        out[n] = {"epochs": r.metrics["epochs"], "count": r.metrics["devices"]["count"],
                  "params": [np.asarray(p).tolist() for p in jax.tree.leaves(r.params)]}
    try:
        train(TrainConfig(epochs=1, batch_size=30, devices=4, out=sys.argv[3] + "/bad"), tiny_dataset(), progress=False)
        out["error"] = None
    except ValueError as err:
        out["error"] = str(err)
    print("RESULT" + json.dumps({"seen": seen, "runs": out}))
    """
)


def test_batches_sharded_over_four_devices_match_one_device(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu", CI="true")
    proc = subprocess.run([sys.executable, "-c", SHARDING_SCRIPT, str(REPO), str(Path(__file__).parent), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    # The batch inside the compiled step: split over the `data` axis of 4 devices, 8 rows each.
    assert result["seen"], "sharding hook never ran"
    for seen in result["seen"]:
        assert seen["spec"] == ["data"] and seen["devices"] == 4 and seen["shard"] == [8, 28, 28, 1]
        assert len(set(seen["blocks"])) == 4  # four different row blocks
    four, one = result["runs"]["4"], result["runs"]["1"]
    assert (four["count"], one["count"]) == (4, 1)
    for a, b in zip(four["epochs"], one["epochs"]):
        np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-5, atol=1e-6)
    for a, b in zip(four["params"], one["params"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-5)
    assert "divisible" in result["runs"]["error"]


MANY_STEPS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    sys.path.insert(0, sys.argv[1])
    from experiments.config import TrainConfig
    from experiments.data import Dataset
    from experiments.train import check_resume, train
    n_images, batch, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    x = np.random.default_rng(0).uniform(size=(n_images + batch, 28, 28, 1)).astype(np.float32)
    labels = np.zeros(n_images + batch, np.int32)
    data = Dataset(x[:n_images], x[n_images:], labels[:n_images], labels[n_images:], "random", "test")
    r = train(TrainConfig(epochs=1, batch_size=batch, devices=jax.device_count(), out=out), data,
              progress=False, write_outputs=False)
    print("RESULT" + json.dumps({"count": r.metrics["devices"]["count"], "loop": r.metrics["loop"],
                                 **r.metrics["epochs"][0]}))
    """
)


def train_on_host_devices(tmp_path: Path, devices: int, n_images: int, batch: int) -> dict:
    """One epoch of `train` on all of `devices` forced host devices, in a subprocess: the epoch's record.

    The collectives' abort timeout is lowered from 40 s to 20 s, so a hang fails sooner.
    """
    flags = (f"--xla_force_host_platform_device_count={devices} "
             "--xla_cpu_collective_call_terminate_timeout_seconds=20")
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu", CI="true")
    proc = subprocess.run([sys.executable, "-c", MANY_STEPS_SCRIPT, str(REPO), str(n_images), str(batch),
                           str(tmp_path / f"d{devices}")], capture_output=True, text=True, env=env, timeout=900,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.split("RESULT", 1)[1])


def test_many_steps_on_two_devices_do_not_hang(tmp_path):
    """250 steps queued without a wait aborted the process (XLA:CPU's all-reduce rendezvous timed
    out, 4 times in 4 tries); the loop now waits for the devices every DISPATCH_WINDOW steps."""
    run = train_on_host_devices(tmp_path, devices=2, n_images=2000, batch=8)
    assert (run["count"], run["loop"]) == (2, "python")
    assert 0 < run["train_loss"] < 1 and 0 < run["val_loss"] < 1
    # and its checkpoint, written from 2 devices, reads back in this 1-device process
    with Checkpoints(tmp_path / "d2" / "checkpoints", read_only=True) as checkpoints:
        state = checkpoints.restore(checkpoints.epochs()[-1])
    assert jax.device_count() == 1 and int(state["step"]) == 2000 // 8
    assert {d for leaf in jax.tree.leaves(state) for d in leaf.devices()} == {jax.devices()[0]}


@pytest.mark.slow
def test_tutorial_size_on_two_and_four_devices(tmp_path):
    """Batch 256 on 60,000 images (235 steps) on 2 and on 4 host devices: the same training.

    The losses agree to the rounding of 235 all-reduced steps (5e-5 seen), far below what
    an epoch moves them (about 3e-3 on these random images)."""
    two = train_on_host_devices(tmp_path, devices=2, n_images=60_000, batch=256)
    four = train_on_host_devices(tmp_path, devices=4, n_images=60_000, batch=256)
    assert (two["count"], four["count"]) == (2, 4)
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(four[key], two[key], atol=2e-4)
    assert two["val_loss"] < np.log(2) - 2e-3  # it trained: below the loss of predicting 0.5


# ------------------------------------------------------ kill and resume


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(kill_then_resume):
    """A real kill (SIGKILL) after the first checkpoint; --resume ends where a straight run does."""
    kill_then_resume([sys.executable, "-m", "experiments.autoencoder", "--variant", "transpose", "--epochs", "3",
                      "--limit", "512", "--batch-size", "128", "--seed", "5", "--compilation-cache", "off"])
