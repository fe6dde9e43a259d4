"""Layer op benchmarks: jaxlayers against Flax built-ins, keras.ops (JAX) and PyTorch eager.

Every JAX contender is jitted; forward is the op, forward+backward is the op and its
VJP with respect to the input and the parameters, for a random cotangent passed in
as an argument. (With the gradient of a plain `sum()` instead, the cotangent is a
constant, and for linear ops such as average pooling and upsampling XLA folds the
whole backward pass into a constant: that would time nothing.) Torch runs eager,
forward under `no_grad`, forward+backward with `torch.autograd.grad` for a random
cotangent; its layout (NCHW or channels_last) is whichever is faster for that case,
chosen during warm-up and named in the note. On the CPU torch runs in a process of its
own with OpenMP's defaults (`timing.worker_contender`; `python -m benchmarks.layers
--worker torch ...`); on a GPU run, in this process on CUDA, every call ending with
`torch.cuda.synchronize()`.

Where an op has an exact alternative lowering (`jaxlayers.functional._lowering`),
the one this backend does not choose runs too, as "jaxlayers (lax path)" or
"jaxlayers (fast path)": the measurements the per-backend choices are made from.
"""
from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import contenders as optional
from benchmarks.timing import (Contender, Deadline, Prepared, fastest_of, jax_prepared, measure, serve_worker,
                               worker_contender)

JAXLAYERS = "jaxlayers"
CONVS = ("conv", "conv_few", "conv_in1", "conv_1x1", "conv_stem")  # the plain conv ops (same padding)
# The lowering choices each op's jaxlayers path depends on (see jaxlayers.functional._lowering).
CHOICES_OF = {
    "conv_few": ("shift_sum",), "conv_in1": ("tap_sum",), "conv_t1v": ("explicit_pad",), "conv_t2": ("subpixel",),
    "max_pool": ("block_pool",), "avg_pool": ("block_pool",), "unpool": ("block_pool",),
    "nearest": ("broadcast_upsample",), "dwconv": ("depthwise_shift",), "dwconv_s2": ("depthwise_shift",),
    "conv_1x1": ("shift_sum",), "conv_stem": ("tap_sum",),
}


@dataclasses.dataclass(frozen=True)
class Op:
    key: str
    title: str
    out_channels: bool = False  # whether the op takes a kernel (conv family)
    stride: int = 1
    output_padding: int | None = None
    padding: str = "same"  # conv family: Keras padding
    filters: int | None = None  # conv family: fixed filters in every case (None: as many as channels)
    channels: int | None = None  # fixed input channels in every case (None: the case's)
    depthwise: bool = False  # a depthwise conv (one 3x3 filter per channel)
    kernel: int = 3  # conv family: the kernel size on each axis


OPS = (
    Op("conv", "conv2d 3x3 same", out_channels=True),
    Op("conv_few", "conv2d 3x3 same, 1 filter", out_channels=True, filters=1),
    Op("conv_in1", "conv2d 3x3 same, 1 input channel", out_channels=True, filters=16, channels=1),
    Op("conv_t1", "conv transpose 3x3 s1 same", out_channels=True),
    Op("conv_t1v", "conv transpose 3x3 s1 valid", out_channels=True, padding="valid"),
    Op("conv_t2", "conv transpose 3x3 s2 same op=1", out_channels=True, stride=2, output_padding=1),
    Op("max_pool", "max pool 2x2"),
    Op("avg_pool", "avg pool 3x3 s2 same"),
    Op("nearest", "upsample nearest x2"),
    Op("bed_of_nails", "upsample bed-of-nails x2"),
    Op("unpool", "max_pool_with_indices + max_unpool 2x2"),
)
# MobileNetV2's depthwise convs, a 1x1 expansion and its first conv (timed at its own shapes
# only, not at the autoencoder or large shapes).
MOBILENETV2_OPS = {
    "dwconv": Op("dwconv", "depthwise conv2d 3x3 same", depthwise=True),
    "dwconv_s2": Op("dwconv_s2", "depthwise conv2d 3x3 s2 same", stride=2, depthwise=True),
    "conv_1x1": Op("conv_1x1", "conv2d 1x1 (expansion)", out_channels=True, kernel=1),
    "conv_stem": Op("conv_stem", "conv2d 3x3 s2 same (RGB stem)", out_channels=True, stride=2),
}

# Inputs (batch, height, width, channels[, conv filters]) taken from the two MNIST
# autoencoders at batch 256, and a larger image case.
AUTOENCODER_SHAPES = {
    "conv": (256, 14, 14, 16, 8),        # encoder conv 2 (upsampling model)
    "conv_few": (256, 28, 28, 16, 1),    # the reconstruction conv of both models (shift-sum lowering)
    "conv_in1": (256, 28, 28, 1, 16),    # the first conv of both models (tap-sum lowering)
    "conv_t1": (256, 12, 12, 8, 16),     # decoder transpose 2 (transpose model), same padding
    "conv_t1v": (256, 12, 12, 8, 16),    # decoder transpose 3 (transpose model), valid: 12 -> 14 (explicit pad)
    "conv_t2": (256, 14, 14, 16, 16),    # an upsampling x2 + conv pair as one strided transpose
    "max_pool": (256, 28, 28, 16),       # encoder pool 1
    "avg_pool": (256, 28, 28, 16),
    "nearest": (256, 14, 14, 16),        # decoder upsampling 3
    "bed_of_nails": (256, 14, 14, 16),
    "unpool": (256, 28, 28, 16),
}
# MobileNetV2's convs at batch 32 (ImageNet resolution, alpha 1): the depthwise convs of an
# expanded block at 56x56x144, stride 1 and stride 2 (blocks 2 and 3), and of block 1 at
# 112x112x32; block 2's 1x1 expansion, 24 -> 144 channels at 56x56; the first conv, 3 -> 32
# channels at 224x224, stride 2.
MOBILENETV2_SHAPES = [("dwconv", (32, 56, 56, 144)), ("dwconv_s2", (32, 56, 56, 144)), ("dwconv", (32, 112, 112, 32)),
                      ("conv_1x1", (32, 56, 56, 24, 144)), ("conv_stem", (32, 224, 224, 3, 32))]
SIZES = {
    "full": {"autoencoder": AUTOENCODER_SHAPES, "large": (64, 224, 224, 32), "mobilenetv2": MOBILENETV2_SHAPES},
    "quick": {"autoencoder": AUTOENCODER_SHAPES, "large": (16, 64, 64, 32), "mobilenetv2": MOBILENETV2_SHAPES},
    "smoke": {"autoencoder": {**{k: (4, 8, 8, 4, 4)[: len(v)] for k, v in AUTOENCODER_SHAPES.items()},
                              "conv_few": (4, 8, 8, 12, 1), "conv_in1": (4, 8, 8, 1, 4)}, "large": None,
              "mobilenetv2": [("dwconv", (4, 8, 8, 8)), ("dwconv_s2", (4, 8, 8, 8)), ("conv_1x1", (4, 8, 8, 4, 8)),
                              ("conv_stem", (4, 8, 8, 3, 8))]},
}


def case_shapes(size: str) -> list[tuple[str, Op, tuple[int, ...]]]:
    """(case name, op, shape) for every op at every size of this run."""
    spec = SIZES[size]
    cases = [("autoencoder", op, spec["autoencoder"][op.key]) for op in OPS]
    if spec["large"] is not None:
        *image, channels = spec["large"]
        cases += [("large", op, (*image, op.channels or channels, op.filters or channels) if op.out_channels
                   else (*image, channels)) for op in OPS]
    cases += [("mobilenetv2", MOBILENETV2_OPS[key], shape) for key, shape in spec["mobilenetv2"]]
    return cases


# ----------------------------------------------------------------------- JAX


def jax_contenders(op: Op, shape: tuple[int, ...], dtype: Any) -> dict[str, tuple[Callable, dict]]:
    """name -> (f(params, x), params) for every JAX contender of `op`."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from jaxlayers import functional as F

    rng = np.random.default_rng(1)
    n, h, w, c = shape[:4]
    x = jnp.zeros((n, h, w, c), dtype)
    keras = optional.keras_jax()
    kops = keras.ops if keras is not None else None
    out: dict[str, tuple[Callable, dict]] = {}

    def param(*dims: int) -> jax.Array:
        return jnp.asarray(rng.normal(0, 0.1, dims), dtype)

    if op.key in CONVS:
        f, k, s = shape[4], op.kernel, op.stride
        p = {"k": param(k, k, c, f), "b": param(f)}
        out[JAXLAYERS] = (lambda p, x: F.conv(x, p["k"], p["b"], strides=s, padding="same"), p)
        m = nn.Conv(f, (k, k), strides=(s, s), padding="SAME", dtype=dtype, param_dtype=dtype)
        out["flax nn.Conv"] = (lambda p, x: m.apply({"params": p}, x), m.init(jax.random.key(0), x)["params"])
        if kops:
            out["keras.ops.conv"] = (lambda p, x: kops.conv(x, p["k"], strides=s, padding="same") + p["b"], p)
    elif op.key.startswith("conv_t"):
        f, s, extra, padding = shape[4], op.stride, op.output_padding, op.padding
        p = {"k": param(3, 3, f, c), "b": param(f)}
        out[JAXLAYERS] = (
            lambda p, x: F.conv_transpose(x, p["k"], p["b"], strides=s, padding=padding, output_padding=extra), p)
        m = nn.ConvTranspose(f, (3, 3), strides=(s, s), padding=padding.upper(), transpose_kernel=True,
                             dtype=dtype, param_dtype=dtype)
        out["flax nn.ConvTranspose"] = (lambda p, x: m.apply({"params": p}, x), m.init(jax.random.key(0), x)["params"])
        if kops:
            out["keras.ops.conv_transpose"] = (
                lambda p, x: kops.conv_transpose(x, p["k"], strides=s, padding=padding, output_padding=extra) + p["b"],
                p)
    elif op.depthwise:  # Keras's kernel (3, 3, C, 1); Flax's grouped conv kernel (3, 3, 1, C)
        s = op.stride
        p = {"k": param(3, 3, c, 1), "b": param(c)}
        out[JAXLAYERS] = (lambda p, x: F.depthwise_conv(x, p["k"], p["b"], strides=s, padding="same"), p)
        m = nn.Conv(c, (3, 3), strides=(s, s), padding="SAME", feature_group_count=c, dtype=dtype, param_dtype=dtype)
        out["flax nn.Conv (groups=C)"] = (lambda p, x: m.apply({"params": p}, x),
                                          m.init(jax.random.key(0), x)["params"])
        if kops:
            out["keras.ops.depthwise_conv"] = (
                lambda p, x: kops.depthwise_conv(x, p["k"], strides=s, padding="same") + p["b"], p)
    elif op.key == "max_pool":
        out[JAXLAYERS] = (lambda p, x: F.max_pool(x, 2), {})
        out["flax nn.max_pool"] = (lambda p, x: nn.max_pool(x, (2, 2), (2, 2)), {})
        if kops:
            out["keras.ops.max_pool"] = (lambda p, x: kops.max_pool(x, 2, 2), {})
    elif op.key == "avg_pool":
        out[JAXLAYERS] = (lambda p, x: F.avg_pool(x, 3, 2, "same"), {})
        out["flax nn.avg_pool"] = (
            lambda p, x: nn.avg_pool(x, (3, 3), (2, 2), "SAME", count_include_pad=False), {})
        if kops:
            out["keras.ops.average_pool"] = (lambda p, x: kops.average_pool(x, 3, 2, "same"), {})
    elif op.key == "nearest":
        out[JAXLAYERS] = (lambda p, x: F.upsample(x, 2), {})
        out["jax.image.resize"] = (lambda p, x: jax.image.resize(x, (n, 2 * h, 2 * w, c), "nearest"), {})
        if kops:  # what keras.layers.UpSampling2D does
            out["keras.ops.repeat"] = (lambda p, x: kops.repeat(kops.repeat(x, 2, axis=1), 2, axis=2), {})
    elif op.key == "bed_of_nails":
        out[JAXLAYERS] = (lambda p, x: F.upsample(x, 2, "bed_of_nails"), {})
        out["jnp .at[::2,::2].set"] = (
            lambda p, x: jnp.zeros((n, 2 * h, 2 * w, c), x.dtype).at[:, ::2, ::2].set(x), {})
    elif op.key == "unpool":
        def unpool(p, x):
            y, i = F.max_pool_with_indices(x, 2)
            return F.max_unpool(y, i, x.shape)
        out[JAXLAYERS] = (unpool, {})
    out.update(lowering_alternatives(op, *out[JAXLAYERS]))
    return out


def lowering_alternatives(op: Op, fn: Callable, params: dict) -> dict[str, tuple[Callable, dict]]:
    """The jaxlayers op on the path this backend does not take ("lax path": every choice
    "never"; "fast path": every choice "auto"), where that differs from the default."""
    from jaxlayers.functional import _lowering

    out = {}
    for label, mode in (("lax path", "never"), ("fast path", "auto")):
        choices = CHOICES_OF.get(op.key, ())
        if any(_lowering.mode(c) != mode for c in choices):
            modes = {c: mode for c in choices}

            def traced(p, x, modes=modes):
                with _lowering.forced(**modes):
                    return fn(p, x)

            out[f"{JAXLAYERS} ({label})"] = (traced, params)
    return out


def jax_build(fn: Callable, params: dict, x: Any, backward: bool) -> Callable[[], Prepared]:
    import jax
    import jax.numpy as jnp

    if not backward:
        return lambda: jax_prepared(fn, params, x)

    def forward_backward(p, x, cotangent):
        y, vjp = jax.vjp(fn, p, x)
        return y, vjp(cotangent.astype(y.dtype))

    out = jax.eval_shape(fn, params, x)
    cotangent = jnp.asarray(np.random.default_rng(2).normal(size=out.shape), jnp.float32)
    return lambda: jax_prepared(forward_backward, params, x, cotangent)


# --------------------------------------------------------------------- torch


def torch_contender(op: Op, shape: tuple[int, ...], dtype: str, backward: bool,
                    device: str = "cpu") -> tuple[str, Callable[[], Prepared]] | None:
    """(name, build) for torch's version of `op` on `device`, or None where torch has no such op."""
    torch = optional.torch()
    if torch is None:
        return None
    import torch.nn.functional as TF

    n, h, w, c = shape[:4]
    rng = np.random.default_rng(1)
    tdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    s = op.stride
    if op.depthwise:  # what nn.Conv2d(C, C, 3, groups=C) calls; stride 2: padding 1 each side (see RESULTS)
        name, weights = "torch F.conv2d (groups=C)", [(c, 1, 3, 3), (c,)]
        f = lambda x, wt, b: TF.conv2d(x, wt, b, stride=s, padding=1, groups=c)  # noqa: E731
    elif op.key in CONVS:
        k = op.kernel
        name, weights = "torch F.conv2d", [(shape[4], c, k, k), (shape[4],)]  # stride 2: padding 1 each side
        f = lambda x, wt, b: TF.conv2d(x, wt, b, stride=s, padding=k // 2)  # noqa: E731
    elif op.key.startswith("conv_t"):
        name, weights = "torch F.conv_transpose2d", [(c, shape[4], 3, 3), (shape[4],)]
        extra, padding = op.output_padding or 0, {"same": 1, "valid": 0}[op.padding]
        f = lambda x, wt, b: TF.conv_transpose2d(x, wt, b, stride=s, padding=padding, output_padding=extra)  # noqa: E731
    elif op.key == "max_pool":
        name, weights, f = "torch F.max_pool2d", [], lambda x: TF.max_pool2d(x, 2)
    elif op.key == "avg_pool":
        name, weights = "torch F.avg_pool2d", []
        f = lambda x: TF.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False)  # noqa: E731
    elif op.key == "nearest":
        name, weights = "torch F.interpolate", []
        f = lambda x: TF.interpolate(x, scale_factor=2, mode="nearest")  # noqa: E731
    elif op.key == "unpool":
        name, weights = "torch max_pool2d+max_unpool2d", []

        def f(x):
            y, i = TF.max_pool2d(x, 2, return_indices=True)
            return TF.max_unpool2d(y, i, 2)
    else:
        return None
    x_np = rng.normal(size=(n, c, h, w)).astype(np.float32)
    w_np = [rng.normal(0, 0.1, d).astype(np.float32) for d in weights]

    def variant(channels_last: bool) -> Callable[[], Prepared]:
        def build() -> Prepared:
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            x = torch.from_numpy(x_np).to(device, tdtype).contiguous(memory_format=fmt)
            ws = [torch.from_numpy(a).to(device, tdtype) for a in w_np]
            ws = [a.contiguous(memory_format=fmt) if a.ndim == 4 else a for a in ws]
            if not backward:
                def call():
                    with torch.no_grad():
                        return f(x, *ws)
            else:
                inputs = [t.requires_grad_() for t in (x, *ws)]
                with torch.no_grad():
                    cotangent = torch.randn_like(f(*inputs))

                def call():
                    y = f(*inputs)
                    return torch.autograd.grad(y, inputs, cotangent)

            def run():
                out = call()
                if device == "cuda":
                    torch.cuda.synchronize()
                return out
            return Prepared(run)
        return build

    return name, fastest_of({"channels_last": variant(True), "NCHW": variant(False)})


# ----------------------------------------------------------------------- run


GROUPS = ("autoencoder", "mobilenetv2", "large")


def run(size: str, platform: str, repeats: int, min_sample_s: float, log: Callable[[str], None] = print,
        deadline: Deadline | None = None, groups: tuple[str, ...] = GROUPS) -> list[dict]:
    """Every case of `groups` as JSON-ready records, most telling first: forward+backward at
    the autoencoder shapes (float32, then bfloat16 on accelerators), then MobileNetV2's
    convs, then the large shape, then forward (smoke: forward+backward
    only); cases left when `deadline` passes are recorded as skipped."""
    import jax.numpy as jnp

    dtypes = ["float32"] + (["bfloat16"] if platform in ("gpu", "tpu") else [])
    torch_device = _torch_device(platform)
    records = []
    cases = case_shapes(size)
    order = [(backward, dtype, case, op, shape) for backward in ((True,) if size == "smoke" else (True, False))
             for group in groups for dtype in dtypes
             for case, op, shape in cases if case == group]
    for backward, dtype, case, op, shape in order:
        mode = "fwd+bwd" if backward else "fwd"
        record = {"case": case, "op": op.key, "title": op.title, "shape": list(shape), "dtype": dtype,
                  "mode": mode, "note": ""}
        if deadline is not None and deadline.passed():
            records.append({**record, "note": "skipped: time budget", "results": {}})
            continue
        x = jnp.asarray(np.random.default_rng(0).normal(size=shape[:4]), getattr(jnp, dtype))
        fns = jax_contenders(op, shape, getattr(jnp, dtype))
        contenders = [Contender(name, jax_build(fn, p, x, backward)) for name, (fn, p) in fns.items()]
        if torch_device is None:
            record["note"] = "torch not installed" if optional.torch() is None else "no torch for this device"
        else:
            tc = torch_contender(op, shape, dtype, backward, torch_device)
            if tc is not None:
                contenders.append(Contender(tc[0], tc[1] if torch_device != "cpu" else worker_contender(
                    "benchmarks.layers", ["torch", size, case, op.key, ",".join(map(str, shape)), dtype, str(backward)])))
        log(f"  {op.title} {case} {shape} {dtype} {mode}: {', '.join(c.name for c in contenders)}")
        record["results"] = measure_results(contenders, repeats, min_sample_s, log, deadline)
        records.append(record)
    return records


def _torch_device(platform: str) -> str | None:
    """Where torch runs beside JAX's `platform`: the CPU, CUDA on a GPU run, else nowhere."""
    torch = optional.torch()
    if torch is None:
        return None
    if platform == "cpu":
        return "cpu"
    return "cuda" if platform == "gpu" and torch.cuda.is_available() else None


def measure_results(contenders: list[Contender], repeats: int, min_sample_s: float,
                    log: Callable[[str], None], deadline: Deadline | None) -> dict:
    """Time `contenders` side by side, log each median with its ratio to jaxlayers', and return
    the records by contender name."""
    stats = measure(contenders, repeats=repeats, warmup=2, min_sample_s=min_sample_s, deadline=deadline)
    base = stats[JAXLAYERS].median
    log("    " + "; ".join(f"{name} {st.median * 1e3:.3g} ms" + (f" ({st.median / base:.2f}x)" if base else "")
                           if st.median else f"{name} failed" for name, st in stats.items()))
    return {name: _record(st, base) for name, st in stats.items()}


def _record(st, base: float | None) -> dict:
    rec = dataclasses.asdict(st)
    # How many times faster jaxlayers is than this contender (> 1: jaxlayers faster).
    rec["jaxlayers_speedup"] = st.median / base if st.median and base else None
    return rec


def torch_worker(argv: list[str]) -> int:
    """`python -m benchmarks.layers --worker torch SIZE CASE OP SHAPE DTYPE BACKWARD`: a case's torch
    contender on the CPU in a process of its own (`timing.worker_env`), served to `worker_contender`."""
    size, case, key, shape, dtype, backward = argv[1:]
    (op,) = [o for c, o, s in case_shapes(size) if c == case and o.key == key and ",".join(map(str, s)) == shape]
    _, build = torch_contender(op, tuple(map(int, shape.split(","))), dtype, backward == "True")

    def make() -> tuple[Callable[[], Any], str]:
        prepared = build()
        return prepared.run, ", ".join(filter(None, ["subprocess", prepared.note]))

    return serve_worker(make)


if __name__ == "__main__":
    if sys.argv[1:3] == ["--worker", "torch"]:
        sys.exit(torch_worker(sys.argv[2:]))
    sys.exit("internal: use `python -m benchmarks.run --only layers`")
