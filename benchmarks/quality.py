"""Does training with jaxlayers reach Keras's validation loss? (real MNIST, adam, batch 256)

    python -m benchmarks.quality            # 5 epochs, 60,000 images, Keras over 3 seeds (minutes)
    python -m benchmarks.quality --quick    # 1 epoch on 2,048 images, 2 seeds (a smoke check)

Each autoencoder is trained by the experiments' loop (`experiments.train.train`, seed 0)
and by Keras 3 `fit` on the JAX backend (same model, adam 1e-3, binary cross-entropy,
batch 256, epochs) with several seeds. It passes if its validation loss is at most
the Keras mean plus the larger of the Keras spread (max - min) and 1% of the mean,
and if the same run computed in bfloat16 (`--dtype bfloat16`: float32 parameters,
optimizer and loss) ends within 3% of the float32 run's validation loss.
Data: $MNIST_DIR (default: shared/data/mnist beside the checkout), falling back as experiments.data does.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

SIZES = {  # limit (train and test images), epochs, keras seeds
    "full": dict(limit=None, epochs=5, seeds=3),
    "quick": dict(limit=2048, epochs=1, seeds=2),
    "smoke": dict(limit=512, epochs=1, seeds=1),
}
VARIANTS = ("upsample", "transpose")
BFLOAT16_TOLERANCE = 0.03  # |bfloat16 / float32 - 1| of the validation loss
DEFAULT_MNIST = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")  # shared/ beside the repo


def keras_val_loss(keras, variant: str, dataset, epochs: int, seed: int) -> float:
    from benchmarks.training import BATCH, LR, keras_model

    keras.utils.set_random_seed(seed)
    model = keras_model(keras, variant)
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="binary_crossentropy")
    model.fit(dataset.x_train, dataset.x_train, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0)
    return float(model.evaluate(dataset.x_test, dataset.x_test, batch_size=BATCH, verbose=0))


def jaxlayers_val_loss(variant: str, dataset, epochs: int, seed: int = 0, dtype: str = "float32") -> float:
    from experiments.config import TrainConfig
    from experiments.train import train

    with tempfile.TemporaryDirectory(prefix="bench-quality-") as out:
        result = train(TrainConfig(variant=variant, epochs=epochs, batch_size=256, seed=seed, dtype=dtype, out=out),
                       dataset, progress=False, write_outputs=False)
    return float(result.metrics["epochs"][-1]["val_loss"])


def run(size: str = "full", log: Callable[[str], None] = print) -> dict:
    from benchmarks import contenders
    from experiments.data import load_dataset

    cfg = SIZES[size]
    keras = contenders.keras_jax()
    if keras is None:
        return {"error": "keras with the JAX backend is unavailable", "variants": []}
    dataset = load_dataset(os.environ.get("MNIST_DIR", DEFAULT_MNIST), limit=cfg["limit"])
    out = {"dataset": f"{dataset.name} ({dataset.source}), {len(dataset.x_train):,} train / "
                      f"{len(dataset.x_test):,} test", **cfg, "variants": []}
    for variant in VARIANTS:
        log(f"  {variant}: jaxlayers float32 and bfloat16, then keras over {cfg['seeds']} seed(s)")
        ours = jaxlayers_val_loss(variant, dataset, cfg["epochs"])
        bfloat16 = jaxlayers_val_loss(variant, dataset, cfg["epochs"], dtype="bfloat16")
        gap = bfloat16 / ours - 1
        theirs = [keras_val_loss(keras, variant, dataset, cfg["epochs"], seed) for seed in range(cfg["seeds"])]
        mean = statistics.fmean(theirs)
        threshold = mean + max(max(theirs) - min(theirs), 0.01 * mean)
        out["variants"].append({"variant": variant, "jaxlayers": ours, "bfloat16": bfloat16,
                                "bfloat16_gap": gap, "keras": theirs, "keras_mean": mean, "threshold": threshold,
                                "passed": ours <= threshold and abs(gap) <= BFLOAT16_TOLERANCE})
    out["description"] = (f"{cfg['epochs']} epoch(s) of adam 1e-3, batch 256, on {out['dataset']}; pass: jaxlayers "
                          "<= keras mean + max(keras spread, 1% of mean), and bfloat16 within "
                          f"{BFLOAT16_TOLERANCE:.0%} of float32")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--smoke", action="store_true")
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args(argv)
    from benchmarks.report import quality_table

    result = run("smoke" if a.smoke else "quick" if a.quick else "full",
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    print(quality_table(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if all(v["passed"] for v in result["variants"]) else 1


if __name__ == "__main__":
    sys.exit(main())
