"""`python -m benchmarks.run`: layer and training speed of jaxlayers against its peers.

    python -m benchmarks.run                      # everything, full sizes (long)
    python -m benchmarks.run --quick              # a minute or two on 2 CPU cores
    python -m benchmarks.run --only layers --json out.json
    python -m benchmarks.run --only quality       # benchmarks.quality (minutes)

Prints tables (ratios are "jaxlayers speedup": contender time / jaxlayers time, so
> 1 means jaxlayers is faster) and writes every figure, the machine and the
library versions to --json. See benchmarks/RESULTS.md for the method.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

# Before jax, keras or torch are imported: keras.ops on JAX here (the torch backend runs
# in a subprocess); torch's OpenMP threads sleep instead of spinning between calls, which
# otherwise starves XLA's threads (and torch's own, after a JAX call) on a small machine.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SETTINGS = {
    #        layer sizes, repeats, min sample s, training images, training repeats
    "full": dict(layer_size="full", layer_repeats=7, min_sample_s=0.2, images=60_000, train_repeats=5),
    "quick": dict(layer_size="quick", layer_repeats=5, min_sample_s=0.03, images=4_096, train_repeats=3),
    "smoke": dict(layer_size="smoke", layer_repeats=2, min_sample_s=0.0, images=512, train_repeats=1,
                  variants=("upsample",)),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller shapes and epochs (a minute or two on 2 cores)")
    size.add_argument("--smoke", action="store_true", help="tiny shapes, to check that everything runs (tests)")
    p.add_argument("--only", choices=("layers", "training", "quality"), action="append",
                   help="run only this part (repeatable); default layers and training")
    p.add_argument("--json", metavar="PATH", help="write every figure here")
    p.add_argument("--device", choices=("cpu", "gpu", "tpu"), help="JAX platform (default: what JAX sees)")
    p.add_argument("--repeats", type=int, help="timed repeats per contender (default by size)")
    p.add_argument("--no-torch-compile", action="store_true", help="skip the torch.compile training contender")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device:
        os.environ["JAX_PLATFORMS"] = args.device
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    parts = args.only or ["layers", "training"]
    cfg = dict(SETTINGS[size])
    if args.repeats:
        cfg["layer_repeats"] = cfg["train_repeats"] = args.repeats

    import jax

    from benchmarks import contenders, machine, report

    platform = jax.default_backend()
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    result: dict = {
        "machine": machine.describe(platform),
        "versions": machine.versions(),
        "settings": {"size": size, "parts": parts, **cfg, "env": {k: os.environ.get(k) for k in
                     ("KERAS_BACKEND", "OMP_WAIT_POLICY", "XLA_FLAGS", "JAX_PLATFORMS")}},
        "notes": contenders.missing_notes(),
    }
    started = time.perf_counter()
    if "layers" in parts or "training" in parts:
        log("matmul peak ...")
        result["matmul_peak"] = machine.matmul_peak(n=512 if size == "smoke" else 2048 if size == "quick" else 4096)
    if "layers" in parts:
        from benchmarks import layers

        log(f"layers ({size}) ...")
        result["layers"] = layers.run(cfg["layer_size"], platform, cfg["layer_repeats"], cfg["min_sample_s"], log)
    if "training" in parts:
        from benchmarks import training

        log(f"training ({size}) ...")
        compile_ok = size != "smoke" and not args.no_torch_compile
        if not compile_ok:
            result["notes"].append("torch.compile training contender skipped (--smoke or --no-torch-compile)")
        if size == "smoke":
            result["notes"].append("--smoke: layers forward+backward only, training on the upsample model only")
        result["training"] = training.run(cfg["images"], cfg["train_repeats"], result["matmul_peak"]["peak_flops"],
                                          torch_compile=compile_ok, log=log,
                                          **({"variants": cfg["variants"]} if "variants" in cfg else {}))
    if "quality" in parts:
        from benchmarks import quality

        log(f"quality ({size}) ...")
        result["quality"] = quality.run(size, log=log)
    result["seconds"] = time.perf_counter() - started
    print(report.render(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=str)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
