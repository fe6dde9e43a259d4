"""Train the Keras tutorial's convolutional autoencoders on MNIST with jaxlayers.

    python -m experiments.autoencoder --variant upsample            # 50 epochs, adam
    python -m experiments.autoencoder --variant transpose --epochs 5 --limit 2048
    python -m experiments.autoencoder --variant upsample --upsampling bed_of_nails
    python -m experiments.autoencoder --variant unpool --out runs/u --resume

Prints the model summary, trains (progress bar on a terminal, a line per epoch
otherwise or with CI=true) and writes metrics.json, summary.txt,
reconstructions.png, loss.png and checkpoints/ under --out
(default runs/<variant>-<date-time>/). See experiments/models.py for the models and
experiments/train.py for the training semantics.
"""
from __future__ import annotations

import argparse
import sys

from experiments.models import APIS, UPSAMPLING, VARIANTS, build_model
from experiments.train import CPU_FUSIONS, DEFAULT_LOOP, LOOPS, OPTIMIZERS, TrainConfig, train

__all__ = ["build_model", "main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(prog="python -m experiments.autoencoder", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--variant", choices=VARIANTS, default="upsample")
    p.add_argument("--upsampling", choices=UPSAMPLING, default="nearest",
                   help="UpSampling2D interpolation of the upsample variant")
    p.add_argument("--api", choices=APIS, default="linen", help="build the model from jaxlayers.linen or jaxlayers.nnx")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--learning-rate", type=float, default=None, help="default 1e-3 (Keras's default for both)")
    p.add_argument("--devices", type=int, default=None, help="use the first N devices (default: all)")
    p.add_argument("--loop", choices=LOOPS, default=DEFAULT_LOOP,
                   help="python: a loop over a jitted step; scan: one jitted lax.scan per epoch; auto: python on CPU, scan elsewhere (measured)")
    p.add_argument("--cpu-fusions", choices=tuple(CPU_FUSIONS), default="dots",
                   help="on CPU, which ops XLA hands to its YNNPACK library: dots only (measured faster here) "
                        "or XLA's default choice")
    p.add_argument("--limit", type=int, default=None, help="first N train and test images (smoke runs)")
    p.add_argument("--data-dir", default=None, help="directory of the MNIST IDX .gz files (default $MNIST_DIR)")
    p.add_argument("--data", choices=("auto", "mnist"), default="auto",
                   help="mnist: fail instead of falling back to scikit-learn digits")
    p.add_argument("--out", default=None, help="run directory (default runs/<variant>-<date-time>)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    try:
        return TrainConfig(
            variant=a.variant, epochs=a.epochs, batch_size=a.batch_size, seed=a.seed, optimizer=a.optimizer,
            learning_rate=a.learning_rate, devices=a.devices, loop=a.loop, limit=a.limit, out=a.out,
            resume=a.resume, data_dir=a.data_dir, data=a.data, upsampling=a.upsampling, api=a.api, cpu_fusions=a.cpu_fusions,
            stop_after_epochs=a.stop_after_epochs,
        )
    except ValueError as err:
        p.error(str(err))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    result = train(config)
    if result.metrics.get("final"):
        final = result.metrics["final"]
        print(f"Final: loss {final['train_loss']:.4f}, val_loss {final['val_loss']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
