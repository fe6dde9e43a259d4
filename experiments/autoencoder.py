"""Train the Keras tutorial's convolutional autoencoders on MNIST with jaxlayers.

    python -m experiments.autoencoder --variant upsample            # 50 epochs, adam
    python -m experiments.autoencoder --variant transpose --epochs 5 --limit 2048
    python -m experiments.autoencoder --variant upsample --upsampling bed_of_nails
    python -m experiments.autoencoder --variant unpool --out runs/u --resume
    python -m experiments.autoencoder --distributed --coordinator-address HOST0:1234 \
        --num-processes 2 --process-id I --out /shared/runs/u   # on each of 2 hosts, I = 0, 1

Prints the model summary, trains (progress bar on a terminal, a line per epoch
otherwise or with CI=true) and writes metrics.json, summary.txt,
reconstructions.png, loss.png and checkpoints/ under --out
(default runs/<variant>-<date-time>/). Compiled programs are kept in a JAX
compilation cache, so the next run of the same job does not compile again.
See experiments/train.py for the training semantics.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import jax

from experiments.config import CPU_FUSIONS, DATA_CHOICES, DEFAULT_LOOP, LOOPS, MAX_CPU_DEVICES, TrainConfig
from experiments.data import FallbackWarning
from experiments.distributed import initialize
from experiments.keras_compat import OPTIMIZERS
from experiments.loop import set_cpu_devices
from experiments.models import APIS, DTYPES, UPSAMPLING, VARIANTS
from experiments.train import train

DEFAULT_CACHE = Path("~/.cache/jaxlayers/jax")
CACHE_OFF = "off"


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """(the run's TrainConfig, the process options: compilation_cache, distributed)."""
    p = argparse.ArgumentParser(prog="python -m experiments.autoencoder", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--variant", choices=VARIANTS, default="upsample")
    p.add_argument("--upsampling", choices=UPSAMPLING, default="nearest",
                   help="UpSampling2D interpolation of the upsample variant")
    p.add_argument("--api", choices=APIS, default="linen", help="build the model from jaxlayers.linen or jaxlayers.nnx")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="float32",
                   help="the convolutions' computation dtype; parameters, optimizer state and loss stay float32")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--learning-rate", type=float, default=None, help="default 1e-3 (Keras's default for both)")
    p.add_argument("--devices", type=int, default=None, help="use the first N local devices (default: all)")
    p.add_argument("--cpu-devices", default="auto", type=_cpu_devices_arg,
                   help="JAX devices on the CPU (the batch is sharded over them): 'auto' is one per usable core "
                        f"(at most {MAX_CPU_DEVICES}, a divisor of the batch size); ignored when XLA_FLAGS sets "
                        "--xla_force_host_platform_device_count")
    p.add_argument("--loop", choices=LOOPS, default=DEFAULT_LOOP,
                   help="python: a loop over a jitted step; scan: one jitted lax.scan per epoch; "
                        "auto: python on CPU, scan elsewhere (measured)")
    p.add_argument("--cpu-fusions", choices=tuple(CPU_FUSIONS), default="dots",
                   help="on CPU, which ops XLA hands to its YNNPACK library: dots only (measured faster here) "
                        "or XLA's default choice")
    p.add_argument("--limit", type=int, default=None, help="first N train and test images (smoke runs)")
    p.add_argument("--data-dir", default=None, help="directory of the MNIST IDX .gz files (default $MNIST_DIR)")
    p.add_argument("--data", choices=DATA_CHOICES, default="auto",
                   help="mnist: fail instead of falling back to scikit-learn digits")
    p.add_argument("--out", default=None, help="run directory (default runs/<variant>-<date-time>)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--compilation-cache", default=os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(DEFAULT_CACHE),
                   help=f"directory of JAX's persistent compilation cache ('{CACHE_OFF}': none)")
    p.add_argument("--distributed", action="store_true",
                   help="join JAX's distributed runtime first (jax.distributed.initialize): one process per host, "
                        "the mesh spans them all; --out on a filesystem every host shares. Without the three "
                        "flags below JAX detects them (SLURM, Open MPI, Cloud TPU; the address also from "
                        "$JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--coordinator-address", default=None, type=_address_arg, metavar="HOST:PORT",
                   help="with --distributed: process 0's host and a free port there, the same for every process")
    p.add_argument("--num-processes", default=None, type=_positive_arg, metavar="N",
                   help="with --distributed: the number of processes")
    p.add_argument("--process-id", default=None, type=_process_id_arg, metavar="I",
                   help="with --distributed: this process's id, 0 to N-1 (0 coordinates and writes the run's files)")
    p.add_argument("--local-device-ids", default=None, type=_device_ids_arg, metavar="ID[,ID...]",
                   help="with --distributed: the local accelerators this process uses (several processes per host)")
    p.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if not a.distributed:
        for flag in ("coordinator_address", "num_processes", "process_id", "local_device_ids"):
            if getattr(a, flag) is not None:
                p.error(f"--{flag.replace('_', '-')} needs --distributed")
    if a.process_id is not None and a.num_processes is not None and a.process_id >= a.num_processes:
        p.error(f"argument --process-id: expected 0 to --num-processes - 1 = {a.num_processes - 1}, "
                f"got {a.process_id}")
    try:
        config = TrainConfig(
            variant=a.variant, epochs=a.epochs, batch_size=a.batch_size, seed=a.seed, optimizer=a.optimizer,
            learning_rate=a.learning_rate, devices=a.devices, loop=a.loop, limit=a.limit, out=a.out,
            resume=a.resume, data_dir=a.data_dir, data=a.data, upsampling=a.upsampling, api=a.api, dtype=a.dtype,
            cpu_fusions=a.cpu_fusions, stop_after_epochs=a.stop_after_epochs,
        )
    except ValueError as err:
        p.error(str(err))
    return config, a


def _cpu_devices_arg(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive int, got {value!r}")
    return count


def _positive_arg(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {value!r}")
    return int(value)


def _process_id_arg(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {value!r}")
    return int(value)


def _address_arg(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port 1 to 65535, got {value!r}")
    return value


def _device_ids_arg(value: str) -> list[int]:
    ids = value.split(",")
    if not all(i.strip().isdigit() for i in ids):
        raise argparse.ArgumentTypeError(f"expected comma-separated ints >= 0, got {value!r}")
    return [int(i) for i in ids]


def set_compilation_cache(directory: str) -> None:
    """JAX's persistent compilation cache in `directory` (every program), or none for 'off'/''."""
    if directory in ("", CACHE_OFF):
        jax.config.update("jax_compilation_cache_dir", None)
        return
    jax.config.update("jax_compilation_cache_dir", str(Path(directory).expanduser()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


@contextlib.contextmanager
def print_log(process: int = 0) -> Iterator[None]:
    """The `experiments` loggers' messages on stdout, while open: process 0's from INFO up
    (the data fallback's warning among them, so its `FallbackWarning` is not shown a
    second time), another process's from WARNING up, tagged with its id."""
    logger = logging.getLogger("experiments")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s" if process == 0 else f"[process {process}] %(message)s"))
    handler.setLevel(logging.INFO if process == 0 else logging.WARNING)
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FallbackWarning)
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def main(argv: list[str] | None = None) -> int:
    """The CLI: 0 when the run ends, 2 (with one line on stderr) when its settings, data,
    checkpoint or cluster are unusable (`ValueError`/`FileNotFoundError`).

    Before anything runs on JAX it sets the CPU devices (`--cpu-devices`), the compilation
    cache and, with `--distributed`, joins the cluster (`experiments.distributed.initialize`)."""
    config, options = parse_args(argv)
    set_cpu_devices(options.cpu_devices, config.batch_size)
    set_compilation_cache(options.compilation_cache)
    try:
        if options.distributed:
            initialize(options.coordinator_address, options.num_processes, options.process_id,
                       options.local_device_ids)
        with print_log(jax.process_index()):
            final = train(config).metrics.get("final")
            if final:
                logging.getLogger("experiments").info("Final: loss %.4f, val_loss %.4f", final["train_loss"],
                                                      final["val_loss"])
    except (ValueError, FileNotFoundError) as err:
        print(f"python -m experiments.autoencoder: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
