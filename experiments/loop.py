"""The epoch loop: Keras `fit` batches, sharded over a device mesh, on the device.

- Devices: a `Mesh` with one `data` axis over the devices in use (every process's after
  `jax.distributed.initialize`). The programs read an epoch as one array of batches,
  (steps, batch, 28, 28, 1) sharded P(None, 'data'): each device holds its slice of every
  batch, a step takes batch `index` with no communication; parameters and optimizer
  state stay replicated (XLA all-reduces the gradients).
- Batches: each epoch is a permutation of the training set drawn on the device from
  `epoch_key(seed, epoch)`, so a resumed run sees the same shuffles. Like Keras `fit`,
  the last partial batch is kept: the permutation is padded to whole batches and
  padded rows get weight 0, so every step has one shape (one compiled program) and
  its loss is exactly the mean over its real examples.
- Where the batches come from: in one process the training images stay on every device
  (`put_replicated`) and `gather_epoch` arranges each epoch there; in several processes
  each one reads only its devices' rows of every batch on its host (`put_batches`,
  `jax.make_array_from_process_local_data`): no device holds the dataset, and a host
  needs only to read those rows (from a memory map, say). The same batches either way,
  hence the same losses.
- loop="python" runs a Python loop over one jitted step, loop="scan" one jitted
  `lax.scan` per epoch; the carry is donated in both.
- The programs are module-level jitted functions; `Layout` (hashable) holds all that is
  not an array and is their static argument. `compile_programs` compiles them ahead of
  time with the run's XLA options; JAX keeps compiled programs in memory (a second run
  of the same layout in a process compiles nothing) and, when a cache directory is
  set (`jax_compilation_cache_dir`), on disk for the next process.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from experiments.config import CPU_FUSIONS, auto_cpu_devices
from experiments.step import Recipe, TrainState, eval_loss_sum, init_state, train_step

DATA_AXIS = "data"
# On a mesh of several devices the Python loop waits for the devices every this many
# steps. Without that, XLA:CPU (jaxlib 0.10) deadlocks once the host has queued more than
# about 32 steps of a multi-device program (an MNIST epoch queues 235): one device's
# launch blocks on its limit of programs in flight while the other device waits for it
# in the gradient all-reduce, and XLA aborts the process after 40 s ("Termination timeout
# for all reduce"; a longer timeout only waits longer). Measured on 2 cores with all of 2
# or 4 forced host devices in the mesh: waits every 1 to 48 steps ran, every 64 or never
# aborted; epochs took the same time, within noise, with waits every 1, 8 or 16 steps.
DISPATCH_WINDOW = 8


@dataclasses.dataclass(frozen=True)
class Layout:
    """Everything the epoch programs depend on besides their array arguments."""

    recipe: Recipe
    mesh: Mesh
    batch_size: int
    n_train: int
    n_test: int
    sharding_hook: Callable[[Any], None] | None = None  # debugging: receives the batch sharding

    def __post_init__(self) -> None:
        if self.batch_size % self.mesh.size:
            raise ValueError(
                f"batch_size {self.batch_size} is not divisible by the number of devices {self.mesh.size}; "
                f"choose a multiple of {self.mesh.size} or limit the devices with --devices."
            )

    @property
    def steps(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    @property
    def eval_steps(self) -> int:
        return math.ceil(self.n_test / self.batch_size)

    @property
    def batches(self) -> NamedSharding:
        return NamedSharding(self.mesh, P(DATA_AXIS))

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    @property
    def epoch_batches(self) -> NamedSharding:
        """(steps, batch, ...) arrays of batches: every batch sharded over `data`."""
        return NamedSharding(self.mesh, P(None, DATA_AXIS))

    @property
    def local_rows(self) -> slice:
        """The rows of every batch that this process's devices hold (one block: the mesh's
        devices are in process order)."""
        indices = self.epoch_batches.addressable_devices_indices_map((1, self.batch_size)).values()
        blocks = sorted({(index[1].start or 0, index[1].stop or self.batch_size) for index in indices})
        if any(stop != start for (_, stop), (start, _) in zip(blocks, blocks[1:])):
            raise ValueError(f"this process's devices hold rows {blocks} of every batch, not one block; "
                             "order the mesh's devices by process.")
        return slice(blocks[0][0], blocks[-1][1])


class Carry(NamedTuple):
    state: TrainState
    loss_sum: jax.Array  # () sum of per-example losses so far this epoch
    index: jax.Array  # () int32, the next batch


# ---------------------------------------------------------------- devices


def make_mesh(devices: int | None = None) -> Mesh:
    """A 1-D mesh with axis `data` over the first `devices` devices (None: all).

    In one process these are its local devices; after `jax.distributed.initialize()`
    every process's devices, in which case `devices` must be None.
    """
    available = jax.devices()
    if devices is not None:
        if jax.process_count() > 1:
            raise ValueError(f"devices={devices}: a multi-process run uses every device of every process; "
                             "leave devices (--devices) unset.")
        if devices > len(available):
            raise ValueError(f"devices={devices} asked for, but only {len(available)} are available: {available}")
        available = available[:devices]
    return Mesh(np.array(available), (DATA_AXIS,))


def set_cpu_devices(count: int | str, batch_size: int) -> int | None:
    """Give JAX `count` CPU devices ('auto': `auto_cpu_devices` for the usable cores).

    Returns the count set, or None when XLA_FLAGS already sets one or JAX has already run
    something in this process (its devices are fixed then: a warning says so)."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return None
    if count == "auto":
        count = auto_cpu_devices(batch_size, len(os.sched_getaffinity(0)))
    try:
        jax.config.update("jax_num_cpu_devices", int(count))
    except RuntimeError:  # JAX's backends already exist in this process
        warnings.warn(f"--cpu-devices {count}: JAX is already initialised in this process; "
                      f"keeping its {jax.local_device_count('cpu')} CPU device(s).", stacklevel=2)
        return None
    return int(count)


def compiler_options(mesh: Mesh, cpu_fusions: str = "dots") -> dict[str, str]:
    """XLA options for the training programs on `mesh` (CPU only: see CPU_FUSIONS).

    Options this jaxlib does not know are dropped with a warning (they are experimental).
    """
    options = CPU_FUSIONS[cpu_fusions]
    if mesh.devices.flat[0].platform != "cpu" or not options:
        return {}
    return dict(options) if _accepted(tuple(options.items())) else {}


@functools.cache
def _accepted(options: tuple[tuple[str, str], ...]) -> bool:
    try:
        jax.jit(lambda v: v + 1).lower(jnp.zeros(())).compile(compiler_options=dict(options))
        return True
    except Exception as err:  # noqa: BLE001 - XLA reports unknown options as various errors
        warnings.warn(f"XLA did not accept {dict(options)} ({err}); compiling with its defaults.", stacklevel=3)
        return False


def put_replicated(array: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A host array (identical on every process) replicated over `sharding`'s devices."""
    array = np.asarray(array)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def put_batches(images: np.ndarray, order: np.ndarray, layout: Layout) -> jax.Array:
    """(len(order) // batch_size, batch_size, ...) float32 batches of `images[order]`,
    sharded `layout.epoch_batches`: this process reads and sends only its devices' rows
    (`layout.local_rows` of every batch), so `images` may be a memory map of a large file."""
    order = np.asarray(order).reshape(-1, layout.batch_size)
    local = np.asarray(images[order[:, layout.local_rows]], np.float32)
    return jax.make_array_from_process_local_data(layout.epoch_batches, local,
                                                  (len(order), layout.batch_size, *images.shape[1:]))


def epoch_batches(images: jax.Array | np.ndarray, perm: jax.Array, layout: Layout) -> jax.Array:
    """The epoch's batches of `images` in `shuffle`'s order `perm`: gathered on the devices
    from a replicated device array, or read by each process from a host array (its rows)."""
    if isinstance(images, jax.Array):
        return gather_epoch(images, perm, layout=layout)
    return put_batches(images, np.asarray(perm.addressable_data(0)), layout)


# ---------------------------------------------------------------- programs


@functools.partial(jax.jit, static_argnames="layout")
def init_train_state(key: jax.Array, *, layout: Layout) -> TrainState:
    """A fresh replicated train state drawn from `key`."""
    state = init_state(layout.recipe.model(), layout.recipe.transformation(), key)
    return lax.with_sharding_constraint(state, layout.replicated)


@functools.partial(jax.jit, static_argnames="layout")
def shuffle(key: jax.Array, *, layout: Layout) -> jax.Array:
    """(steps * batch_size,) int32: a permutation of the training rows, padded with row 0."""
    perm = jax.random.permutation(key, layout.n_train).astype(jnp.int32)
    padding = jnp.zeros(layout.steps * layout.batch_size - layout.n_train, jnp.int32)
    return lax.with_sharding_constraint(jnp.concatenate([perm, padding]), layout.replicated)


@functools.partial(jax.jit, static_argnames="layout")
def gather_epoch(images: jax.Array, perm: jax.Array, *, layout: Layout) -> jax.Array:
    """The epoch's batches (steps, batch, ...) of replicated `images` in `perm`'s order,
    each device gathering its rows of every batch."""
    order = lax.with_sharding_constraint(perm.reshape(layout.steps, layout.batch_size), layout.epoch_batches)
    return lax.with_sharding_constraint(jnp.take(images, order, axis=0), layout.epoch_batches)


def _batch(batches: jax.Array, index: jax.Array, n: int, layout: Layout) -> tuple[jax.Array, jax.Array]:
    """Batch `index` of `batches` (steps, batch, ...) and its 0/1 weights (rows past `n`: 0),
    sharded over `data`."""
    rows = index * layout.batch_size + jnp.arange(layout.batch_size, dtype=jnp.int32)
    weights = lax.with_sharding_constraint((rows < n).astype(jnp.float32), layout.batches)
    x = lax.dynamic_index_in_dim(batches, index, keepdims=False)
    return lax.with_sharding_constraint(x, layout.batches), weights


def _train_one(carry: Carry, x_train: jax.Array, layout: Layout) -> Carry:
    x, weights = _batch(x_train, carry.index, layout.n_train, layout)
    if layout.sharding_hook is not None:
        jax.debug.inspect_array_sharding(x, callback=layout.sharding_hook)
    # The real rows of the whole batch, known from its index (no communication).
    count = jnp.clip(layout.n_train - carry.index * layout.batch_size, 0, layout.batch_size).astype(jnp.float32)

    def step(state: TrainState, x: jax.Array, weights: jax.Array) -> tuple[TrainState, jax.Array]:
        state, metrics = train_step(layout.recipe.model(), layout.recipe.transformation(), state, x, weights,
                                    count=count, axis_name=DATA_AXIS)
        return state, metrics["loss_sum"]

    # Each device runs the step on its part of the batch: the model's own reductions (max
    # pooling's NaN check, say) stay on the device, and one psum joins the gradients.
    state, loss_sum = jax.shard_map(step, mesh=layout.mesh, in_specs=(P(), P(DATA_AXIS), P(DATA_AXIS)),
                                    out_specs=(P(), P()))(carry.state, x, weights)
    return Carry(state, carry.loss_sum + loss_sum, carry.index + 1)


@functools.partial(jax.jit, static_argnames="layout", donate_argnums=0)
def train_batch(carry: Carry, x_train: jax.Array, *, layout: Layout) -> Carry:
    """One step on batch `carry.index` of the epoch's batches `x_train`."""
    return lax.with_sharding_constraint(_train_one(carry, x_train, layout), layout.replicated)


@functools.partial(jax.jit, static_argnames="layout", donate_argnums=0)
def train_epoch(carry: Carry, x_train: jax.Array, *, layout: Layout) -> Carry:
    """Every step of an epoch, as one `lax.scan`."""
    carry = lax.scan(lambda c, _: (_train_one(c, x_train, layout), None), carry, None, length=layout.steps)[0]
    return lax.with_sharding_constraint(carry, layout.replicated)


def _eval_one(total: jax.Array, index: jax.Array, params: Any, x_test: jax.Array,
              layout: Layout) -> tuple[jax.Array, jax.Array]:
    x, weights = _batch(x_test, index, layout.n_test, layout)
    return total + eval_loss_sum(layout.recipe.model(), params, x, weights), index + 1


@functools.partial(jax.jit, static_argnames="layout", donate_argnums=(0, 1))
def eval_batch(total: jax.Array, index: jax.Array, params: Any, x_test: jax.Array, *,
               layout: Layout) -> tuple[jax.Array, jax.Array]:
    """(total + summed loss of test batch `index`, index + 1)."""
    return lax.with_sharding_constraint(_eval_one(total, index, params, x_test, layout), layout.replicated)


@functools.partial(jax.jit, static_argnames="layout", donate_argnums=(0, 1))
def eval_epoch(total: jax.Array, index: jax.Array, params: Any, x_test: jax.Array, *,
               layout: Layout) -> tuple[jax.Array, jax.Array]:
    """Every test batch, as one `lax.scan`."""
    out = lax.scan(lambda c, _: (_eval_one(*c, params, x_test, layout), None), (total, index), None,
                   length=layout.eval_steps)[0]
    return lax.with_sharding_constraint(out, layout.replicated)


class Programs(NamedTuple):
    """The compiled programs of one run."""

    layout: Layout
    loop: str  # "python" or "scan"
    train: Callable[[Carry, jax.Array], Carry]  # python: one batch; scan: the epoch
    evaluate: Callable[..., tuple[jax.Array, jax.Array]]  # python: one batch; scan: all


def compile_programs(layout: Layout, loop: str, options: dict[str, str], state: TrainState, x_train: jax.Array,
                     x_test: jax.Array) -> Programs:
    """`train` and `evaluate` for `loop`, compiled ahead of time with XLA `options`
    (`x_train`, `x_test`: arrays of batches, or their shapes)."""
    carry = zeros_carry(state, layout)
    train, evaluate = (train_batch, eval_batch) if loop == "python" else (train_epoch, eval_epoch)
    return Programs(
        layout, loop,
        train.lower(carry, x_train, layout=layout).compile(compiler_options=options),
        evaluate.lower(carry.loss_sum, carry.index, state.params, x_test, layout=layout).compile(
            compiler_options=options),
    )


# ------------------------------------------------------------------ running


def _zeros(layout: Layout) -> tuple[jax.Array, jax.Array]:
    """A replicated float32 0 (a loss sum) and int32 0 (a batch index)."""
    return (jax.device_put(jnp.zeros([], jnp.float32), layout.replicated),
            jax.device_put(jnp.zeros([], jnp.int32), layout.replicated))


def zeros_carry(state: TrainState, layout: Layout) -> Carry:
    """The carry at the start of an epoch."""
    return Carry(state, *_zeros(layout))


def sync_interval(layout: Layout, progress: bool) -> int:
    """Steps between host waits in the Python loop (0: only at the epoch's end).

    DISPATCH_WINDOW on several devices; about 20 progress updates per epoch with `progress`.
    """
    intervals = ([DISPATCH_WINDOW] if layout.mesh.size > 1 else []) + ([max(1, layout.steps // 20)] if progress else [])
    return min(intervals, default=0)


def run_epoch(programs: Programs, state: TrainState, x_train: jax.Array, *, sync_every: int = 0,
              on_sync: Callable[[int, Carry], None] | None = None) -> Carry:
    """One epoch over the batches `x_train`; returns the final carry (the host does not wait for it).

    Python loop: every `sync_every` steps (and after the last) the host waits for the
    devices and calls `on_sync(steps_done, carry)`.
    """
    carry = zeros_carry(state, programs.layout)
    if programs.loop == "scan":
        return programs.train(carry, x_train)
    steps = programs.layout.steps
    for done in range(1, steps + 1):
        carry = programs.train(carry, x_train)
        if sync_every and (done % sync_every == 0 or done == steps):
            carry.loss_sum.block_until_ready()
            if on_sync is not None:
                on_sync(done, carry)
    return carry


def run_eval(programs: Programs, params: Any, x_test: jax.Array) -> jax.Array:
    """Mean loss over the real rows of the test batches `x_test` (a device scalar)."""
    layout = programs.layout
    total, index = _zeros(layout)
    if programs.loop == "scan":
        total, index = programs.evaluate(total, index, params, x_test)
    else:
        sync_every = sync_interval(layout, progress=False)
        for done in range(1, layout.eval_steps + 1):
            total, index = programs.evaluate(total, index, params, x_test)
            if sync_every and done % sync_every == 0:
                total.block_until_ready()
    return total / layout.n_test
