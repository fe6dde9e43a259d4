"""`train`: one run of a tutorial autoencoder with Keras `fit` semantics, config to outputs.

The parts: the Keras loss and optimizers (`experiments.keras_compat`), the step
(`experiments.step`), the epoch loop on a device mesh (`experiments.loop`), orbax
checkpoints (`experiments.checkpoint`) and the run's files (`experiments.outputs`).
A checkpoint is written after every epoch; `resume=True` continues from the newest
one and ends with the same parameters as an uninterrupted run. Messages go to the
`experiments` logger (the CLI prints them); a tqdm bar shows each epoch on a terminal.
In a multi-process run (`jax.distributed`) the processes first agree on their settings,
data, run directory and checkpoints (`experiments.distributed`); process 0 writes the
run's files and shows the bar.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

import jaxlayers
from experiments import checkpoint, outputs
from experiments.checkpoint import Checkpoints
from experiments.config import TrainConfig, resolve_loop
from experiments.data import Dataset, load_dataset
from experiments.distributed import check_agreement, check_shared_directory, from_process_0, on_every_process
from experiments.loop import (
    Carry, Layout, Programs, compile_programs, compiler_options, epoch_batches, init_train_state, make_mesh,
    put_batches, put_replicated, run_epoch, run_eval, shuffle, sync_interval,
)
from experiments.models import INPUT_SHAPE, build_model
from experiments.step import Recipe, TrainState, epoch_key, init_key

log = logging.getLogger(__name__)

RESUME_MUST_MATCH = ("variant", "upsampling", "optimizer")
RESUME_SHOULD_MATCH = ("seed", "batch_size", "learning_rate", "limit", "data", "data_dir", "cpu_fusions", "dtype",
                       "api")
_CACHE_EVENTS = {
    "/jax/compilation_cache/compile_requests_use_cache": "requests",
    "/jax/compilation_cache/cache_hits": "hits",
    "/jax/compilation_cache/cache_misses": "writes",
}


@dataclasses.dataclass
class TrainResult:
    params: Any  # NumPy pytree (host copy)
    metrics: dict  # as written to metrics.json
    out_dir: Path
    completed: bool  # False when stopped by `stop_after_epochs`
    state: TrainState | None = None  # final device state


def train(config: TrainConfig, dataset: Dataset | None = None, *, progress: bool = True,
          sharding_hook: Callable[[Any], None] | None = None, write_outputs: bool = True) -> TrainResult:
    """Train `config.variant` on `dataset` (default: `experiments.data.load_dataset`).

    Writes a checkpoint after every epoch and metrics.json, and at the end summary.txt,
    reconstructions.png and loss.png under the run directory (`write_outputs=False`:
    checkpoints and metrics.json only). `progress`: a tqdm bar per epoch on an
    interactive terminal (process 0's). `sharding_hook(sharding)` receives the sharding
    XLA gives each training batch inside the step, when it compiles (debugging).
    """
    is_main = jax.process_index() == 0
    model = build_model(config.variant, config.upsampling, config.api, config.dtype)
    model_summary = jaxlayers.summary(getattr(model, "module", model), INPUT_SHAPE)  # NNX: the module
    out_dir = Path(from_process_0(lambda: str(resolve_out_dir(config))))
    log.info("%s", model_summary)

    if dataset is None:
        dataset = on_every_process(
            lambda: load_dataset(config.data_dir, require_mnist=config.data == "mnist", limit=config.limit))
    else:
        dataset = dataset.head(config.limit)
    if jax.process_count() > 1:
        check_same_run(config, dataset)
    check_shared_directory(out_dir, "--out")
    n_train, n_test = len(dataset.x_train), len(dataset.x_test)
    log.info("Data: %s from %s: %s train / %s test images", dataset.name, dataset.source, f"{n_train:,}",
             f"{n_test:,}")

    mesh = make_mesh(config.devices)
    loop = resolve_loop(config.loop, mesh.devices.flat[0].platform)
    recipe = Recipe(config.variant, config.upsampling, config.api, config.optimizer, config.lr, config.dtype)
    layout = Layout(recipe, mesh, config.batch_size, n_train, n_test, sharding_hook)
    options = compiler_options(mesh, config.cpu_fusions)
    # One process: the images on every device; several: each process sends its rows per epoch.
    x_train = (put_replicated(np.asarray(dataset.x_train, np.float32), layout.replicated)
               if jax.process_count() == 1 else dataset.x_train)
    test_order = np.zeros(layout.eval_steps * config.batch_size, np.int32)  # padded with row 0
    test_order[:n_test] = np.arange(n_test)
    x_test = put_batches(dataset.x_test, test_order, layout)
    log.info("Devices: %d x %s (%d process(es)); loop=%s; %d steps/epoch of %d (%d per device)", mesh.size,
             mesh.devices.flat[0].device_kind, jax.process_count(), loop, layout.steps, config.batch_size,
             config.batch_size // mesh.size)

    with Checkpoints(out_dir / "checkpoints", config.keep_checkpoints) as checkpoints:
        with _count_cache_events() as cache_events:
            fresh = init_train_state(init_key(config.seed), layout=layout)
            state, history, start_epoch = _start(checkpoints, config, fresh)
            t0 = time.perf_counter()  # ahead of time, so that epoch times are pure training
            train_shape = jax.ShapeDtypeStruct((layout.steps, config.batch_size, *INPUT_SHAPE[1:]), np.float32,
                                               sharding=layout.epoch_batches)
            programs = compile_programs(layout, loop, options, state, train_shape, x_test)
            compile_seconds = time.perf_counter() - t0
        base = outputs.base_metrics(
            config, dataset, mesh, model_summary, loop=loop, compiler_options=options, compile_seconds=compile_seconds,
            compilation_cache={"dir": jax.config.jax_compilation_cache_dir, **cache_events})
        metrics = outputs.finish_metrics(base, history)
        completed = True
        for epoch in range(start_epoch, config.epochs):
            if config.stop_after_epochs is not None and epoch - start_epoch >= config.stop_after_epochs:
                completed = False
                break
            state, record = _epoch(programs, state, x_train, x_test, config, epoch,
                                   progress and is_main and is_interactive())
            history.append(record)
            log.info("Epoch %d/%d - %s", epoch + 1, config.epochs, _epoch_line(record))
            checkpoints.save(epoch + 1, state, {"epoch": epoch + 1, "history": history,
                                                "config": dataclasses.asdict(config)})
            metrics = outputs.finish_metrics(base, history)
            if is_main:
                outputs.write_metrics(out_dir, metrics)

    params = jax.device_get(state.params)
    if is_main:
        outputs.write_metrics(out_dir, metrics)
        if write_outputs and completed:
            outputs.write_outputs(out_dir, model, params, dataset, model_summary, history)
    if completed:
        log.info("Outputs in %s/: metrics.json, summary.txt, reconstructions.png, loss.png, checkpoints/", out_dir)
    else:
        log.info("Stopped after %d epoch(s) (stop_after_epochs); checkpoints in %s", len(history) - start_epoch,
                 out_dir / "checkpoints")
    return TrainResult(params=params, metrics=metrics, out_dir=out_dir, completed=completed, state=state)


def _epoch(programs: Programs, state: TrainState, x_train: jax.Array | np.ndarray, x_test: jax.Array,
           config: TrainConfig, epoch: int, bar: bool) -> tuple[TrainState, dict]:
    """Train epoch `epoch` (0-based) on `x_train` (see `epoch_batches`) and evaluate on the
    test batches; returns the new state and the epoch's record."""
    layout = programs.layout
    with tqdm(total=layout.steps, desc=f"Epoch {epoch + 1}/{config.epochs}", unit="step", leave=False,
              disable=not bar, file=sys.stderr, dynamic_ncols=True) as steps_bar:

        def on_sync(done: int, carry: Carry) -> None:
            steps_bar.update(done - steps_bar.n)
            seen = min(done * layout.batch_size, layout.n_train)
            steps_bar.set_postfix(loss=f"{float(carry.loss_sum) / seen:.4f}")

        started = time.perf_counter()
        batches = epoch_batches(x_train, shuffle(epoch_key(config.seed, epoch), layout=layout), layout)
        carry = run_epoch(programs, state, batches, sync_every=sync_interval(layout, bar), on_sync=on_sync)
        train_loss = float(carry.loss_sum) / layout.n_train  # the host waits for the epoch here
        trained = time.perf_counter()
    val_loss = float(run_eval(programs, carry.state.params, x_test))
    return carry.state, {
        "epoch": epoch + 1,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "epoch_seconds": trained - started,
        "eval_seconds": time.perf_counter() - trained,
        "images_per_second": layout.n_train / (trained - started),
    }


def _epoch_line(record: dict) -> str:
    return (f"loss: {record['train_loss']:.4f} - val_loss: {record['val_loss']:.4f} - "
            f"{record['epoch_seconds']:.1f}s - {record['images_per_second']:,.0f} img/s")


def _start(checkpoints: Checkpoints, config: TrainConfig, state: TrainState) -> tuple[TrainState, list[dict], int]:
    """(state, history, epochs done): `Checkpoints.start`, once every process sees the same checkpoints."""
    check_agreement({"checkpoints": checkpoints.epochs()},
                    hint="--out must be on a filesystem every process's host shares")
    return checkpoints.start(state, config.resume, lambda saved: check_resume(config, saved))


def check_same_run(config: TrainConfig, dataset: Dataset) -> None:
    """ValueError on every process unless all run the same settings on the same data (name,
    sizes and a SHA-256 of the images; data_dir may differ between hosts)."""
    settings = {f"--{key.replace('_', '-')}": value for key, value in dataclasses.asdict(config).items()
                if key != "data_dir"}
    digest = hashlib.sha256()
    for images in (dataset.x_train, dataset.x_test):
        digest.update(np.ascontiguousarray(images, np.float32).data)
    data = [dataset.name, len(dataset.x_train), len(dataset.x_test), digest.hexdigest()[:16]]
    check_agreement({**settings, "data": data}, notes={"data": f"from {dataset.source}"})


def check_resume(config: TrainConfig, saved: dict) -> None:
    """Refuse a checkpoint of another model or optimizer; warn when the run would differ."""
    checkpoint.check_resume(dataclasses.asdict(config), saved, RESUME_MUST_MATCH, RESUME_SHOULD_MATCH)


def resolve_out_dir(config: TrainConfig, runs_dir: str | os.PathLike = "runs") -> Path:
    """`config.out`, else the newest runs/<tag>-<date-time> when resuming, else a new one."""
    if config.out is not None:
        return Path(config.out)
    if config.resume:
        found = sorted(Path(runs_dir).glob(f"{config.tag}-????????-??????"))
        if not found:
            raise FileNotFoundError(f"--resume without --out: no {runs_dir}/{config.tag}-<date-time> run to resume.")
        return found[-1]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(runs_dir) / f"{config.tag}-{stamp}"


def is_interactive() -> bool:
    """A progress bar only on a terminal and not under CI (CI=true/1/yes/on)."""
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    return sys.stderr.isatty()


@contextlib.contextmanager
def _count_cache_events() -> Iterator[Counter]:
    """Counts JAX's persistent compilation cache events (requests, hits, writes) while open."""
    counts = Counter({name: 0 for name in _CACHE_EVENTS.values()})

    def listen(event: str, **kwargs: Any) -> None:
        if event in _CACHE_EVENTS:
            counts[_CACHE_EVENTS[event]] += 1

    jax.monitoring.register_event_listener(listen)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_listener(listen)
