"""Proposal evidence: stride-2 conv transpose by 4 phase (sub-pixel) convs vs lax lhs_dilation.

Run: python benchmarks/proposals/conv_transpose_subpixel.py (3x3, stride 2, same, output_padding 1 only;
a real version would generalise the phase/tap split to any kernel, stride, padding and output_padding).
"""
import time, jax, jax.numpy as jnp, numpy as np
from jax import lax
import flax.linen as nn
from jaxlayers import functional as F

def convT_subpixel(x, k, b):
    """stride 2, 3x3, padding same, output_padding 1 (Keras layout k: (3,3,out,in)) via 4 phase convs.

    out[2i+a] = sum over taps t = a (mod 2) of k[t] x[i - (t - a)/2]: each output phase is a
    stride-1 VALID conv of x (padded by one zero in front) with a 1- or 2-tap sub-kernel.
    """
    n, h, w, c = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 0), (1, 0), (0, 0)))
    def taps(a):  # [(offset d, tap t)] by ascending input offset
        return sorted(((-(t - a) // 2, t) for t in range(3) if (t - a) % 2 == 0))
    outs = []
    for a in (0, 1):
        row = []
        for bb in (0, 1):
            th, tw = taps(a), taps(bb)
            sub = k[np.array([t for _, t in th])][:, np.array([t for _, t in tw])]
            dh, dw = th[0][0], tw[0][0]
            xs = xp[:, 1 + dh:1 + dh + h + len(th) - 1, 1 + dw:1 + dw + w + len(tw) - 1]
            row.append(lax.conv_general_dilated(xs, jnp.swapaxes(sub, 2, 3), (1, 1), "VALID",
                                                dimension_numbers=("NHWC", "HWIO", "NHWC")))
        outs.append(jnp.stack(row, axis=3))
    y = jnp.stack(outs, axis=2)
    return y.reshape(n, 2 * h, 2 * w, -1) + b

rng = np.random.default_rng(0)
for shape in [(256, 14, 14, 16), (16, 64, 64, 32)]:
    n, h, w, c = shape
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    k = jnp.asarray(rng.normal(size=(3, 3, c, c)) * 0.1, jnp.float32); b = jnp.zeros(c)
    ref = F.conv_transpose(x, k, b, strides=2, padding="same", output_padding=1)
    got = convT_subpixel(x, k, b)
    print(shape, "max abs diff", float(jnp.abs(ref - got).max()))
    fns = {"jaxlayers F.conv_transpose": lambda p, x: F.conv_transpose(x, p[0], p[1], strides=2, padding="same", output_padding=1),
           "sub-pixel (4 phase convs)": lambda p, x: convT_subpixel(x, p[0], p[1])}
    comp = {}
    for name, f in fns.items():
        for mode in ("fwd", "fwd+bwd"):
            g = f if mode == "fwd" else jax.grad(lambda p, x, f=f: f(p, x).sum(), argnums=(0, 1))
            comp[(name, mode)] = jax.jit(g).lower((k, b), x).compile()
            jax.block_until_ready(comp[(name, mode)]((k, b), x))
    times = {key: [] for key in comp}
    for r in range(5):
        for key, c_ in comp.items():
            t = time.perf_counter(); jax.block_until_ready(c_((k, b), x)); times[key].append(time.perf_counter() - t)
    for key, ts in times.items():
        print(f"  {key[0]:28s} {key[1]:8s} median {np.median(ts)*1e3:8.1f} ms  min {min(ts)*1e3:8.1f} ms")
# grads agree?
x = jnp.asarray(rng.normal(size=(4, 7, 7, 3)), jnp.float32); k = jnp.asarray(rng.normal(size=(3, 3, 5, 3)), jnp.float32); b = jnp.zeros(5)
g1 = jax.grad(lambda p, x: (F.conv_transpose(x, p[0], p[1], strides=2, padding="same", output_padding=1) ** 2).sum(), argnums=(0, 1))((k, b), x)
g2 = jax.grad(lambda p, x: (convT_subpixel(x, p[0], p[1]) ** 2).sum(), argnums=(0, 1))((k, b), x)
print("grad diffs", [float(jnp.abs(a - b_).max()) for a, b_ in zip(jax.tree.leaves(g1), jax.tree.leaves(g2))])
