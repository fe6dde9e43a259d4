"""The tutorial's whole job: 50 epochs of each autoencoder on real MNIST, timed.

One `experiments.train.train` call per variant with the CLI's defaults (adam, batch
256, loop="auto", a checkpoint per epoch), on the four MNIST IDX files of
`mnist_dir`. Reported apart: compile seconds, training seconds (the sum of the
epochs' own times), evaluation seconds, and the wall time of the whole call
(data to the device, initialisation, checkpoints included); the validation loss
after epoch 5 and after the last epoch.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable

from benchmarks.timing import SKIPPED, Deadline

VARIANTS = ("upsample", "transpose")


def run(mnist_dir: str, epochs: int = 50, variants: tuple[str, ...] = VARIANTS, limit: int | None = None,
        log: Callable[[str], None] = print, deadline: Deadline | None = None) -> list[dict]:
    from experiments.data import load_dataset
    from experiments.config import TrainConfig
    from experiments.train import train

    dataset = load_dataset(mnist_dir, require_mnist=True, limit=limit)
    records = []
    for variant in variants:
        if deadline is not None and deadline.passed():
            records.append({"variant": variant, "note": SKIPPED})
            continue
        with tempfile.TemporaryDirectory(prefix="bench-fulljob-") as out:
            config = TrainConfig(variant=variant, epochs=epochs, out=out, data_dir=mnist_dir, data="mnist", limit=limit)
            started = time.perf_counter()
            result = train(config, dataset, progress=False, write_outputs=False)
            wall = time.perf_counter() - started
        history = result.metrics["epochs"]
        train_s = sum(e["epoch_seconds"] for e in history)
        record = {
            "variant": variant,
            "epochs": epochs,
            "images": len(dataset.x_train) * epochs,
            "data": f"{dataset.name} from {dataset.source}",
            "loop": result.metrics.get("loop"),
            "compile_seconds": result.metrics.get("compile_seconds"),
            "train_seconds": train_s,
            "eval_seconds": sum(e["eval_seconds"] for e in history),
            "wall_seconds": wall,
            "images_per_second": len(dataset.x_train) * epochs / train_s,
            "val_loss_epoch_5": history[4]["val_loss"] if len(history) >= 5 else None,
            "val_loss_final": history[-1]["val_loss"],
            "epoch_seconds": [e["epoch_seconds"] for e in history],
        }
        log(f"  {variant}: {epochs} epochs, train {train_s:.1f} s ({record['images_per_second']:,.0f} img/s), "
            f"eval {record['eval_seconds']:.1f} s, compile {record['compile_seconds']:.1f} s, wall {wall:.1f} s, "
            f"val_loss {record['val_loss_final']:.4f}")
        records.append(record)
    return records
