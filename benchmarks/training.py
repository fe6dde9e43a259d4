"""Autoencoder training speed: images/s over whole epochs, every contender at batch 256.

Contenders (each does the same work: adam 1e-3 with epsilon 1e-7 as Keras, Keras's
clipped binary cross-entropy on sigmoid outputs, batch 256, a fresh shuffle per
epoch, the last partial batch kept; timed epochs exclude evaluation):

- jaxlayers (experiments.train): the experiments' own loop (`loop="auto"`), one
  `train()` call of one epoch per sample, timed by `train` itself (`epoch_seconds`),
  on every device (on CPU one per core, as the CLI sets them: the batch is sharded);
  also with the loop `auto` did not choose, and on CPU on one device and with
  `cpu_fusions="default"` (XLA's own choice of YNNPACK fusions instead of dots only).
- jaxlayers (plain loop), the same with every op on its `lax` path, and flax
  built-ins (plain loop): one tiny loop, a jitted donated step that gathers its
  batch from the images on the device, on the jaxlayers model and on an equivalent
  model of Flax built-ins.
- keras fit (jax, spe=1 / spe=50): Keras 3 `fit` on the JAX backend, `fit(epochs=1)`
  per sample (the train function is kept between calls), epoch timed by a callback.
- CPU only: keras fit (jax, spe=1, dots-only fusions) (Keras in a subprocess with the
  same XLA option set process-wide through XLA_FLAGS) and keras fit (torch), in a
  subprocess with KERAS_BACKEND=torch, driven over a pipe so its epochs interleave.
- PyTorch at its best: eager and torch.compile, each in NCHW and channels_last (the
  hidden activations have 4-16 channels, and the layout changes which oneDNN/cuDNN
  kernels run); on GPU also torch.compile mode="reduce-overhead" (CUDA graphs).

`python -m benchmarks.training --worker ...` is the subprocess side (internal).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import contenders as optional
from benchmarks.timing import SKIPPED, Contender, Deadline, Elapsed, Prepared, measure, serve_worker, worker_contender

VARIANTS = ("upsample", "transpose")  # the tutorial's two autoencoders (experiments.models names)
BATCH = 256
LR = 1e-3
EPS = 1e-7
JAXLAYERS = "jaxlayers (experiments.train)"


def random_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 28, 28, 1), dtype=np.float32)


# ------------------------------------------------------------ jaxlayers: theirs


def experiments_contender(variant: str, n: int, cpu_fusions: str = "dots", loop: str = "auto",
                          devices: int | None = None) -> Callable[[], Prepared]:
    """The experiments' own loop (`experiments.train.train`), one epoch per call, on the
    first `devices` devices (None: all, as the CLI)."""

    def build() -> Prepared:
        from experiments.data import Dataset
        from experiments.config import TrainConfig
        from experiments.train import train

        x = random_images(n)
        test = x[:BATCH]
        labels = np.zeros(n, np.int32)
        dataset = Dataset(x, test, labels, labels[:BATCH], "random", "benchmarks")
        out = tempfile.TemporaryDirectory(prefix="bench-train-")
        epoch = [0]

        def config(epochs: int) -> Any:
            return TrainConfig(variant=variant, epochs=epochs, batch_size=BATCH, seed=epoch[0], out=out.name,
                               cpu_fusions=cpu_fusions, loop=loop, devices=devices)

        first = train(config(0), dataset, progress=False, write_outputs=False)  # compiles, caches the plan

        def run() -> Elapsed:
            epoch[0] += 1
            result = train(config(1), dataset, progress=False, write_outputs=False)
            return Elapsed(result.metrics["epochs"][-1]["epoch_seconds"])

        count = first.metrics["devices"]["count"]
        return Prepared(run, compile_s=first.metrics.get("compile_seconds"), close=out.cleanup,
                        note=f"{count} {first.metrics['devices']['platform']} device(s), batch sharded" if count > 1 else "")

    return build


# ------------------------------------------------------ plain jitted JAX loop


def flax_builtin_model(variant: str):
    """The autoencoder from Flax built-ins: nn.Conv, nn.max_pool, jax.image.resize, nn.ConvTranspose."""
    import flax.linen as nn
    import jax

    def up(x):
        n, h, w, c = x.shape
        return jax.image.resize(x, (n, 2 * h, 2 * w, c), "nearest")

    class Upsample(nn.Module):
        @nn.compact
        def __call__(self, x):
            for f in (16, 8, 4):
                x = nn.relu(nn.Conv(f, (3, 3), padding="SAME")(x))
                x = nn.max_pool(x, (2, 2), (2, 2), padding="SAME")
            x = up(nn.relu(nn.Conv(4, (3, 3), padding="SAME")(x)))
            x = up(nn.relu(nn.Conv(8, (3, 3), padding="SAME")(x)))
            x = up(nn.relu(nn.Conv(16, (3, 3), padding="VALID")(x)))
            return nn.sigmoid(nn.Conv(1, (3, 3), padding="SAME")(x))

    class Transpose(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.max_pool(nn.relu(nn.Conv(16, (3, 3), padding="VALID")(x)), (2, 2), (2, 2))
            x = nn.max_pool(nn.relu(nn.Conv(8, (3, 3), padding="VALID")(x)), (2, 2), (2, 2))
            x = nn.relu(nn.Conv(4, (3, 3), padding="VALID")(x))
            for f, pad in ((4, "SAME"), (8, "SAME"), (16, "VALID")):
                x = up(nn.relu(nn.ConvTranspose(f, (3, 3), padding=pad, transpose_kernel=True)(x)))
            return nn.sigmoid(nn.ConvTranspose(1, (3, 3), padding="SAME", transpose_kernel=True)(x))

    return {"upsample": Upsample, "transpose": Transpose}[variant]()


def jaxlayers_model(variant: str):
    from experiments.models import build_model

    return build_model(variant)


def bce(y, p):
    import jax.numpy as jnp

    p = jnp.clip(p, EPS, 1 - EPS)
    return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))


def plain_jax_contender(make_model: Callable[[], Any], n: int, lowerings: str = "auto") -> Callable[[], Prepared]:
    """A jitted, donated optax step per batch; the batch is gathered on the device.

    lowerings="direct": the step is traced with every jaxlayers op on its plain `lax`
    path (`jaxlayers.functional._lowering.direct`), to show what the lowerings give."""

    def build() -> Prepared:
        import contextlib

        import jax
        import optax

        from jaxlayers.functional import _lowering

        model = make_model()
        opt = optax.adam(LR, eps=EPS)
        x_all = jax.device_put(random_images(n))
        params = model.init(jax.random.key(0), x_all[:1])["params"]
        state = [(params, opt.init(params))]

        def step(state, x_all, idx):
            params, opt_state = state
            x = x_all[idx]
            loss, grads = jax.value_and_grad(lambda p: bce(x, model.apply({"params": p}, x)))(params)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        step = jax.jit(step, donate_argnums=0)
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        with _lowering.direct() if lowerings == "direct" else contextlib.nullcontext():
            compiled = {size: step.lower(state[0], x_all, np.arange(size, dtype=np.int32)).compile()
                        for size in {BATCH, n % BATCH} - {0}}  # ahead of time: full and last partial batch
        compile_s = time.perf_counter() - start

        def run() -> None:
            perm = rng.permutation(n).astype(np.int32)
            s, loss = state[0], None
            for i in range(0, n, BATCH):
                idx = perm[i:i + BATCH]
                s, loss = compiled[len(idx)](s, x_all, idx)
            jax.block_until_ready(loss)
            state[0] = s

        return Prepared(run, compile_s=compile_s)

    return build


def flops_per_image(variant: str) -> dict[str, float | None]:
    """FLOPs of one training image: analytic (3x the forward conv FLOPs) and XLA's count."""
    import jax
    import optax

    analytic = 3 * 2 * sum(h * w * cin * cout * 9 for h, w, cin, cout in CONV_MACS[variant])
    xla = None
    try:
        model = jaxlayers_model(variant)
        opt = optax.adam(LR, eps=EPS)
        x = jax.ShapeDtypeStruct((BATCH, 28, 28, 1), np.float32)
        params = jax.eval_shape(lambda: model.init(jax.random.key(0), np.zeros((1, 28, 28, 1), np.float32))["params"])

        def step(params, x):
            grads = jax.grad(lambda p: bce(x, model.apply({"params": p}, x)))(params)
            updates, _ = opt.update(grads, opt.init(params), params)
            return optax.apply_updates(params, updates)

        cost = jax.jit(step).lower(params, x).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        xla = float(cost["flops"]) / BATCH if cost and "flops" in cost else None
    except Exception:
        pass
    return {"analytic": float(analytic), "xla_cost_analysis": xla}


# (output height, output width, in, out) of each 3x3 conv, transposed convs counted
# by their input grid (the MACs of a transposed conv are input cells x cin x cout x 9).
CONV_MACS = {
    "upsample": [(28, 28, 1, 16), (14, 14, 16, 8), (7, 7, 8, 4), (4, 4, 4, 4), (8, 8, 4, 8),
                 (14, 14, 8, 16), (28, 28, 16, 1)],
    "transpose": [(26, 26, 1, 16), (11, 11, 16, 8), (3, 3, 8, 4), (3, 3, 4, 4), (6, 6, 4, 8),
                  (12, 12, 8, 16), (28, 28, 16, 1)],
}


# --------------------------------------------------------------------- keras


def keras_model(keras, variant: str):
    """The tutorial's Keras model (the Keras summaries of notes 001/003)."""
    L = keras.layers
    inp = keras.Input((28, 28, 1))
    if variant == "upsample":
        x = inp
        for f in (16, 8, 4):
            x = L.MaxPooling2D(2, padding="same")(L.Conv2D(f, 3, activation="relu", padding="same")(x))
        x = L.UpSampling2D(2)(L.Conv2D(4, 3, activation="relu", padding="same")(x))
        x = L.UpSampling2D(2)(L.Conv2D(8, 3, activation="relu", padding="same")(x))
        x = L.UpSampling2D(2)(L.Conv2D(16, 3, activation="relu")(x))
        out = L.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    else:
        x = L.MaxPooling2D(2)(L.Conv2D(16, 3, activation="relu")(inp))
        x = L.MaxPooling2D(2)(L.Conv2D(8, 3, activation="relu")(x))
        x = L.Conv2D(4, 3, activation="relu")(x)
        x = L.UpSampling2D(2)(L.Conv2DTranspose(4, 3, activation="relu", padding="same")(x))
        x = L.UpSampling2D(2)(L.Conv2DTranspose(8, 3, activation="relu", padding="same")(x))
        x = L.UpSampling2D(2)(L.Conv2DTranspose(16, 3, activation="relu")(x))
        out = L.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inp, out)


class TimedFit:
    """`epoch()`: one `fit(epochs=1)` of a compiled Keras model on (x, y), returning the epoch's seconds
    (a callback's, so the timing leaves out `fit`'s set-up)."""

    def __init__(self, keras, model, x: np.ndarray, y: np.ndarray, batch_size: int):
        self.model, self.x, self.y, self.batch_size, self.seconds = model, x, y, batch_size, 0.0
        outer = self

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                outer.seconds = time.perf_counter() - self.start

        self.timer = Timer()

    def epoch(self) -> Elapsed:
        self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=1, shuffle=True, verbose=0,
                       callbacks=[self.timer])
        return Elapsed(self.seconds)


class KerasFit(TimedFit):
    """A compiled Keras autoencoder whose `epoch()` runs `fit(epochs=1)` and returns the epoch's seconds."""

    def __init__(self, keras, variant: str, n: int, steps_per_execution: int, seed: int = 0):
        keras.utils.set_random_seed(seed)
        x = random_images(n)
        model = keras_model(keras, variant)
        model.compile(optimizer=keras.optimizers.Adam(LR), loss="binary_crossentropy",
                      steps_per_execution=steps_per_execution)
        super().__init__(keras, model, x, x, BATCH)


def keras_jax_contender(variant: str, n: int, spe: int) -> Callable[[], Prepared]:
    def build() -> Prepared:
        keras = optional.keras_jax()
        if keras is None:
            raise RuntimeError("keras with the JAX backend is unavailable")
        return Prepared(KerasFit(keras, variant, n, spe).epoch)

    return build


# --------------------------------------------------------------------- torch


def torch_model(torch, variant: str):
    nn = torch.nn
    up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
    if variant == "upsample":
        layers = []
        for cin, cout in ((1, 16), (16, 8), (8, 4)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
        layers += [nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), up(), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), up(),
                   nn.Conv2d(8, 16, 3), nn.ReLU(), up(), nn.Conv2d(16, 1, 3, padding=1), nn.Sigmoid()]
    else:
        layers = [nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(8, 4, 3), nn.ReLU(),
                  nn.ConvTranspose2d(4, 4, 3, padding=1), nn.ReLU(), up(),
                  nn.ConvTranspose2d(4, 8, 3, padding=1), nn.ReLU(), up(),
                  nn.ConvTranspose2d(8, 16, 3), nn.ReLU(), up(),
                  nn.ConvTranspose2d(16, 1, 3, padding=1), nn.Sigmoid()]
    return nn.Sequential(*layers)


TORCH_LAYOUTS = ("NCHW", "channels_last")


def torch_name(layout: str, compile_mode: str | None) -> str:
    kind = "torch eager" if compile_mode is None else "torch.compile" + (
        "" if compile_mode == "default" else f" {compile_mode}")
    return f"{kind} ({layout})"


def torch_contender(variant: str, n: int, layout: str, compile_mode: str | None,
                    cuda: bool = False) -> Callable[[], Prepared]:
    """A plain PyTorch loop of the same model; `compile_mode` None (eager), "default"
    or "reduce-overhead" (CUDA graphs). On CUDA: fused Adam, data and shuffles on the
    GPU, `torch.cuda.synchronize()` at the end of the epoch.

    Compiled contenders pad the last partial batch to a full one with zero-weight rows
    (as experiments.train does), so one graph serves every step."""

    def build() -> Prepared:
        torch = optional.torch()
        if torch is None:
            raise RuntimeError("torch is not installed")
        device = torch.device("cuda" if cuda else "cpu")
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        torch.manual_seed(0)
        model = torch_model(torch, variant).to(device).to(memory_format=fmt)
        opt = torch.optim.Adam(model.parameters(), lr=LR, eps=EPS, **({"fused": True} if cuda else {}))
        x_all = torch.from_numpy(random_images(n)).reshape(n, 1, 28, 28).to(device)
        x_all = x_all.contiguous(memory_format=fmt)
        gen = torch.Generator(device=device).manual_seed(0)
        padded = compile_mode is not None

        def loss_of(x, w):
            p = model(x).clamp(EPS, 1 - EPS)
            per = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).mean(dim=(1, 2, 3))
            return (per * w).sum() / w.sum()

        loss_fn = loss_of if compile_mode is None else torch.compile(loss_of, mode=compile_mode, dynamic=False)
        ones = torch.ones(BATCH, device=device)
        graphs = compile_mode == "reduce-overhead"

        def step(x, w):
            if graphs:
                torch.compiler.cudagraph_mark_step_begin()
            loss = loss_fn(x, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        def run() -> None:
            perm = torch.randperm(n, device=device, generator=gen)
            loss = None
            for i in range(0, n, BATCH):
                idx = perm[i:i + BATCH]
                w = ones[:len(idx)]
                if padded and len(idx) < BATCH:
                    w = (torch.arange(BATCH, device=device) < len(idx)).float()
                    idx = torch.cat([idx, idx.new_zeros(BATCH - len(idx))])
                loss = step(x_all[idx], w)
            loss.item()
            if cuda:
                torch.cuda.synchronize()

        note = [layout, "CUDA" if cuda else "CPU"]
        if compile_mode is not None:
            note.append("inductor, first epoch compiles, last batch padded")
        return Prepared(run, note=", ".join(note))

    return build


def torch_contenders(variant: str, n: int, torch_compile: bool) -> list[Contender]:
    """PyTorch at its best: eager and torch.compile in both layouts; CUDA graphs on GPU.

    On CPU each runs in a subprocess of its own with OpenMP's default settings (its
    threads spin between ops, as in a plain PyTorch script; this process sets
    OMP_WAIT_POLICY=PASSIVE for the torch ops it runs beside JAX). On a GPU run they
    share this process and the GPU with JAX."""
    gpu = _jax_platform() == "gpu"
    torch = optional.torch()
    cuda = gpu and torch is not None and torch.cuda.is_available()
    modes: list[str | None] = [None]
    if torch_compile:
        modes += ["default"] + (["reduce-overhead"] if gpu else [])
    if gpu:
        return [Contender(torch_name(layout, mode), torch_contender(variant, n, layout, mode, cuda))
                for mode in modes for layout in TORCH_LAYOUTS]
    return [Contender(torch_name(layout, mode), worker_contender(
        "benchmarks.training",
        ["torch", "--variant", variant, "--images", str(n), "--layout", layout, "--compile", mode or "eager"])) for mode in modes for layout in TORCH_LAYOUTS]


def _jax_platform() -> str:
    import jax

    return jax.default_backend()


# ----------------------------------------------------------------------- run


def contenders_for(variant: str, n: int, keras_torch: bool = True, torch_compile: bool = True,
                   variations: bool = True) -> list[Contender]:
    """Every contender for `variant`; variations=False leaves out those that only change a
    setting of another one (the other loop, lax lowerings, XLA's default fusions, Keras
    with the fusion option): the smoke run checks every code path, not every setting."""
    import jax  # here, not at import: the Keras worker subprocess needs neither

    from experiments.config import CPU_FUSIONS, LOOPS, resolve_loop

    platform = jax.default_backend()
    auto = resolve_loop("auto", platform)
    cs = [Contender(JAXLAYERS, experiments_contender(variant, n))]
    if variations:
        cs += [Contender(f"jaxlayers (experiments.train, loop={loop})", experiments_contender(variant, n, loop=loop))
               for loop in LOOPS if loop not in ("auto", auto)]
    cs.append(Contender("jaxlayers (plain loop)", plain_jax_contender(lambda: jaxlayers_model(variant), n)))
    if variations:
        cs.append(Contender("jaxlayers (plain loop, lax lowerings)",
                            plain_jax_contender(lambda: jaxlayers_model(variant), n, lowerings="direct")))
    cs += [
        Contender("flax built-ins (plain loop)", plain_jax_contender(lambda: flax_builtin_model(variant), n)),
        Contender("keras fit (jax, spe=1)", keras_jax_contender(variant, n, 1)),
        Contender("keras fit (jax, spe=50)", keras_jax_contender(variant, n, 50)),
    ]
    if platform == "cpu" and variations:
        # How much of the margin is the XLA:CPU option experiments.train sets for its own
        # programs (CPU_FUSIONS): jaxlayers without it, and Keras with it (process-wide);
        # and how much is the batch sharded over one CPU device per core.
        cs.insert(1, Contender("jaxlayers (XLA default fusions)", experiments_contender(variant, n, "default")))
        if jax.device_count() > 1:
            cs.insert(1, Contender("jaxlayers (experiments.train, 1 device)",
                                   experiments_contender(variant, n, devices=1)))
        flags = " ".join(f"--{k}={v}" for k, v in CPU_FUSIONS["dots"].items())
        cs.append(Contender("keras fit (jax, spe=1, dots-only fusions)", worker_contender(
            "benchmarks.training", ["keras", "--variant", variant, "--images", str(n)],
            {"KERAS_BACKEND": "jax", "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()})))
    if keras_torch and platform == "cpu":
        cs.append(Contender("keras fit (torch)", worker_contender(
            "benchmarks.training", ["keras", "--variant", variant, "--images", str(n)], {"KERAS_BACKEND": "torch"})))
    if optional.torch() is not None:
        cs += torch_contenders(variant, n, torch_compile)
    return cs


def run(images: int, repeats: int, peak_flops: float | None, keras_torch: bool = True, torch_compile: bool = True,
        variants: tuple[str, ...] = VARIANTS, log: Callable[[str], None] = print,
        deadline: Deadline | None = None, variations: bool = True) -> list[dict]:
    records = []
    for variant in variants:
        if deadline is not None and deadline.passed():
            records.append({"variant": variant, "images": images, "batch": BATCH, "note": SKIPPED, "results": {}})
            continue
        cs = contenders_for(variant, images, keras_torch, torch_compile, variations)
        log(f"  {variant} autoencoder, {images:,} images/epoch: {', '.join(c.name for c in cs)}")
        stats = measure(cs, repeats=repeats, warmup=1, deadline=deadline)
        log("    " + "; ".join(f"{name} {images / st.median:,.0f} img/s" if st.median else f"{name} failed: {st.error}"
                                   for name, st in stats.items()))
        flops = flops_per_image(variant)
        per_image = flops["analytic"]
        base = stats[JAXLAYERS].median
        results = {}
        for name, st in stats.items():
            rec = {**st.__dict__, "images_per_second": images / st.median if st.median else None}
            rec["images_per_second_min_max"] = [images / st.max, images / st.min] if st.median else None
            rec["jaxlayers_speedup"] = st.median / base if st.median and base else None
            rec["fraction_of_peak"] = (per_image * rec["images_per_second"] / peak_flops
                                       if rec["images_per_second"] and peak_flops else None)
            results[name] = rec
        if optional.torch() is None:
            results["torch eager (NCHW)"] = {"error": "torch is not installed: skipped"}
        records.append({"variant": variant, "images": images, "batch": BATCH, "flops_per_image": flops,
                        "results": results})
    return records


# -------------------------------------------------------------------- worker


def _worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=("keras", "torch"))
    p.add_argument("--variant", required=True)
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--spe", type=int, default=1)
    p.add_argument("--layout", choices=TORCH_LAYOUTS, default="NCHW")
    p.add_argument("--compile", choices=("eager", "default"), default="eager")
    a = p.parse_args(argv)

    def make() -> tuple[Callable[[], Any], str]:
        if a.kind == "keras":
            import keras

            return KerasFit(keras, a.variant, a.images, a.spe).epoch, f"subprocess, backend {keras.backend.backend()}"
        prepared = torch_contender(a.variant, a.images, a.layout, None if a.compile == "eager" else a.compile)()
        return prepared.run, f"subprocess, {prepared.note}"

    return serve_worker(make)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(_worker(sys.argv[2:]))
    print("internal: use `python -m benchmarks.run --only training`", file=sys.stderr)
    sys.exit(2)
