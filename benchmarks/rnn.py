"""The RNN guide's MNIST classifier trained three ways: jaxlayers (`experiments.rnn`), Keras 3 `fit` on
JAX and PyTorch; training images/s and final accuracies side by side (`python -m benchmarks.run --only rnn`).

The model everywhere: (batch, 28, 28) rows as time steps -> LSTM(64) -> BatchNormalization (momentum
0.99, epsilon 1e-3) -> Dense(10) logits; softmax cross-entropy, Adam(1e-3, epsilon 1e-7), batches of
64, a shuffle per epoch, the last partial batch kept. Each contender runs in a fresh subprocess
(`python -m benchmarks.rnn --worker KIND ...`, one JSON line back), so no library's threads or
compilation caches affect another. images/s: the mean over the epochs after the first (which
compiles), training only; accuracy: the test split after the last epoch. Keras runs every
`steps_per_execution` in KERAS_SPE and the fastest is compared; torch runs eager (`nn.LSTM`,
batch_first) and, unless told not to, `torch.compile` of the model.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import worker_env

ROOT = Path(__file__).resolve().parents[1]
BATCH, UNITS, LR = 64, 64, 1e-3
KERAS_SPE = (1, 8, 64)
WORKER_TIMEOUT_S = 1800


def _data(mnist_dir: str | None, images: int):
    from experiments.data import load_dataset

    d = load_dataset(mnist_dir, limit=images, allow_download=False)
    return (np.asarray(d.x_train, np.float32).reshape(-1, 28, 28), np.asarray(d.y_train, np.int32),
            np.asarray(d.x_test, np.float32).reshape(-1, 28, 28), np.asarray(d.y_test, np.int32), d.name)


def _summary(epoch_seconds: list[float], n: int, accuracy: float, data: str, **extra) -> dict:
    timed = epoch_seconds[1:] or epoch_seconds
    return {"images_per_second": float(np.mean([n / s for s in timed])), "val_accuracy": float(accuracy),
            "epoch_seconds": epoch_seconds, "data": data, **extra}


def jaxlayers_worker(mnist_dir: str | None, images: int, epochs: int) -> dict:
    from experiments.data import load_dataset
    from experiments.rnn import RNNConfig, train_rnn

    dataset = load_dataset(mnist_dir, limit=images, allow_download=False)
    with tempfile.TemporaryDirectory() as out:
        result = train_rnn(RNNConfig(epochs=epochs, batch_size=BATCH, out=out), dataset, progress=False)
    records = result.metrics["epochs"]
    return _summary([r["epoch_seconds"] for r in records], len(dataset.x_train), records[-1]["val_accuracy"],
                    dataset.name)


def keras_worker(mnist_dir: str | None, images: int, epochs: int, spe: int) -> dict:
    import keras
    from keras import layers as K

    x, y, xt, yt, name = _data(mnist_dir, images)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28)), K.LSTM(UNITS), K.BatchNormalization(), K.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(LR), metrics=["accuracy"], steps_per_execution=spe,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0, callbacks=[Timer()])
    accuracy = model.evaluate(xt, yt, batch_size=BATCH, verbose=0, return_dict=True)["accuracy"]
    return _summary(seconds, len(x), accuracy, name, steps_per_execution=spe, backend=keras.backend.backend())


def torch_worker(mnist_dir: str | None, images: int, epochs: int, compile_model: bool) -> dict:
    import torch
    from torch import nn

    class RowClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(28, UNITS, batch_first=True)
            self.norm = nn.BatchNorm1d(UNITS, eps=1e-3, momentum=0.01)  # Keras's momentum 0.99
            self.dense = nn.Linear(UNITS, 10)

        def forward(self, x):
            _, (h, _) = self.lstm(x)
            return self.dense(self.norm(h[-1]))

    x, y, xt, yt, name = _data(mnist_dir, images)
    torch.manual_seed(0)
    model = RowClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, eps=1e-7)
    forward = torch.compile(model) if compile_model else model
    x, y, xt, yt = (torch.from_numpy(a) for a in (x, y.astype(np.int64), xt, yt.astype(np.int64)))
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for rows in torch.randperm(len(x)).split(BATCH):
            loss = nn.functional.cross_entropy(forward(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        correct = sum(int((forward(xt[i:i + BATCH]).argmax(-1) == yt[i:i + BATCH]).sum())
                      for i in range(0, len(xt), BATCH))
    return _summary(seconds, len(x), correct / len(xt), name, threads=torch.get_num_threads(),
                    compiled=compile_model)


def contenders(torch_compile: bool = True, spes: tuple[int, ...] = KERAS_SPE) -> list[tuple[str, list[str]]]:
    """(name, worker arguments) of each contender whose library is installed."""
    from benchmarks import contenders as optional

    found = [("jaxlayers (experiments.rnn)", ["jaxlayers"])]
    if optional.keras_jax() is not None:
        found += [(f"keras fit (jax, spe={spe})", ["keras", "--spe", str(spe)]) for spe in spes]
    if optional.torch() is not None:
        found.append(("torch eager (nn.LSTM)", ["torch"]))
        if torch_compile:
            found.append(("torch.compile (nn.LSTM)", ["torch", "--compile"]))
    return found


def run_worker(args: list[str], mnist_dir: str | None, images: int, epochs: int) -> dict:
    """One contender in a fresh subprocess: its JSON summary, or {"error": ...}."""
    command = [sys.executable, "-m", "benchmarks.rnn", "--worker", *args, "--images", str(images),
               "--epochs", str(epochs)] + (["--mnist-dir", mnist_dir] if mnist_dir else [])
    env = worker_env({"KERAS_BACKEND": "jax", "CI": "true"})
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {WORKER_TIMEOUT_S} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("@@ ")]
    if done.returncode or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"}
    return json.loads(lines[-1][3:])


def run(mnist_dir: str | None, images: int, epochs: int, torch_compile: bool = True,
        spes: tuple[int, ...] = KERAS_SPE, log=lambda message: None) -> list[dict]:
    """Every contender's record: name, images_per_second, val_accuracy, epoch_seconds (or error)."""
    records = []
    for name, args in contenders(torch_compile, spes):
        log(f"rnn: {name} ...")
        records.append({"name": name, **run_worker(args, mnist_dir, images, epochs)})
    return records


def compared(records: list[dict]) -> list[dict]:
    """The jaxlayers run, Keras's fastest steps_per_execution and each torch run, with
    "speedup": contender seconds / jaxlayers seconds (> 1: jaxlayers faster)."""
    ok = [r for r in records if "error" not in r]
    keras = [r for r in ok if r["name"].startswith("keras")]
    chosen = [r for r in ok if not r["name"].startswith("keras")]
    if keras:
        chosen.insert(1, max(keras, key=lambda r: r["images_per_second"]))
    base = next((r["images_per_second"] for r in chosen if r["name"].startswith("jaxlayers")), None)
    return [dict(r, speedup=base / r["images_per_second"] if base else None) for r in chosen]


def table(records: list[dict], markdown: bool = False) -> str:
    from benchmarks.table import format_table

    rows = [[r["name"], f"{r['images_per_second']:,.0f}", "" if r["speedup"] is None else f"{r['speedup']:.2f}x",
             f"{r['val_accuracy']:.4f}", len(r["epoch_seconds"]), r["data"]] for r in compared(records)]
    rows += [[r["name"], "failed", "", r["error"], "", ""] for r in records if "error" in r]
    return format_table(["contender", "train img/s", "jaxlayers speedup", "val accuracy", "epochs", "data"], rows,
                        markdown=markdown)


def _worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.rnn --worker")
    p.add_argument("kind", choices=("jaxlayers", "keras", "torch"))
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--mnist-dir")
    p.add_argument("--spe", type=int, default=1)
    p.add_argument("--compile", action="store_true")
    a = p.parse_args(argv)
    if a.kind == "jaxlayers":
        summary = jaxlayers_worker(a.mnist_dir, a.images, a.epochs)
    elif a.kind == "keras":
        summary = keras_worker(a.mnist_dir, a.images, a.epochs, a.spe)
    else:
        summary = torch_worker(a.mnist_dir, a.images, a.epochs, a.compile)
    print("@@ " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(_worker(sys.argv[2:]))
    sys.exit("run the rnn comparison as: python -m benchmarks.run --only rnn")
