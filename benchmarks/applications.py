"""MobileNetV2 training speed: images/s over whole epochs, batch 32 (`--only applications`).

The model is Keras's `keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3),
classes=10, weights=None, classifier_activation=None)` (logits out, so that every
contender computes the same sparse softmax cross-entropy from logits) and, for PyTorch,
torchvision's `mobilenet_v2(width_mult=0.35, num_classes=10, dropout=0.0)`: the same
blocks and widths (Keras's head has no dropout; the parameter counts are in the notes).
Every contender does the same work: Adam 1e-3 with epsilon 1e-7 (Keras's), batch 32,
BatchNorm in training mode (its moving statistics updated every step), the same random
images in [-1, 1) and labels (seed 0), a fresh shuffle per epoch, an epoch a whole
number of batches (--smoke: 64 images of 32x32, MobileNetV2's smallest input, the same
program with 9x less work); timed epochs exclude compilation.

- jaxlayers (from_keras, plain loop): `from_keras(the Keras model)` -> (Graph,
  variables), trained by a jitted, donated optax step, `apply(..., training=True,
  mutable=["batch_stats"])`, its batch gathered on the device.
- keras fit (jax, spe=1 / spe=50): Keras 3 `fit(epochs=1)` per sample, epoch timed by a
  callback (50 steps per execution is the whole epoch at --quick and --smoke sizes).
- torchvision, channels_last: eager and torch.compile (on GPU also mode="reduce-overhead",
  CUDA graphs); on CPU each in a subprocess worker with OpenMP's default settings (as
  benchmarks.training), on GPU in this process. Without torchvision they are recorded
  as skipped, with the reason.

`python -m benchmarks.applications --worker torch ...` is the subprocess side (internal).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import contenders as optional
from benchmarks.timing import SKIPPED, Contender, Deadline, Prepared, measure, timed
from benchmarks.timing import serve_worker, worker_contender
from benchmarks.training import TimedFit, torch_name

BATCH = 32
SIZE = 96  # --smoke: 32, MobileNetV2's smallest input (the same program, 9x less work)
CLASSES = 10
ALPHA = 0.35
LR = 1e-3
EPS = 1e-7
KERAS_SPE = (1, 50)
JAXLAYERS = "jaxlayers (from_keras, plain loop)"
LAYOUT = "channels_last"


def model_name(size: int = SIZE) -> str:
    return f"MobileNetV2 {ALPHA} {size}x{size}"


def data(n: int, size: int = SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random images (NHWC, in [-1, 1): MobileNetV2's preprocessed range) and labels."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)
    return x, rng.integers(0, CLASSES, n).astype(np.int32)


def keras_model(keras, size: int = SIZE):
    return keras.applications.MobileNetV2(alpha=ALPHA, input_shape=(size, size, 3), classes=CLASSES, weights=None,
                                          classifier_activation=None)


def _trainable(kmodel) -> int:
    return int(sum(np.prod(w.shape) for w in kmodel.trainable_weights))


def _keras():
    keras = optional.keras_jax()
    if keras is None:
        raise RuntimeError("keras (JAX backend) unavailable: the model is Keras's (from_keras converts it)")
    return keras


# ------------------------------------------------------------------ jaxlayers


def jaxlayers_contender(n: int, info: dict, size: int = SIZE) -> Callable[[], Prepared]:
    """from_keras's Graph in a jitted, donated optax step; fills info["flops_per_image"]."""

    def build() -> Prepared:
        import jax
        import optax

        from jaxlayers.keras import from_keras

        keras = _keras()
        keras.utils.set_random_seed(0)
        kmodel = keras_model(keras, size)
        module, variables = from_keras(kmodel)
        opt = optax.adam(LR, eps=EPS)
        x_np, y_np = data(n, size)
        x_all, y_all = jax.device_put(x_np), jax.device_put(y_np)
        params, stats = variables["params"], variables["batch_stats"]
        rest = {k: v for k, v in variables.items() if k not in ("params", "batch_stats")}
        state = [(params, stats, opt.init(params))]

        def step(state, x_all, y_all, idx):
            params, stats, opt_state = state
            x, y = x_all[idx], y_all[idx]

            def loss_of(p):
                logits, updated = module.apply({**rest, "params": p, "batch_stats": stats}, x, training=True,
                                               mutable=["batch_stats"])
                return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), updated["batch_stats"]

            (loss, stats), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), stats, opt_state), loss

        idx = np.arange(BATCH, dtype=np.int32)
        compiled, compile_s = timed(
            lambda: jax.jit(step, donate_argnums=0).lower(state[0], x_all, y_all, idx).compile())
        info["flops_per_image"] = _flops(compiled)
        rng = np.random.default_rng(0)

        def run() -> None:
            perm = rng.permutation(n).astype(np.int32)
            s, loss = state[0], None
            for i in range(0, n, BATCH):
                s, loss = compiled(s, x_all, y_all, perm[i:i + BATCH])
            jax.block_until_ready(loss)
            state[0] = s

        return Prepared(run, compile_s=compile_s, note=f"{_trainable(kmodel):,} trainable params")

    return build


def _flops(compiled: Any) -> float | None:
    """XLA's count of a training step's FLOPs, per image (None where it gives none)."""
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        return float(cost["flops"]) / BATCH if cost and "flops" in cost else None
    except Exception:
        return None


# --------------------------------------------------------------------- keras


class KerasFit(TimedFit):
    """The compiled Keras model; `epoch()` runs `fit(epochs=1)` and returns the epoch's seconds."""

    def __init__(self, keras, n: int, steps_per_execution: int, size: int = SIZE, seed: int = 0):
        keras.utils.set_random_seed(seed)
        x, y = data(n, size)
        model = keras_model(keras, size)
        model.compile(optimizer=keras.optimizers.Adam(LR, epsilon=EPS),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      steps_per_execution=steps_per_execution)
        super().__init__(keras, model, x, y, BATCH)


def keras_contender(n: int, spe: int, size: int = SIZE) -> Callable[[], Prepared]:
    return lambda: Prepared(KerasFit(_keras(), n, spe, size).epoch, note="first epoch compiles")


# --------------------------------------------------------------------- torch


def torchvision_missing() -> str | None:
    """Why the torchvision contenders cannot run, or None."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    if importlib.util.find_spec("torchvision") is None:
        return "torchvision is not installed (pip install torchvision, the version paired with torch)"
    return None


def torch_contender(n: int, compile_mode: str | None, cuda: bool = False, size: int = SIZE) -> Callable[[], Prepared]:
    """torchvision's mobilenet_v2 in channels_last, Adam, cross-entropy; `compile_mode`
    None (eager), "default" or "reduce-overhead" (CUDA graphs). On CUDA: fused Adam,
    data and shuffles on the GPU, `torch.cuda.synchronize()` at the end of an epoch."""

    def build() -> Prepared:
        import torch
        import torch.nn.functional as TF
        import torchvision

        device = torch.device("cuda" if cuda else "cpu")
        fmt = torch.channels_last
        torch.manual_seed(0)
        model = torchvision.models.mobilenet_v2(width_mult=ALPHA, num_classes=CLASSES, dropout=0.0)
        model = model.to(device).to(memory_format=fmt).train()
        opt = torch.optim.Adam(model.parameters(), lr=LR, eps=EPS, **({"fused": True} if cuda else {}))
        x_np, y_np = data(n, size)
        x_all = torch.from_numpy(x_np).permute(0, 3, 1, 2).to(device).contiguous(memory_format=fmt)
        y_all = torch.from_numpy(y_np).long().to(device)
        gen = torch.Generator(device=device).manual_seed(0)

        def loss_of(x, y):
            return TF.cross_entropy(model(x), y)

        loss_fn = loss_of if compile_mode is None else torch.compile(loss_of, mode=compile_mode, dynamic=False)
        graphs = compile_mode == "reduce-overhead"

        def step(x, y):
            if graphs:
                torch.compiler.cudagraph_mark_step_begin()
            loss = loss_fn(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        def run() -> None:
            perm = torch.randperm(n, device=device, generator=gen)
            loss = None
            for i in range(0, n, BATCH):
                idx = perm[i:i + BATCH]
                loss = step(x_all[idx].contiguous(memory_format=fmt), y_all[idx])
            loss.item()
            if cuda:
                torch.cuda.synchronize()

        params = sum(p.numel() for p in model.parameters())
        note = [LAYOUT, "CUDA" if cuda else "CPU", f"{params:,} trainable params"]
        if compile_mode is not None:
            note.append("inductor, first epoch compiles")
        return Prepared(run, note=", ".join(note))

    return build


def torch_contenders(n: int, torch_compile: bool, gpu: bool, size: int = SIZE) -> list[Contender]:
    modes: list[str | None] = [None]
    if torch_compile:
        modes += ["default"] + (["reduce-overhead"] if gpu else [])
    if gpu:
        torch = optional.torch()
        cuda = torch is not None and torch.cuda.is_available()
        return [Contender(torch_name(LAYOUT, mode), torch_contender(n, mode, cuda, size)) for mode in modes]
    return [Contender(torch_name(LAYOUT, mode), worker_contender(
        "benchmarks.applications", ["torch", "--images", str(n), "--size", str(size), "--compile", mode or "eager"])) for mode in modes]


# ----------------------------------------------------------------------- run


def run(images: int, repeats: int, peak_flops: float | None, torch_compile: bool = True,
        log: Callable[[str], None] = print, deadline: Deadline | None = None, size: int = SIZE,
        variations: bool = True) -> list[dict]:
    """One record (benchmarks.training's layout): every contender's images/s and
    "jaxlayers speedup" (jaxlayers images/s / the contender's). variations=False (the
    smoke run) leaves out Keras at spe=50, which only changes a setting of spe=1."""
    import jax

    n = max(BATCH, images // BATCH * BATCH)
    record: dict = {"variant": model_name(size), "images": n, "batch": BATCH, "image_size": size}
    if deadline is not None and deadline.passed():
        return [{**record, "note": SKIPPED, "results": {}}]
    gpu = jax.default_backend() == "gpu"
    info: dict = {}
    cs = [Contender(JAXLAYERS, jaxlayers_contender(n, info, size))]
    cs += [Contender(f"keras fit (jax, spe={spe})", keras_contender(n, spe, size))
           for spe in (KERAS_SPE if variations else KERAS_SPE[:1])]
    missing = torchvision_missing()
    if missing is None:
        cs += torch_contenders(n, torch_compile, gpu, size)
    log(f"  {model_name(size)}, {n:,} images/epoch: {', '.join(c.name for c in cs)}")
    stats = measure(cs, repeats=repeats, warmup=1, deadline=deadline)
    log("    " + "; ".join(f"{name} {n / st.median:,.0f} img/s" if st.median else f"{name} failed: {st.error}"
                           for name, st in stats.items()))
    per_image = info.get("flops_per_image")
    base = stats[JAXLAYERS].median
    results = {}
    for name, st in stats.items():
        rec = {**st.__dict__, "images_per_second": n / st.median if st.median else None}
        rec["images_per_second_min_max"] = [n / st.max, n / st.min] if st.median else None
        rec["jaxlayers_speedup"] = st.median / base if st.median and base else None
        rec["fraction_of_peak"] = (per_image * rec["images_per_second"] / peak_flops
                                   if per_image and rec["images_per_second"] and peak_flops else None)
        results[name] = rec
    if missing is not None:
        for mode in [None] + (["default"] if torch_compile else []):
            results[torch_name(LAYOUT, mode)] = {"error": f"skipped: {missing}"}
    record.update(flops_per_image={"xla_cost_analysis": per_image}, results=results)
    return [record]


# -------------------------------------------------------------------- worker


def _worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=("torch",))
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--size", type=int, default=SIZE)
    p.add_argument("--compile", choices=("eager", "default"), default="eager")
    a = p.parse_args(argv)

    def make() -> tuple[Callable[[], Any], str]:
        prepared = torch_contender(a.images, None if a.compile == "eager" else a.compile, size=a.size)()
        return prepared.run, f"subprocess, {prepared.note}"

    return serve_worker(make)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(_worker(sys.argv[2:]))
    print("internal: use `python -m benchmarks.run --only applications`", file=sys.stderr)
    sys.exit(2)
