"""`python -m benchmarks.run`: layer and training speed of jaxlayers against its peers.

    python -m benchmarks.run                      # layers and training, full sizes (long)
    python -m benchmarks.run --quick              # a minute or two on 2 CPU cores
    python -m benchmarks.run --only layers --json out.json
    python -m benchmarks.run --only sequence      # LSTM, GRU, MultiHeadAttention fwd+bwd
    python -m benchmarks.run --only depthwise     # the layers part's MobileNetV2 cases alone (depthwise, 1x1)
    python -m benchmarks.run --only quality       # benchmarks.quality (minutes)
    python -m benchmarks.run --quick --only applications   # MobileNetV2 training
    python -m benchmarks.run --only rnn --mnist-dir DIR   # the RNN guide's classifier: jaxlayers, keras, torch
    python -m benchmarks.run --device gpu --only fulljob --only training --only profile \
        --only applications --only layers --only sequence --mnist-dir DIR --budget 400   # benchmarks/accelerator.sh

Parts: layers, depthwise (the layers part's MobileNetV2 cases alone: its depthwise convs and a 1x1 expansion), sequence (LSTM, GRU and MultiHeadAttention forward+backward against Flax,
Keras and torch: benchmarks.sequence), training, fulljob (50 epochs of each autoencoder
on real MNIST, needs --mnist-dir), profile (a step's time op by op, jaxlayers and torch), applications
(MobileNetV2 training: from_keras, Keras fit, torchvision), quality, rnn (benchmarks.rnn:
the RNN guide's LSTM classifier in jaxlayers, Keras fit and torch). They
run in the order given; with --budget, what is left when it runs out is recorded as
skipped. Prints tables (ratios are "jaxlayers speedup": contender time / jaxlayers
time, so > 1 means jaxlayers is faster) and writes every figure, the machine and the
library versions to --json (and the tables as Markdown to --markdown). See
benchmarks/RESULTS.md for the method.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

# Before jax, keras or torch are imported: keras.ops on JAX here (the torch backend runs
# in a subprocess); torch's OpenMP threads in this process (a GPU run's torch) sleep instead
# of spinning between calls, which otherwise starves XLA's threads on a small machine. On
# the CPU every torch contender runs in a worker process without this (`timing.worker_env`).
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# JAX and torch share the GPU on a GPU run: JAX keeps its preallocation (its fastest
# allocator), but of less than its default 75%, leaving torch room.
os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.5")

PARTS = ("layers", "depthwise", "sequence", "training", "fulljob", "profile", "applications", "quality", "rnn")
PLATFORMS = {"cpu": "cpu", "gpu": "cuda", "tpu": "tpu"}  # --device -> JAX_PLATFORMS

SETTINGS = {
    #        layer sizes, repeats, min sample s, training images, training repeats,
    #        fulljob epochs and image limit, profile steps, MobileNetV2 images per epoch (batch 32) and size
    "full": dict(layer_size="full", layer_repeats=7, min_sample_s=0.2, images=60_000, train_repeats=5,
                 epochs=50, limit=None, profile_steps=20, app_images=2_048, app_size=96, rnn_images=60_000,
                 rnn_epochs=3),
    "quick": dict(layer_size="quick", layer_repeats=5, min_sample_s=0.03, images=4_096, train_repeats=3,
                  epochs=5, limit=None, profile_steps=10, app_images=512, app_size=96, rnn_images=8_192,
                  rnn_epochs=3),
    "smoke": dict(layer_size="smoke", layer_repeats=2, min_sample_s=0.0, images=512, train_repeats=1,
                  variants=("upsample",), epochs=1, limit=512, profile_steps=2, app_images=64, app_size=32,
                  rnn_images=256, rnn_epochs=2),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller shapes and epochs (a minute or two on 2 cores)")
    size.add_argument("--smoke", action="store_true", help="tiny shapes, to check that everything runs (tests)")
    p.add_argument("--only", choices=PARTS, action="append",
                   help="run this part (repeatable, in the order given); default layers and training")
    p.add_argument("--json", metavar="PATH", help="write every figure here")
    p.add_argument("--markdown", metavar="PATH", help="write the tables here as Markdown")
    p.add_argument("--device", choices=tuple(PLATFORMS), help="JAX platform (default: what JAX sees)")
    p.add_argument("--repeats", type=int, help="timed repeats per contender (default by size)")
    p.add_argument("--no-torch-compile", action="store_true",
                   help="skip the torch.compile training contenders (training and applications)")
    p.add_argument("--mnist-dir", help="the four MNIST IDX .gz files (fulljob; default $MNIST_DIR)")
    p.add_argument("--epochs", type=int, help="fulljob epochs (default 50; --quick 5; --smoke 1); rnn epochs "
                                              "(default 3; --smoke 2)")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="stop starting new work after this many seconds (what is left is recorded as skipped)")
    args = p.parse_args(argv)
    args.only = args.only or ["layers", "training"]
    if "fulljob" in args.only and not (args.mnist_dir or os.environ.get("MNIST_DIR")):
        p.error("--only fulljob needs --mnist-dir (or $MNIST_DIR): the four MNIST IDX .gz files")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device:
        os.environ["JAX_PLATFORMS"] = PLATFORMS[args.device]
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    parts = args.only
    cfg = dict(SETTINGS[size])
    if args.repeats:
        cfg["layer_repeats"] = cfg["train_repeats"] = args.repeats

    import jax

    from benchmarks import contenders, machine, report
    from benchmarks.timing import Deadline
    from experiments.loop import set_cpu_devices

    # As the experiments' CLI: one JAX CPU device per core, which experiments.train shards
    # each batch over (the other JAX contenders use the first device, as they would alone).
    cpu_devices = set_cpu_devices("auto", 256)

    deadline = Deadline(args.budget)
    platform = jax.default_backend()
    if platform != "cpu":  # accelerator ops take microseconds: shorter samples suffice
        cfg["min_sample_s"] = min(cfg["min_sample_s"], 0.05)
    started = time.perf_counter()
    log = lambda message: print(f"[{time.perf_counter() - started:5.0f} s] {message}", file=sys.stderr, flush=True)  # noqa: E731
    result: dict = {
        "machine": machine.describe(platform),
        "versions": machine.versions(),
        "settings": {"size": size, "parts": parts, "budget_seconds": args.budget, **cfg, "env": {
            k: os.environ.get(k) for k in ("KERAS_BACKEND", "OMP_WAIT_POLICY", "XLA_FLAGS", "JAX_PLATFORMS",
                                           "XLA_PYTHON_CLIENT_MEM_FRACTION")}, "cpu_devices": cpu_devices},
        "notes": contenders.missing_notes(),
    }
    variants = {"variants": cfg["variants"]} if "variants" in cfg else {}
    if {"layers", "depthwise", "training", "applications"} & set(parts):
        log("matmul peak ...")
        result["matmul_peak"] = machine.matmul_peak(n=512 if size == "smoke" else 2048 if size == "quick" else 4096)
    for part in parts:
        log(f"{part} ({size}) ...")
        if part in ("layers", "depthwise"):
            from benchmarks import layers

            groups = layers.GROUPS if part == "layers" else ("mobilenetv2",)
            result[part] = layers.run(cfg["layer_size"], platform, cfg["layer_repeats"], cfg["min_sample_s"], log,
                                      deadline, groups=groups)
        elif part == "sequence":
            from benchmarks import sequence

            result["sequence"] = sequence.run(cfg["layer_size"], platform, cfg["layer_repeats"], cfg["min_sample_s"],
                                              log, deadline)
        elif part == "training":
            from benchmarks import training

            compile_ok = size != "smoke" and not args.no_torch_compile
            if not compile_ok:
                result["notes"].append("torch.compile training contenders skipped (--smoke or --no-torch-compile)")
            if size == "smoke":
                result["notes"].append("--smoke: layers forward+backward only, training on the upsample model only, "
                                       "without the contenders that only vary a setting of another")
            result["training"] = training.run(cfg["images"], cfg["train_repeats"], result["matmul_peak"]["peak_flops"],
                                              torch_compile=compile_ok, log=log, deadline=deadline,
                                              variations=size != "smoke", **variants)
        elif part == "fulljob":
            from benchmarks import fulljob

            result["fulljob"] = fulljob.run(args.mnist_dir or os.environ["MNIST_DIR"], args.epochs or cfg["epochs"],
                                            limit=cfg["limit"], log=log, deadline=deadline, **variants)
        elif part == "profile":
            from benchmarks import opprofile

            result["profile"] = opprofile.run(cfg["profile_steps"], log=log, deadline=deadline, **variants)
        elif part == "applications":
            from benchmarks import applications

            compile_ok = size != "smoke" and not args.no_torch_compile
            if not compile_ok:
                result["notes"].append("torch.compile MobileNetV2 contenders skipped (--smoke or --no-torch-compile)")
            if size == "smoke":
                result["notes"].append("--smoke: MobileNetV2 at 32x32, without keras fit spe=50")
            result["applications"] = applications.run(cfg["app_images"], cfg["train_repeats"],
                                                      result["matmul_peak"]["peak_flops"], torch_compile=compile_ok,
                                                      log=log, deadline=deadline, size=cfg["app_size"],
                                                      variations=size != "smoke")
        elif part == "quality":
            from benchmarks import quality

            result["quality"] = quality.run(size, log=log)
        elif part == "rnn":
            from benchmarks import rnn

            result["rnn"] = rnn.run(args.mnist_dir or os.environ.get("MNIST_DIR"), cfg["rnn_images"],
                                    args.epochs or cfg["rnn_epochs"],
                                    torch_compile=size != "smoke" and not args.no_torch_compile,
                                    spes=rnn.KERAS_SPE if size != "smoke" else (1,), log=log)
    result["seconds"] = time.perf_counter() - started
    print(report.render(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
        log(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.render(result, markdown=True))
        log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
