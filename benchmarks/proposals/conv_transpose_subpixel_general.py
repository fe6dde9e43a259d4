"""Timing: F.conv_transpose general (lhs-dilated) vs sub-pixel lowering, jitted, interleaved.

Run: python benchmarks/proposals/conv_transpose_subpixel_general.py [reps]
"""
import sys, time
import jax, jax.numpy as jnp, numpy as np
from jaxlayers.functional.conv import conv_transpose

REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
CONFIGS = [  # (x shape, kernel size, filters, strides, padding, output_padding)
    ((256, 14, 14, 16), (3, 3), 16, 2, "same", 1),
    ((256, 7, 7, 8), (3, 3), 8, 2, "valid", None),
    ((16, 64, 64, 32), (3, 3), 32, 2, "same", None),
]
if len(sys.argv) > 2:
    CONFIGS = eval(sys.argv[2])
rng = np.random.default_rng(0)
for shape, ks, f, s, padding, op in CONFIGS:
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    k = jnp.asarray(rng.normal(size=(*ks, f, shape[-1])) * 0.1, jnp.float32)
    b = jnp.zeros(f)
    comp = {}
    for low in ("dilated", "subpixel"):
        fn = lambda k, b, x, low=low: conv_transpose(x, k, b, strides=s, padding=padding, output_padding=op, _lowering=low)
        y = jax.eval_shape(fn, k, b, x)
        ct = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
        def fb(k, b, x, fn=fn, ct=ct):
            out, vjp = jax.vjp(fn, k, b, x)
            return vjp(ct)
        for mode, g in (("fwd", fn), ("fwd+bwd", fb)):
            c = jax.jit(g).lower(k, b, x).compile()
            jax.block_until_ready(c(k, b, x)); comp[(low, mode)] = c
    times = {key: [] for key in comp}
    for _ in range(REPS):
        for key, c in comp.items():
            t = time.perf_counter(); jax.block_until_ready(c(k, b, x)); times[key].append(time.perf_counter() - t)
    print(f"{shape} k{ks} f{f} s{s} {padding} op={op}  [{jax.devices()[0].platform}]")
    for mode in ("fwd", "fwd+bwd"):
        d, sp = (np.median(times[(l, mode)]) * 1e3 for l in ("dilated", "subpixel"))
        print(f"  {mode:8s} dilated {d:8.2f} ms  subpixel {sp:8.2f} ms  speedup {d / sp:5.2f}x")
