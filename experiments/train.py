"""Training the autoencoders: Keras `fit` semantics on JAX, data and shuffles on the device.

- Loss: Keras `binary_crossentropy` (probabilities clipped to [1e-7, 1 - 1e-7], mean
  over pixels), averaged over the real examples of a batch.
- Optimizers: Keras-exact Adam (`keras_adam`, see there why not `optax.adam`) and
  `optax.adadelta` with Keras 3's defaults (rho=0.95, epsilon=1e-7, lr=1e-3).
- Batches: each epoch is a permutation of the training set drawn on the device from
  `fold_in(key(seed), epoch)`, so a resumed run sees the same shuffles. Like Keras
  `fit`, the last partial batch is kept: the permutation is padded to whole batches
  and padded rows get weight 0, so every step has one shape (one compiled program)
  and its loss is exactly the mean over its real examples.
- Devices: a `Mesh` with one `data` axis over the devices in use; the training
  and test images are replicated on every device, each step gathers its batch
  with sharding `P('data')` (each device gathers and processes its slice) and the
  parameters and optimizer state stay replicated (XLA all-reduces the gradients).
- The epoch runs either as a Python loop over one jitted step (`loop="python"`)
  or as one jitted `lax.scan` over the steps (`loop="scan"`); the train state is
  donated in both. The host waits for the device only at progress updates
  (interactive bar) or once per epoch (plain log lines).
- A checkpoint is written atomically after every epoch; `resume=True` continues
  from the newest one and ends with the same parameters as an uninterrupted run.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from experiments import checkpoint as ckpt
from experiments.models import APIS, INPUT_SHAPE, UPSAMPLING, VARIANTS, build_model

EPSILON = 1e-7  # keras.config.epsilon()
OPTIMIZERS = ("adam", "adadelta")
LOOPS = ("auto", "python", "scan")
# loop="auto" per backend, from benchmarks/RESULTS.md: on the 2-core CPU a Python loop
# over a jitted step beats one lax.scan per epoch for these small conv nets; elsewhere
# a step is a few small kernels, bound by host dispatch, so the whole epoch is one program.
AUTO_LOOP = {"cpu": "python", "gpu": "scan"}  # gpu: H200, scan 1.5-1.7x the python loop
AUTO_LOOP_ELSEWHERE = "scan"
DEFAULT_LOOP = "auto"
DEFAULT_LEARNING_RATE = 1e-3  # Keras default for both Adam and Adadelta
DATA_AXIS = "data"
# XLA:CPU (jaxlib 0.10) hands dots, convolutions, reductions and elementwise fusions
# to its YNNPACK library by default. For these small-channel conv nets, keeping only
# the dots there (convolutions and fusions from XLA's own emitters) measured 8-12%
# more training images/s on the 2-core CPU (benchmarks/RESULTS.md). It is set per
# compiled program (`jax.jit(compiler_options=...)`): nothing else in the process,
# Keras included, is affected. "default" leaves XLA's choice.
CPU_FUSIONS = {
    "dots": {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
    "default": {},
}


# ----------------------------------------------------------------- config


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run (the CLI's flags)."""

    variant: str = "upsample"
    epochs: int = 50
    batch_size: int = 256
    seed: int = 0
    optimizer: str = "adam"
    learning_rate: float | None = None  # None: 1e-3, the Keras default
    devices: int | None = None  # None: all devices
    loop: str = DEFAULT_LOOP
    limit: int | None = None
    out: str | None = None  # None: runs/<variant>-<date-time>
    resume: bool = False
    data_dir: str | None = None
    data: str = "auto"  # "mnist": no scikit-learn fallback
    upsampling: str = "nearest"
    api: str = "linen"  # "nnx": the same model built from jaxlayers.nnx
    cpu_fusions: str = "dots"  # see CPU_FUSIONS; ignored on GPU/TPU
    stop_after_epochs: int | None = None  # stop this invocation early, as if killed (testing)
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        checks = [
            (self.variant in VARIANTS, f"variant must be one of {VARIANTS}, got {self.variant!r}"),
            (self.upsampling in UPSAMPLING, f"upsampling must be one of {UPSAMPLING}, got {self.upsampling!r}"),
            (self.api in APIS, f"api must be one of {APIS}, got {self.api!r}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"),
            (self.loop in LOOPS, f"loop must be one of {LOOPS}, got {self.loop!r}"),
            (self.cpu_fusions in CPU_FUSIONS, f"cpu_fusions must be one of {tuple(CPU_FUSIONS)}, got {self.cpu_fusions!r}"),
            (self.data in ("auto", "mnist"), f"data must be 'auto' or 'mnist', got {self.data!r}"),
            (isinstance(self.epochs, int) and self.epochs >= 0, f"epochs must be an int >= 0, got {self.epochs!r}"),
            (isinstance(self.batch_size, int) and self.batch_size >= 1, f"batch_size must be a positive int, got {self.batch_size!r}"),
            (self.devices is None or self.devices >= 1, f"devices must be positive or None, got {self.devices!r}"),
            (self.limit is None or self.limit >= 1, f"limit must be positive or None, got {self.limit!r}"),
            (self.upsampling == "nearest" or self.variant == "upsample",
             f"upsampling={self.upsampling!r} applies only to variant 'upsample', not {self.variant!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def lr(self) -> float:
        return DEFAULT_LEARNING_RATE if self.learning_rate is None else float(self.learning_rate)

    @property
    def tag(self) -> str:
        return self.variant if self.upsampling == "nearest" else f"{self.variant}-{self.upsampling}"


# ------------------------------------------------------------- loss, optim


def binary_crossentropy(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """`keras.losses.binary_crossentropy` on probabilities: clipped, mean over the last axis."""
    y_pred = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
    bce = y_true * jnp.log(y_pred) + (1.0 - y_true) * jnp.log(1.0 - y_pred)
    return -jnp.mean(bce, axis=-1)


def per_example_loss(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """(batch,) binary cross-entropy averaged over every pixel of each example."""
    loss = binary_crossentropy(y_true, y_pred)
    return jnp.mean(loss.reshape(loss.shape[0], -1), axis=1)


class KerasAdamState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any


def scale_by_keras_adam(b1: float = 0.9, b2: float = 0.999, eps: float = EPSILON) -> optax.GradientTransformation:
    """Keras 3 Adam's direction: m * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps).

    `optax.adam` divides by sqrt(v_hat) + eps instead, i.e. Keras's epsilon is
    effectively eps * sqrt(1 - b2^t) there (3e-9 at step 1 for eps=1e-7), which moves
    the first steps by up to ~1e-6 for small gradients; this matches Keras exactly.
    """

    def init(params: Any) -> KerasAdamState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return KerasAdamState(jnp.zeros([], jnp.int32), zeros, jax.tree.map(jnp.zeros_like, params))

    def update(updates: Any, state: KerasAdamState, params: Any = None) -> tuple[Any, KerasAdamState]:
        del params
        count = state.count + 1
        t = count.astype(jnp.float32)
        mu = jax.tree.map(lambda g, m: m + (g - m) * (1 - b1), updates, state.mu)
        nu = jax.tree.map(lambda g, v: v + (jnp.square(g) - v) * (1 - b2), updates, state.nu)
        alpha = jnp.sqrt(1 - jnp.power(jnp.float32(b2), t)) / (1 - jnp.power(jnp.float32(b1), t))
        updates = jax.tree.map(lambda m, v: m * alpha / (jnp.sqrt(v) + eps), mu, nu)
        return updates, KerasAdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


def keras_adam(learning_rate: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
               epsilon: float = EPSILON) -> optax.GradientTransformation:
    """`keras.optimizers.Adam` (Keras 3 defaults) as an optax transformation."""
    return optax.chain(scale_by_keras_adam(beta_1, beta_2, epsilon), optax.scale_by_learning_rate(learning_rate))


def keras_adadelta(learning_rate: float = 1e-3, rho: float = 0.95, epsilon: float = EPSILON) -> optax.GradientTransformation:
    """`keras.optimizers.Adadelta` (keras/src/optimizers/adadelta.py defaults) via optax.

    Same update: E[g2] = rho E[g2] + (1-rho) g^2; d = sqrt(E[dx2] + eps) / sqrt(E[g2] + eps) g;
    E[dx2] = rho E[dx2] + (1-rho) d^2; w -= lr d (optax's defaults rho=0.9, eps=1e-6 differ).
    """
    return optax.adadelta(learning_rate=learning_rate, rho=rho, eps=epsilon)


def make_optimizer(name: str, learning_rate: float = DEFAULT_LEARNING_RATE) -> optax.GradientTransformation:
    if name == "adam":
        return keras_adam(learning_rate)
    if name == "adadelta":
        return keras_adadelta(learning_rate)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


# ------------------------------------------------------------------- steps


class TrainState(NamedTuple):
    step: jax.Array
    params: Any
    opt_state: Any


def init_state(model: nn.Module, optimizer: optax.GradientTransformation, key: jax.Array,
               input_shape: tuple[int, ...] = (1, 28, 28, 1)) -> TrainState:
    params = model.init(key, jnp.zeros(input_shape, jnp.float32))["params"]
    return TrainState(jnp.zeros([], jnp.int32), params, optimizer.init(params))


def make_train_step(model: nn.Module, optimizer: optax.GradientTransformation, *, jit: bool = True,
                    donate: bool = True) -> Callable[..., tuple[TrainState, dict]]:
    """`step(state, x, weights=None) -> (state, {"loss", "loss_sum", "count"})`.

    x: (batch, 28, 28, 1) images (the targets too); weights: (batch,) 0/1 mask of real
    examples (None: all real). The loss is the mean binary cross-entropy over the
    real examples. Jitted with the state donated unless `jit=False`.
    """

    def step(state: TrainState, x: jax.Array, weights: jax.Array | None = None) -> tuple[TrainState, dict]:
        w = jnp.ones(x.shape[:1], jnp.float32) if weights is None else weights.astype(jnp.float32)
        count = jnp.sum(w)

        def loss_fn(params: Any) -> tuple[jax.Array, jax.Array]:
            per = per_example_loss(x, model.apply({"params": params}, x))
            loss_sum = jnp.sum(per * w)
            return loss_sum / count, loss_sum

        (loss, loss_sum), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, opt_state), {"loss": loss, "loss_sum": loss_sum, "count": count}

    if not jit:
        return step
    return jax.jit(step, donate_argnums=(0,) if donate else ())


def make_eval_step(model: nn.Module) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """`eval(params, x, weights) -> sum of per-example losses over real examples` (not jitted)."""

    def evaluate(params: Any, x: jax.Array, weights: jax.Array) -> jax.Array:
        return jnp.sum(per_example_loss(x, model.apply({"params": params}, x)) * weights)

    return evaluate


def epoch_key(seed: int, epoch: int) -> jax.Array:
    """The shuffle key of `epoch` (0-based): depends only on (seed, epoch)."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 1), epoch)


def init_key(seed: int) -> jax.Array:
    """The parameter-initialisation key of `seed`.

    An "rbg" key (XLA's RngBitGenerator): drawing the glorot-uniform kernels with
    the default threefry key costs ~20 s of XLA compile time on a loaded 2-core CPU
    (about 3 s with rbg). The draws are deterministic for a seed and platform.
    """
    return jax.random.key(seed, impl="rbg")


# ---------------------------------------------------------------- devices


def maybe_initialize_distributed() -> bool:
    """`jax.distributed.initialize()` when a multi-process environment is present.

    Looked for: JAX_COORDINATOR_ADDRESS (with JAX_NUM_PROCESSES / JAX_PROCESS_COUNT
    and JAX_PROCESS_ID), SLURM with more than one task, Open MPI with more than one
    rank, or a Cloud TPU slice with several workers. Returns whether it initialized.
    """
    env = os.environ
    try:
        if jax.distributed.is_initialized():
            return False
    except AttributeError:  # older jax
        pass
    if env.get("JAX_COORDINATOR_ADDRESS"):
        count = env.get("JAX_NUM_PROCESSES") or env.get("JAX_PROCESS_COUNT")
        pid = env.get("JAX_PROCESS_ID")
        jax.distributed.initialize(
            num_processes=int(count) if count else None, process_id=int(pid) if pid else None
        )
        return True
    several = (
        (int(env.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_JOB_ID" in env)
        or int(env.get("OMPI_COMM_WORLD_SIZE", "1") or 1) > 1
        or len([h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1
    )
    if several:
        jax.distributed.initialize()
        return True
    return False


def resolve_loop(loop: str, platform: str) -> str:
    """"python" or "scan": `loop`, with "auto" decided for `platform` (AUTO_LOOP)."""
    return AUTO_LOOP.get(platform, AUTO_LOOP_ELSEWHERE) if loop == "auto" else loop


def make_mesh(devices: int | None = None) -> Mesh:
    """A 1-D mesh with axis `data` over the first `devices` devices (None: all)."""
    available = jax.devices()
    if devices is not None:
        if devices > len(available):
            raise ValueError(f"--devices {devices} asked for, but only {len(available)} are available: {available}")
        available = available[:devices]
    return Mesh(np.array(available), (DATA_AXIS,))


def compiler_options(mesh: Mesh, cpu_fusions: str = "dots") -> dict[str, str]:
    """XLA options for the training programs on `mesh` (CPU only: see CPU_FUSIONS).

    Options this jaxlib does not know are dropped with a warning (they are experimental).
    """
    if mesh.devices.flat[0].platform != "cpu" or not CPU_FUSIONS[cpu_fusions]:
        return {}
    options = CPU_FUSIONS[cpu_fusions]
    key = tuple(options.items())
    if key not in _SUPPORTED_OPTIONS:
        try:
            jax.jit(lambda v: v + 1, compiler_options=options).lower(jnp.zeros(())).compile()
            _SUPPORTED_OPTIONS[key] = True
        except Exception as err:  # noqa: BLE001 - XLA reports unknown options as various errors
            warnings.warn(f"XLA did not accept {options} ({err}); compiling with its defaults.", stacklevel=2)
            _SUPPORTED_OPTIONS[key] = False
    return dict(options) if _SUPPORTED_OPTIONS[key] else {}


_SUPPORTED_OPTIONS: dict[tuple, bool] = {}


def _put_replicated(array: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A host array (identical on every process) replicated over `sharding`'s devices."""
    array = np.asarray(array)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


# ---------------------------------------------------------------- epochs


class Carry(NamedTuple):
    state: TrainState
    loss_sum: jax.Array  # sum of per-example losses so far this epoch
    index: jax.Array  # next batch


class Plan(NamedTuple):
    """Compiled pieces of one run (shapes fixed by n_train, n_test and batch size)."""

    order: Callable[[jax.Array], jax.Array]
    run_steps: Callable[..., Carry]  # python: one step; scan: a whole epoch
    evaluate: Callable[..., jax.Array]
    steps: int
    eval_steps: int
    batch_size: int
    batch_sharding: NamedSharding


def build_plan(model: nn.Module, optimizer: optax.GradientTransformation, mesh: Mesh, *, n_train: int,
               n_test: int, batch_size: int, loop: str, cpu_fusions: str = "dots",
               sharding_hook: Callable[[Any], None] | None = None) -> Plan:
    """Jitted epoch pieces over `mesh`, compiled with `compiler_options(mesh, cpu_fusions)`.
    `sharding_hook(sharding)` (debugging) is called with the sharding XLA gives each
    training batch inside the step, when it compiles."""
    if batch_size % mesh.size:
        raise ValueError(
            f"batch_size {batch_size} is not divisible by the number of devices {mesh.size}; "
            f"choose a multiple of {mesh.size} or limit the devices with --devices."
        )
    replicated = NamedSharding(mesh, P())
    batch_sharding = NamedSharding(mesh, P(DATA_AXIS))
    steps = math.ceil(n_train / batch_size)
    eval_steps = math.ceil(n_test / batch_size)
    padded = steps * batch_size
    step = make_train_step(model, optimizer, jit=False)
    evaluate = make_eval_step(model)
    positions = jnp.arange(batch_size, dtype=jnp.int32)

    def order(key: jax.Array) -> jax.Array:
        perm = jax.random.permutation(key, n_train).astype(jnp.int32)
        return jnp.concatenate([perm, jnp.zeros(padded - n_train, jnp.int32)])

    def one_step(carry: Carry, x_train: jax.Array, perm: jax.Array) -> Carry:
        start = carry.index * batch_size
        idx = lax.with_sharding_constraint(lax.dynamic_slice_in_dim(perm, start, batch_size), batch_sharding)
        weights = lax.with_sharding_constraint((start + positions < n_train).astype(jnp.float32), batch_sharding)
        x = lax.with_sharding_constraint(jnp.take(x_train, idx, axis=0), batch_sharding)
        if sharding_hook is not None:
            jax.debug.inspect_array_sharding(x, callback=sharding_hook)
        state, metrics = step(carry.state, x, weights)
        return Carry(state, carry.loss_sum + metrics["loss_sum"], carry.index + 1)

    def epoch_scan(carry: Carry, x_train: jax.Array, perm: jax.Array) -> Carry:
        return lax.scan(lambda c, _: (one_step(c, x_train, perm), None), carry, None, length=steps)[0]

    def eval_one(total: jax.Array, index: jax.Array, params: Any, x_test: jax.Array) -> tuple[jax.Array, jax.Array]:
        start = index * batch_size
        x = lax.with_sharding_constraint(lax.dynamic_slice_in_dim(x_test, start, batch_size), batch_sharding)
        weights = lax.with_sharding_constraint((start + positions < n_test).astype(jnp.float32), batch_sharding)
        return total + evaluate(params, x, weights), index + 1

    def eval_scan(total: jax.Array, index: jax.Array, params: Any, x_test: jax.Array) -> tuple[jax.Array, jax.Array]:
        def body(c, _):
            return eval_one(*c, params, x_test), None
        return lax.scan(body, (total, index), None, length=eval_steps)[0]

    options = compiler_options(mesh, cpu_fusions)
    jit = lambda f, donate: jax.jit(f, donate_argnums=donate, out_shardings=replicated,  # noqa: E731
                                    compiler_options=options)
    return Plan(
        order=jit(order, ()),
        run_steps=jit(one_step if loop == "python" else epoch_scan, (0,)),
        evaluate=jit(eval_one if loop == "python" else eval_scan, (0, 1)),
        steps=steps,
        eval_steps=eval_steps,
        batch_size=batch_size,
        batch_sharding=batch_sharding,
    )



def run_epoch(plan: Plan, loop: str, state: TrainState, x_train: jax.Array, key: jax.Array,
              on_progress: Callable[[int, float], None] | None = None, progress_every: int = 0) -> Carry:
    """One epoch; returns the final carry (the host does not wait for it).

    on_progress(steps_done, mean_loss_so_far) is called every `progress_every` steps
    and after the last (python loop only; each call waits for the device once).
    """
    replicated = NamedSharding(plan.batch_sharding.mesh, P())
    carry = Carry(state, jax.device_put(jnp.zeros([], jnp.float32), replicated),
                  jax.device_put(jnp.zeros([], jnp.int32), replicated))
    perm = plan.order(key)
    if loop == "scan":
        return plan.run_steps(carry, x_train, perm)
    n_train = x_train.shape[0]
    for i in range(plan.steps):
        carry = plan.run_steps(carry, x_train, perm)
        done = i + 1
        if on_progress is not None and progress_every and (done % progress_every == 0 or done == plan.steps):
            on_progress(done, float(carry.loss_sum) / min(done * plan.batch_size, n_train))
    return carry


def run_eval(plan: Plan, loop: str, params: Any, x_test: jax.Array, n_test: int) -> jax.Array:
    """Mean loss over the `n_test` real rows of the padded `x_test` (a device scalar)."""
    replicated = NamedSharding(plan.batch_sharding.mesh, P())
    total = jax.device_put(jnp.zeros([], jnp.float32), replicated)
    index = jax.device_put(jnp.zeros([], jnp.int32), replicated)
    if loop == "scan":
        total, index = plan.evaluate(total, index, params, x_test)
    else:
        for _ in range(plan.eval_steps):
            total, index = plan.evaluate(total, index, params, x_test)
    return total / n_test


# ---------------------------------------------------------------- progress


def is_interactive() -> bool:
    """A progress bar only on a terminal and not under CI (CI=true/1/yes)."""
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    return sys.stderr.isatty()


class Progress:
    """tqdm bar per epoch on a terminal; one plain line per epoch otherwise; silent if disabled."""

    def __init__(self, enabled: bool, epochs: int, n_train: int, batch_size: int):
        self.enabled, self.epochs, self.n_train, self.batch_size = enabled, epochs, n_train, batch_size
        self.interactive = enabled and is_interactive()
        self.bar = None

    def log(self, message: str) -> None:
        if self.enabled:
            print(message, flush=True)

    def start_epoch(self, epoch: int, steps: int) -> Callable[[int, float], None] | None:
        if not self.interactive:
            return None
        from tqdm.auto import tqdm

        self.bar = tqdm(total=steps, desc=f"Epoch {epoch}/{self.epochs}", unit="step", file=sys.stderr,
                        dynamic_ncols=True)
        start, shown = time.perf_counter(), [0]

        def on_progress(done: int, loss: float) -> None:
            seconds = max(time.perf_counter() - start, 1e-9)
            self.bar.update(done - shown[0])
            shown[0] = done
            self.bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{min(done * self.batch_size, self.n_train) / seconds:,.0f}")

        return on_progress

    def end_epoch(self, record: dict) -> None:
        line = (f"loss: {record['train_loss']:.4f} - val_loss: {record['val_loss']:.4f} - "
                f"{record['epoch_seconds']:.1f}s - {record['images_per_second']:,.0f} img/s")
        if self.bar is not None:
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.set_postfix_str(line)
            self.bar.close()
            self.bar = None
        elif self.enabled:
            print(f"Epoch {record['epoch']}/{self.epochs} - {line}", flush=True)


# ------------------------------------------------------------------- train


@dataclasses.dataclass
class TrainResult:
    params: Any  # NumPy pytree (host copy)
    metrics: dict  # as written to metrics.json
    out_dir: Path
    completed: bool  # False when stopped by `stop_after_epochs`
    state: TrainState | None = None  # final device state


_INITS: dict[tuple, Callable] = {}  # jitted parameter initialisers of this process
_COMPILED: dict[tuple, Plan] = {}  # compiled plans of this process, by shapes and settings
_RESUME_MUST_MATCH = ("variant", "upsampling", "optimizer")
_RESUME_SHOULD_MATCH = ("seed", "batch_size", "learning_rate", "limit", "data", "data_dir", "cpu_fusions")


def resolve_out_dir(config: TrainConfig, runs_dir: str | os.PathLike = "runs") -> Path:
    if config.out is not None:
        return Path(config.out)
    if config.resume:
        found = sorted(Path(runs_dir).glob(f"{config.tag}-????????-??????"))
        if not found:
            raise FileNotFoundError(f"--resume without --out: no {runs_dir}/{config.tag}-<date-time> run to resume.")
        return found[-1]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(runs_dir) / f"{config.tag}-{stamp}"


def load_data(config: TrainConfig):
    from experiments.data import load_dataset

    return load_dataset(config.data_dir, require_mnist=config.data == "mnist", limit=config.limit)


def train(config: TrainConfig, dataset: Any = None, *, progress: bool = True,
          sharding_hook: Callable[[Any], None] | None = None, write_outputs: bool = True) -> TrainResult:
    """Train `config.variant` on `dataset` (default: `experiments.data.load_dataset`).

    Writes checkpoints after every epoch and, at the end, metrics.json, summary.txt,
    reconstructions.png and loss.png under the run directory (`write_outputs=False`:
    checkpoints and metrics.json only). `sharding_hook` receives the sharding of the
    training batches (see `build_plan`).
    """
    import jaxlayers
    from experiments import report

    maybe_initialize_distributed()
    is_main = jax.process_index() == 0
    model = build_model(config.variant, config.upsampling, config.api)
    model_summary = jaxlayers.summary(getattr(model, "module", model), INPUT_SHAPE)  # NNX: the module
    out_dir = resolve_out_dir(config)
    say = Progress(progress, config.epochs, 0, config.batch_size)
    say.log(str(model_summary))

    if dataset is None:
        dataset = load_data(config)
    elif config.limit is not None:
        dataset = dataset.head(config.limit)
    n_train, n_test = len(dataset.x_train), len(dataset.x_test)
    say.log(f"Data: {dataset.name} from {dataset.source}: {n_train:,} train / {n_test:,} test images")

    mesh = make_mesh(config.devices)
    loop = resolve_loop(config.loop, mesh.devices.flat[0].platform)
    replicated = NamedSharding(mesh, P())
    optimizer = make_optimizer(config.optimizer, config.lr)
    plan = build_plan(model, optimizer, mesh, n_train=n_train, n_test=n_test, batch_size=config.batch_size,
                      loop=loop, cpu_fusions=config.cpu_fusions, sharding_hook=sharding_hook)
    x_train = _put_replicated(np.asarray(dataset.x_train, np.float32), replicated)
    x_test = np.zeros((plan.eval_steps * config.batch_size, *dataset.x_test.shape[1:]), np.float32)
    x_test[:n_test] = dataset.x_test
    x_test = _put_replicated(x_test, replicated)
    init_key_ = (config.variant, config.upsampling, config.api, config.optimizer, config.lr, tuple(d.id for d in mesh.devices.flat))
    if init_key_ not in _INITS:
        _INITS[init_key_] = jax.jit(lambda key: init_state(model, optimizer, key), out_shardings=replicated)
    state = _INITS[init_key_](init_key(config.seed))
    say.log(f"Devices: {mesh.size} x {mesh.devices.flat[0].device_kind} ({jax.process_count()} process(es)); "
            f"loop={loop}; {plan.steps} steps/epoch of {config.batch_size} "
            f"({config.batch_size // mesh.size} per device)")

    history: list[dict] = []
    start_epoch = 0
    checkpoints = out_dir / "checkpoints"
    if config.resume:
        path = ckpt.latest(checkpoints)
        if path is None:
            warnings.warn(f"--resume: no checkpoint in {checkpoints}; starting from scratch.", stacklevel=2)
        else:
            raw_state, meta = ckpt.restore(path, None)
            _check_resume(config, meta.get("config", {}))
            host_state = serialization.from_state_dict(jax.device_get(state), raw_state)
            state = jax.tree.map(lambda a: _put_replicated(a, replicated), host_state)
            history, start_epoch = meta["history"], int(meta["epoch"])
            say.log(f"Resumed from {path} (epoch {start_epoch})")

    # Compile ahead of time (epoch times are then pure training); reuse within a process.
    cache_key = (config.variant, config.upsampling, config.api, config.optimizer, config.lr, loop, config.batch_size,
                 config.cpu_fusions, n_train, n_test, tuple(d.id for d in mesh.devices.flat))
    compiled = _COMPILED.get(cache_key) if sharding_hook is None else None
    t0 = time.perf_counter()
    if compiled is None:
        carry = Carry(state, jax.device_put(jnp.zeros([], jnp.float32), replicated),
                      jax.device_put(jnp.zeros([], jnp.int32), replicated))
        key0 = epoch_key(config.seed, 0)
        compiled = plan._replace(
            order=plan.order.lower(key0).compile(),
            run_steps=plan.run_steps.lower(carry, x_train, plan.order(key0)).compile(),
            evaluate=plan.evaluate.lower(carry.loss_sum, carry.index, state.params, x_test).compile(),
        )
        if sharding_hook is None:
            _COMPILED[cache_key] = compiled
            while len(_COMPILED) > 8:
                _COMPILED.pop(next(iter(_COMPILED)))
    plan = compiled
    compile_seconds = time.perf_counter() - t0

    say.n_train = n_train
    base = report.base_metrics(config, dataset, mesh, model_summary, compile_seconds)
    base["compiler_options"] = compiler_options(mesh, config.cpu_fusions)
    base["loop"] = loop
    metrics = report.finish_metrics(base, history)
    completed = True
    for epoch in range(start_epoch, config.epochs):
        if config.stop_after_epochs is not None and epoch - start_epoch >= config.stop_after_epochs:
            completed = False
            break
        on_progress = say.start_epoch(epoch + 1, plan.steps)
        started = time.perf_counter()
        carry = run_epoch(plan, loop, state, x_train, epoch_key(config.seed, epoch), on_progress,
                          max(1, plan.steps // 20))
        train_loss = float(carry.loss_sum) / n_train  # the one wait of this epoch
        trained = time.perf_counter()
        state = carry.state
        val_loss = float(run_eval(plan, loop, state.params, x_test, n_test))
        record = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "epoch_seconds": trained - started,
            "eval_seconds": time.perf_counter() - trained,
            "images_per_second": n_train / (trained - started),
        }
        history.append(record)
        say.end_epoch(record)
        metrics = report.finish_metrics(base, history)
        if is_main:
            ckpt.save(checkpoints, epoch + 1, state,
                      {"epoch": epoch + 1, "history": history, "config": dataclasses.asdict(config)},
                      keep=config.keep_checkpoints)
            report.write_metrics(out_dir, metrics)

    params = jax.device_get(state.params)
    if is_main:
        report.write_metrics(out_dir, metrics)
        if write_outputs and completed:
            report.write_outputs(out_dir, model, params, dataset, model_summary, history)
    if completed:
        say.log(f"Outputs in {out_dir}/: metrics.json, summary.txt, reconstructions.png, loss.png, checkpoints/")
    else:
        say.log(f"Stopped after {len(history) - start_epoch if history else 0} epoch(s) (stop_after_epochs); "
                f"checkpoints in {checkpoints}")
    return TrainResult(params=params, metrics=metrics, out_dir=out_dir, completed=completed, state=state)


def _check_resume(config: TrainConfig, saved: dict) -> None:
    now = dataclasses.asdict(config)
    for key in _RESUME_MUST_MATCH:
        if key in saved and saved[key] != now[key]:
            raise ValueError(f"--resume: checkpoint has {key}={saved[key]!r}, this run {key}={now[key]!r}.")
    for key in _RESUME_SHOULD_MATCH:
        if key in saved and saved[key] != now[key]:
            warnings.warn(f"--resume: checkpoint has {key}={saved[key]!r}, this run {key}={now[key]!r}; "
                          "the result will differ from an uninterrupted run.", stacklevel=3)
