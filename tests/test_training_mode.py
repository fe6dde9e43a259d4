"""Training mode reaches every jaxlayers layer at any depth (issue: it reached direct children only).

`Graph(...)(x, training=True)` must make a Dropout or BatchNormalization nested two or three
levels down (in a Graph, `nn.Sequential` / `nnx.Sequential`, or a user's module) train: the
Dropout drops, the BatchNormalization normalises with the batch's statistics and updates its
moving ones. The oracle is NumPy (the batch statistics and Keras's momentum update) and the
dropout's own definition (kept units scaled by 1 / (1 - rate), the rest zero).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxlayers.linen as L
import jaxlayers.nnx as J

RATE, MOMENTUM, EPS = 0.5, 0.9, 1e-3
X = np.random.default_rng(0).standard_normal((64, 6)).astype(np.float32) + 3.0


class UserBlock(nn.Module):
    """A user's own module: it passes nothing on, the enclosing Graph's mode must still reach `inner`."""

    inner: nn.Module

    @nn.compact
    def __call__(self, x):
        return self.inner(x)


class NNXUserBlock(nnx.Module):
    def __init__(self, inner):
        self.inner = inner

    def __call__(self, x):
        return self.inner(x)


def linen_nest(layer: nn.Module, depth: int, how: str) -> nn.Module:
    """`layer` at `depth` (2 or 3) under a top Graph, through Graphs, `nn.Sequential` or a user's module."""
    wrap = {"graph": lambda m: L.Graph([m], edges=[0]), "sequential": lambda m: nn.Sequential([m]),
            "user": lambda m: UserBlock(m)}[how]
    module = layer
    for _ in range(depth - 1):
        module = wrap(module)
    return L.Graph([module], edges=[0])


def nnx_nest(layer: nnx.Module, depth: int, how: str) -> nnx.Module:
    wrap = {"graph": lambda m: J.Graph([m], edges=[0]), "sequential": lambda m: nnx.Sequential(m),
            "user": lambda m: NNXUserBlock(m)}[how]
    module = layer
    for _ in range(depth - 1):
        module = wrap(module)
    return J.Graph([module], edges=[0])


def assert_dropped(y: np.ndarray, x: np.ndarray) -> None:
    """A training-mode Dropout(RATE): every unit 0 or x / (1 - RATE), about RATE of them 0."""
    y, x = np.asarray(y), np.asarray(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - RATE), rtol=1e-6)
    assert 0.35 < 1 - kept.mean() < 0.65, f"{1 - kept.mean():.2f} dropped"


def assert_batch_normalised(y: np.ndarray, stats: dict, x: np.ndarray) -> None:
    """Training-mode BatchNormalization: the batch's statistics used, the moving ones updated (Keras's rule)."""
    mean, var = x.mean(0), x.var(0)
    np.testing.assert_allclose(np.asarray(y), (x - mean) / np.sqrt(var + EPS), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(stats["moving_mean"]), MOMENTUM * 0 + (1 - MOMENTUM) * mean, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(stats["moving_variance"]), MOMENTUM * 1 + (1 - MOMENTUM) * var,
                               rtol=1e-5)


def find(tree: dict, key: str) -> dict:
    """The one sub-dictionary of a nested variables dict that holds `key`."""
    if key in tree:
        return tree
    found = [find(v, key) for v in tree.values() if isinstance(v, dict)]
    found = [f for f in found if f is not None]
    return found[0] if found else None


NESTINGS = [(depth, how) for depth in (2, 3) for how in ("graph", "sequential", "user")]


@pytest.mark.parametrize("depth, how", NESTINGS)
def test_linen_dropout_trains_when_nested(depth, how):
    model = linen_nest(L.Dropout(RATE), depth, how)
    variables = model.init(jax.random.key(0), X)
    rngs = {"dropout": jax.random.key(1)}
    assert_dropped(model.apply(variables, X, training=True, rngs=rngs), X)
    np.testing.assert_array_equal(model.apply(variables, X, training=False, rngs=rngs), X)
    np.testing.assert_array_equal(model.apply(variables, X), X)  # None: the layer's own (inference)


@pytest.mark.parametrize("depth, how", NESTINGS)
def test_linen_batch_normalization_trains_when_nested(depth, how):
    model = linen_nest(L.BatchNormalization(momentum=MOMENTUM, epsilon=EPS), depth, how)
    variables = model.init(jax.random.key(0), X)
    y, updates = model.apply(variables, X, training=True, mutable=["batch_stats"])
    assert_batch_normalised(y, find(dict(updates["batch_stats"]), "moving_mean"), X)
    # inference: the moving statistics (initially 0 and 1), nothing to update
    np.testing.assert_allclose(model.apply(variables, X, training=False), X / np.sqrt(1 + EPS), rtol=1e-6)


@pytest.mark.parametrize("depth, how", NESTINGS)
def test_nnx_dropout_trains_when_nested(depth, how):
    model = nnx_nest(J.Dropout(RATE, rngs=nnx.Rngs(dropout=1)), depth, how)
    assert_dropped(model(jnp.asarray(X), training=True), X)
    np.testing.assert_array_equal(model(jnp.asarray(X), training=False), X)
    np.testing.assert_array_equal(model(jnp.asarray(X)), X)


@pytest.mark.parametrize("depth, how", NESTINGS)
def test_nnx_batch_normalization_trains_when_nested(depth, how):
    bn = J.BatchNormalization(6, momentum=MOMENTUM, epsilon=EPS, rngs=nnx.Rngs(0))
    model = nnx_nest(bn, depth, how)
    y = model(jnp.asarray(X), training=True)
    assert_batch_normalised(y, {"moving_mean": bn.moving_mean[...], "moving_variance": bn.moving_variance[...]}, X)
    stats = (np.asarray(bn.moving_mean[...]), np.asarray(bn.moving_variance[...]))
    np.testing.assert_allclose(model(jnp.asarray(X), training=False),
                               (X - stats[0]) / np.sqrt(stats[1] + EPS), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.moving_mean[...], stats[0])  # inference leaves them


def test_a_layers_own_flag_wins_over_the_enclosing_graph():
    model = L.Graph([nn.Sequential([L.Graph([lambda x: L.Dropout(RATE)(x, deterministic=True)], edges=[0])])],
                    edges=[0])
    np.testing.assert_array_equal(model.apply({}, X, training=True, rngs={"dropout": jax.random.key(0)}), X)


class InferenceBlock(nn.Module):
    """A user's module that runs its Graph in inference whatever encloses it."""

    inner: nn.Module

    @nn.compact
    def __call__(self, x):
        return self.inner(x, training=False)


def test_the_innermost_graphs_mode_wins():
    model = L.Graph([nn.Sequential([InferenceBlock(L.Graph([L.Dropout(RATE)], edges=[0]))])], edges=[0])
    np.testing.assert_array_equal(model.apply({}, X, training=True, rngs={"dropout": jax.random.key(0)}), X)


def test_training_mode_under_jit_is_part_of_the_trace():
    model = linen_nest(L.Dropout(RATE), 3, "sequential")
    rngs = {"dropout": jax.random.key(1)}
    train = jax.jit(lambda x: model.apply({}, x, training=True, rngs=rngs))
    infer = jax.jit(lambda x: model.apply({}, x, training=False, rngs=rngs))
    assert_dropped(train(X), X)
    np.testing.assert_array_equal(infer(X), X)
    assert_dropped(train(X), X)  # the cached trace keeps its mode


def test_training_must_be_a_bool():
    model = linen_nest(L.Dropout(RATE), 2, "graph")
    with pytest.raises(TypeError, match="`training` must be a bool"):
        model.apply({}, X, training=1)
