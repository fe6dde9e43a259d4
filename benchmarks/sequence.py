"""Sequence layer benchmarks (`python -m benchmarks.run --only sequence`): LSTM, GRU and
MultiHeadAttention forward+backward, jaxlayers against Flax, Keras 3 on JAX and PyTorch eager.

Every case is the layer's output and its VJP with respect to the input and every weight,
for a random cotangent (the gradient of `sum(cotangent * y)`), jitted for the JAX
contenders (`layers.jax_build`), `torch.autograd.grad` for torch (oneDNN on the CPU, in a
process of its own with OpenMP's defaults; CUDA on a GPU run). Shapes: LSTM/GRU x (64, 100, 64) -> 128 units, every step's output;
MultiHeadAttention self-attention on (32, 128, 128), 4 heads of key_dim 32. The records
are those of `benchmarks.layers` (one table, 'jl speedup' = contender / jaxlayers time).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import contenders as optional
from benchmarks.layers import JAXLAYERS, _torch_device, jax_build, measure_results
from benchmarks.timing import Contender, Deadline, Prepared, serve_worker, worker_contender

# (batch, time, features, units) for the recurrent cases; (batch, tokens, heads, key_dim) for attention.
SHAPES = {
    "full": {"lstm": (64, 100, 64, 128), "gru": (64, 100, 64, 128), "mha": (32, 128, 4, 32)},
    "smoke": {"lstm": (4, 6, 5, 8), "mha": (2, 8, 2, 4)},  # GRU's contenders are LSTM's, another class
}
SHAPES["quick"] = SHAPES["full"]
TITLES = {"lstm": "LSTM (every step's output)", "gru": "GRU (reset_after, every step's output)",
          "mha": "MultiHeadAttention (self-attention)"}


def _keras_layer(key: str, shape: tuple[int, ...]) -> Any:
    keras = optional.keras_jax()
    if keras is None:
        return None
    batch, time, features, units = shape
    if key == "mha":
        layer = keras.layers.MultiHeadAttention(features, units)
        x = np.zeros((batch, time, features * units), np.float32)
        layer(x, x)
    else:
        layer = (keras.layers.LSTM if key == "lstm" else keras.layers.GRU)(units, return_sequences=True)
        layer(np.zeros((batch, time, features), np.float32))
    return layer


def jax_contenders(key: str, shape: tuple[int, ...]) -> dict[str, tuple[Callable, Any, Any]]:
    """name -> (f(params, x), params, x) for every JAX contender of case `key`."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from jaxlayers import linen as L

    batch, time, features, units = shape
    dim = features * units if key == "mha" else features  # attention: heads * key_dim features
    x = jnp.asarray(np.random.default_rng(0).normal(size=(batch, time, dim)), jnp.float32)
    init = jax.random.key(0)
    if key == "mha":
        ours = L.MultiHeadAttention(features, units)
        flax = nn.MultiHeadDotProductAttention(num_heads=features, qkv_features=dim)
        out = {JAXLAYERS: (lambda p, x: ours.apply(p, x, x), ours.init(init, x, x), x),
               "flax nn.MultiHeadDotProductAttention": (lambda p, x: flax.apply(p, x), flax.init(init, x), x)}
    else:
        ours = (L.LSTM if key == "lstm" else L.GRU)(units, return_sequences=True)
        flax = nn.RNN(nn.OptimizedLSTMCell(units) if key == "lstm" else nn.GRUCell(units))
        out = {JAXLAYERS: (lambda p, x: ours.apply(p, x), ours.init(init, x), x),
               f"flax nn.RNN({'OptimizedLSTMCell' if key == 'lstm' else 'GRUCell'})":
                   (lambda p, x: flax.apply(p, x), flax.init(init, x), x)}
    layer = _keras_layer(key, shape)
    if layer is not None:
        fixed = [v.value for v in layer.non_trainable_variables]

        def keras_call(p, x):
            return layer.stateless_call(p, fixed, *((x, x) if key == "mha" else (x,)))[0]

        name = f"keras {type(layer).__name__} (jax)"
        out[name] = (keras_call, [v.value for v in layer.trainable_variables], x)
    return out


def torch_contender(key: str, shape: tuple[int, ...], device: str) -> tuple[str, Callable[[], Prepared]]:
    """(name, build) of torch's module for case `key`, forward+backward on `device`."""
    import torch

    batch, time, features, units = shape
    torch.manual_seed(0)
    if key == "mha":
        dim = features * units
        name, module = "torch nn.MultiheadAttention", torch.nn.MultiheadAttention(dim, features, batch_first=True)
        f = lambda x: module(x, x, x, need_weights=False)[0]  # noqa: E731
    else:
        dim = features
        name = "torch nn.LSTM" if key == "lstm" else "torch nn.GRU"
        module = (torch.nn.LSTM if key == "lstm" else torch.nn.GRU)(features, units, batch_first=True)
        f = lambda x: module(x)[0]  # noqa: E731
    x_np = np.random.default_rng(0).normal(size=(batch, time, dim)).astype(np.float32)

    def build() -> Prepared:
        module.to(device)
        x = torch.from_numpy(x_np).to(device).requires_grad_()
        inputs = [x, *module.parameters()]
        with torch.no_grad():
            cotangent = torch.randn_like(f(x))

        def run():
            grads = torch.autograd.grad(f(x), inputs, cotangent)
            if device == "cuda":
                torch.cuda.synchronize()
            return grads
        return Prepared(run)

    return name, build


def run(size: str, platform: str, repeats: int, min_sample_s: float, log: Callable[[str], None] = print,
        deadline: Deadline | None = None) -> list[dict]:
    """One record per case (LSTM, GRU, MultiHeadAttention), fwd+bwd, float32, as `benchmarks.layers.run`'s."""
    torch_device = _torch_device(platform)
    records = []
    for key, shape in SHAPES[size].items():
        record = {"case": "sequence", "op": key, "title": TITLES[key], "shape": list(shape), "dtype": "float32",
                  "mode": "fwd+bwd", "note": ""}
        if deadline is not None and deadline.passed():
            records.append({**record, "note": "skipped: time budget", "results": {}})
            continue
        contenders = [Contender(name, jax_build(fn, p, x, True)) for name, (fn, p, x) in
                      jax_contenders(key, shape).items()]
        if torch_device is None:
            record["note"] = "torch not installed" if optional.torch() is None else "no torch for this device"
        else:
            name, build = torch_contender(key, shape, torch_device)
            contenders.append(Contender(name, build if torch_device != "cpu" else worker_contender(
                "benchmarks.sequence", ["torch", key, ",".join(map(str, shape))])))
        log(f"  {TITLES[key]} {shape}: {', '.join(c.name for c in contenders)}")
        record["results"] = measure_results(contenders, repeats, min_sample_s, log, deadline)
        records.append(record)
    return records


def torch_worker(argv: list[str]) -> int:
    """`python -m benchmarks.sequence --worker torch KEY SHAPE`: a case's torch contender on the CPU in a
    process of its own (`timing.worker_env`), served to `worker_contender`."""
    _, build = torch_contender(argv[1], tuple(map(int, argv[2].split(","))), "cpu")

    def make() -> tuple[Callable[[], Any], str]:
        return build().run, "subprocess"

    return serve_worker(make)


if __name__ == "__main__":
    if sys.argv[1:3] == ["--worker", "torch"]:
        sys.exit(torch_worker(sys.argv[2:]))
    sys.exit("internal: use `python -m benchmarks.run --only sequence`")
