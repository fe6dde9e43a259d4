"""Train the Keras RNN guide's MNIST classifier (rows as time steps) with jaxlayers.

    python -m experiments.rnn                                  # LSTM(64), 10 epochs, adam
    python -m experiments.rnn --cell gru --epochs 3 --limit 4096
    python -m experiments.rnn --bidirectional --out runs/bi --resume

(batch, 28, 28) images -> LSTM/GRU/SimpleRNN(64) [in Bidirectional] -> BatchNormalization
-> Dense(10) logits, softmax cross-entropy (Keras `SparseCategoricalCrossentropy(from_logits=True)`),
Keras `fit` semantics: a shuffle per epoch from (seed, epoch), the last partial batch kept.
Writes metrics.json (loss and accuracy per epoch), summary.txt, loss.png, accuracy.png and
checkpoints/ (one per epoch; `--resume` continues from the newest, ending with the same
parameters as an uninterrupted run) under --out (default runs/rnn-<cell>-<date-time>/).
One device; `--loop scan` (default) runs an epoch's whole batches as one `lax.scan`, `--loop
python` a jitted step per batch (the same numbers). The data loading, optimizers, checkpoints,
outputs and logging are the autoencoder's (`experiments.data`, `keras_compat`, `checkpoint`,
`outputs`, `autoencoder`).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

import jaxlayers
from experiments import outputs
from experiments.autoencoder import CACHE_OFF, DEFAULT_CACHE, print_log, set_compilation_cache
from experiments.checkpoint import Checkpoints, check_resume
from experiments.config import DATA_CHOICES, check_fields
from experiments.data import Dataset, load_dataset
from experiments.keras_compat import DEFAULT_LEARNING_RATE, OPTIMIZERS, make_optimizer
from experiments.loop import make_mesh
from experiments.rnn_model import CELLS, INPUT_SHAPE, build_classifier
from experiments.step import epoch_key, init_key
from experiments.train import is_interactive, resolve_out_dir

log = logging.getLogger("experiments.rnn")  # not __main__ under -m: the CLI prints "experiments"
RESUME_MUST_MATCH = ("cell", "bidirectional", "optimizer")
LOOPS = ("scan", "python")


@dataclasses.dataclass
class RNNConfig:
    """Everything that defines a run (the CLI's flags); checked on construction."""

    cell: str = "lstm"
    bidirectional: bool = False
    epochs: int = 10
    batch_size: int = 64  # the guide's
    seed: int = 0
    optimizer: str = "adam"
    learning_rate: float | None = None  # None: 1e-3
    limit: int | None = None
    out: str | None = None
    resume: bool = False
    data_dir: str | None = None
    data: str = "auto"
    loop: str = "scan"  # "scan": an epoch's whole batches as one lax.scan; "python": a jitted step each
    stop_after_epochs: int | None = None  # stop this invocation early, as if killed (testing)
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        check_fields(self, {"loop": LOOPS, "cell": CELLS, "optimizer": OPTIMIZERS, "data": DATA_CHOICES},
                     positive=("epochs", "batch_size", "keep_checkpoints"), optional=("limit", "stop_after_epochs"))

    @property
    def lr(self) -> float:
        return DEFAULT_LEARNING_RATE if self.learning_rate is None else float(self.learning_rate)

    @property
    def tag(self) -> str:
        return f"rnn-{'bi' if self.bidirectional else ''}{self.cell}"


class RNNState(NamedTuple):
    step: jax.Array
    params: Any
    batch_stats: Any  # BatchNormalization's moving statistics
    opt_state: Any


def make_programs(model: Any, optimizer: optax.GradientTransformation) -> tuple[Any, Any, Any]:
    """(train_step, train_epoch, eval_step), jitted. Each takes the whole split on the device and rows of it.

    train_step(state, x, y, rows) -> (state, loss_sum, correct); train_epoch(state, x, y, order): the same
    over the batches of order (steps, batch); eval_step(params, batch_stats, x, y, rows) -> (loss_sum,
    correct). x: (n, 28, 28), y: (n,) int32, rows: (batch,) int32.
    """

    def loss_and_logits(params, batch_stats, x, y, training):
        variables = {"params": params, "batch_stats": batch_stats}
        if training:
            logits, updates = model.apply(variables, x, training=True, mutable=["batch_stats"])
        else:
            logits, updates = model.apply(variables, x), {"batch_stats": batch_stats}
        losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), y)
        return jnp.mean(losses), (losses, logits, updates["batch_stats"])

    def train_step(state: RNNState, x, y, rows):
        xb, yb = jnp.take(x, rows, axis=0), jnp.take(y, rows, axis=0)
        grads, (losses, logits, stats) = jax.grad(loss_and_logits, has_aux=True)(
            state.params, state.batch_stats, xb, yb, True)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        new = RNNState(state.step + 1, optax.apply_updates(state.params, updates), stats, opt_state)
        return new, jnp.sum(losses), jnp.sum(jnp.argmax(logits, -1) == yb)

    def eval_step(params, batch_stats, x, y, rows):
        xb, yb = jnp.take(x, rows, axis=0), jnp.take(y, rows, axis=0)
        _, (losses, logits, _) = loss_and_logits(params, batch_stats, xb, yb, False)
        return jnp.sum(losses), jnp.sum(jnp.argmax(logits, -1) == yb)

    def train_epoch(state: RNNState, x, y, order):
        """Every batch of `order` (steps, batch) as one `lax.scan`; -> (state, loss_sum, correct)."""
        def body(carry, rows):
            state, loss_sum, correct = carry
            state, batch_loss, batch_correct = train_step(state, x, y, rows)
            return (state, loss_sum + batch_loss, correct + batch_correct), None

        zero = (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        return jax.lax.scan(body, (state, *zero), order)[0]

    return jax.jit(train_step, donate_argnums=0), jax.jit(train_epoch, donate_argnums=0), jax.jit(eval_step)


def init_rnn_state(model: Any, optimizer: optax.GradientTransformation, seed: int) -> RNNState:
    variables = jax.jit(model.init)(init_key(seed), jnp.zeros((1, *INPUT_SHAPE[1:]), jnp.float32))
    params = variables["params"]
    return RNNState(jnp.zeros((), jnp.int32), params, variables["batch_stats"], optimizer.init(params))


def batches(n: int, batch_size: int, order: np.ndarray | None = None) -> list[np.ndarray]:
    """Keras `fit`'s batches of rows `order` (default 0..n-1): whole ones, then the partial rest."""
    order = np.arange(n, dtype=np.int32) if order is None else np.asarray(order, np.int32)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


@dataclasses.dataclass
class RNNResult:
    params: Any
    batch_stats: Any
    metrics: dict
    out_dir: Path
    completed: bool


def train_rnn(config: RNNConfig, dataset: Dataset | None = None, *, progress: bool = True) -> RNNResult:
    """Train `config`'s classifier on `dataset` (default: `load_dataset`); see the module docstring."""
    model = build_classifier(config.cell, config.bidirectional)
    optimizer = make_optimizer(config.optimizer, config.lr)
    model_summary = jaxlayers.summary(model, INPUT_SHAPE)
    out_dir = resolve_out_dir(config)
    log.info("%s", model_summary)
    if dataset is None:
        dataset = load_dataset(config.data_dir, require_mnist=config.data == "mnist", limit=config.limit)
    else:
        dataset = dataset.head(config.limit)
    n_train, n_test = len(dataset.x_train), len(dataset.x_test)
    log.info("Data: %s from %s: %s train / %s test images", dataset.name, dataset.source, f"{n_train:,}",
             f"{n_test:,}")
    x_train, x_test = (jnp.asarray(np.asarray(x, np.float32).reshape(-1, 28, 28))
                       for x in (dataset.x_train, dataset.x_test))
    y_train, y_test = (jnp.asarray(np.asarray(y, np.int32)) for y in (dataset.y_train, dataset.y_test))
    programs = make_programs(model, optimizer)
    eval_step = programs[2]
    mesh = make_mesh(1)

    with Checkpoints(out_dir / "checkpoints", config.keep_checkpoints) as checkpoints:
        state, history, start = _start(checkpoints, config, init_rnn_state(model, optimizer, config.seed))
        base = outputs.base_metrics(config, dataset, mesh, model_summary, loop=config.loop)
        metrics = _metrics(base, history)
        completed = True
        for epoch in range(start, config.epochs):
            if config.stop_after_epochs is not None and epoch - start >= config.stop_after_epochs:
                completed = False
                break
            order = np.asarray(jax.random.permutation(epoch_key(config.seed, epoch), n_train))
            steps = batches(n_train, config.batch_size, order)
            started = time.perf_counter()
            state, loss_sum, correct = _train_epoch(programs, state, x_train, y_train, steps, config,
                                                    f"Epoch {epoch + 1}/{config.epochs}", progress)
            train_loss, train_accuracy = float(loss_sum) / n_train, int(correct) / n_train
            trained = time.perf_counter()
            val = [eval_step(state.params, state.batch_stats, x_test, y_test, jnp.asarray(rows))
                   for rows in batches(n_test, config.batch_size)]
            record = {
                "epoch": epoch + 1, "train_loss": train_loss, "val_loss": float(sum(v[0] for v in val)) / n_test,
                "train_accuracy": train_accuracy, "val_accuracy": int(sum(v[1] for v in val)) / n_test,
                "epoch_seconds": trained - started, "eval_seconds": time.perf_counter() - trained,
                "images_per_second": n_train / (trained - started),
            }
            history.append(record)
            log.info("Epoch %d/%d - loss: %.4f - accuracy: %.4f - val_loss: %.4f - val_accuracy: %.4f - %.1fs - "
                     "%s img/s", epoch + 1, config.epochs, record["train_loss"], record["train_accuracy"],
                     record["val_loss"], record["val_accuracy"], record["epoch_seconds"],
                     f"{record['images_per_second']:,.0f}")
            checkpoints.save(epoch + 1, state, {"epoch": epoch + 1, "history": history,
                                                "config": dataclasses.asdict(config)})
            metrics = _metrics(base, history)
            outputs.write_metrics(out_dir, metrics)

    outputs.write_metrics(out_dir, metrics)
    if completed and history:
        name = f"{model_summary.model_name} {config.tag} ({dataset.name})"
        outputs.write_summary(out_dir, model_summary, history)
        outputs.plot_losses(out_dir / "loss.png", history, name, ylabel="softmax cross-entropy")
        outputs.plot_history(out_dir / "accuracy.png", history, "accuracy", "accuracy", name)
        log.info("Outputs in %s/: metrics.json, summary.txt, loss.png, accuracy.png, checkpoints/", out_dir)
    params, stats = jax.device_get((state.params, state.batch_stats))
    return RNNResult(params, stats, metrics, out_dir, completed)


def _train_epoch(programs: tuple, state: RNNState, x: jax.Array, y: jax.Array, steps: list[np.ndarray],
                 config: RNNConfig, desc: str, progress: bool) -> tuple[RNNState, jax.Array, jax.Array]:
    """One epoch: loop="scan" runs the whole batches as one program, then the partial one;
    loop="python" one step at a time (with a progress bar on a terminal)."""
    train_step, train_epoch, _ = programs
    whole = [rows for rows in steps if len(rows) == config.batch_size]
    if config.loop == "scan":
        loss_sum, correct = jnp.zeros(()), jnp.zeros((), jnp.int32)
        if whole:
            state, loss_sum, correct = train_epoch(state, x, y, jnp.asarray(np.stack(whole)))
        rest = steps[len(whole):]
    else:
        loss_sum, correct, rest = jnp.zeros(()), jnp.zeros((), jnp.int32), steps
    bar = progress and is_interactive() and config.loop == "python"
    for rows in tqdm(rest, desc=desc, unit="step", leave=False, disable=not bar, file=sys.stderr,
                     dynamic_ncols=True):
        state, batch_loss, batch_correct = train_step(state, x, y, jnp.asarray(rows))
        loss_sum, correct = loss_sum + batch_loss, correct + batch_correct
    return state, loss_sum, correct


def _metrics(base: dict, history: list[dict]) -> dict:
    metrics = outputs.finish_metrics(base, history)
    if history:
        metrics["final"].update(train_accuracy=history[-1]["train_accuracy"],
                                val_accuracy=history[-1]["val_accuracy"])
    return metrics


def _start(checkpoints: Checkpoints, config: RNNConfig, state: RNNState) -> tuple[RNNState, list[dict], int]:
    """(state, history, epochs done): `Checkpoints.start`, refusing another model's checkpoint."""
    return checkpoints.start(state, config.resume, lambda saved: check_resume(
        dataclasses.asdict(config), saved, RESUME_MUST_MATCH))


def parse_args(argv: list[str] | None = None) -> tuple[RNNConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m experiments.rnn", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cell", choices=tuple(CELLS), default="lstm")
    p.add_argument("--bidirectional", action="store_true", help="wrap the recurrent layer in Bidirectional (concat)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--learning-rate", type=float, default=None, help="default 1e-3")
    p.add_argument("--limit", type=int, default=None, help="first N train and test images (smoke runs)")
    p.add_argument("--data-dir", default=None, help="directory of the MNIST IDX .gz files (default $MNIST_DIR)")
    p.add_argument("--data", choices=DATA_CHOICES, default="auto",
                   help="mnist: fail instead of falling back to scikit-learn digits")
    p.add_argument("--out", default=None, help="run directory (default runs/rnn-<cell>-<date-time>)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--compilation-cache", default=str(DEFAULT_CACHE),
                   help=f"directory of JAX's persistent compilation cache ('{CACHE_OFF}': none)")
    p.add_argument("--loop", choices=LOOPS, default="scan",
                   help="scan: an epoch's whole batches as one lax.scan (measured faster); python: a jitted step "
                        "per batch, with a progress bar")
    p.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    try:
        config = RNNConfig(cell=a.cell, bidirectional=a.bidirectional, epochs=a.epochs, batch_size=a.batch_size,
                           seed=a.seed, optimizer=a.optimizer, learning_rate=a.learning_rate, limit=a.limit,
                           out=a.out, resume=a.resume, data_dir=a.data_dir, data=a.data, loop=a.loop,
                           stop_after_epochs=a.stop_after_epochs)
    except ValueError as err:
        p.error(str(err))
    return config, a


def main(argv: list[str] | None = None) -> int:
    """The CLI: 0 when the run ends, 2 (one line on stderr) for unusable settings, data or checkpoint."""
    config, options = parse_args(argv)
    set_compilation_cache(options.compilation_cache)
    try:
        with print_log():
            final = train_rnn(config).metrics.get("final")
            if final:
                log.info("Final: loss %.4f, accuracy %.4f, val_loss %.4f, val_accuracy %.4f", final["train_loss"],
                         final["train_accuracy"], final["val_loss"], final["val_accuracy"])
    except (ValueError, FileNotFoundError) as err:
        print(f"python -m experiments.rnn: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
