"""The tutorial autoencoders in Flax NNX (`jaxlayers.nnx`), for `--api nnx`.

Each model mirrors its linen twin in `experiments.models` layer for layer, and
names its convolutions as linen's compact modules are named (`Conv2D_0`, ...), so
both APIs have the very same parameter tree: weights move between them unchanged.
`NNXModel` gives an NNX module the `init`/`apply` face the training loop uses.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import nnx

from jaxlayers import nnx as J


def _convs(rngs: nnx.Rngs, cls: type, specs: list[tuple[int, int, dict]], dtype: Any) -> dict[str, nnx.Module]:
    """`{f"{cls}_{i}": cls(in, out, 3, **kwargs, dtype=dtype)}` for each (in, out, kwargs)."""
    return {f"{cls.__name__}_{i}": cls(c_in, c_out, 3, **kw, dtype=dtype, rngs=rngs)
            for i, (c_in, c_out, kw) in enumerate(specs)}


RELU_SAME = {"activation": "relu", "padding": "same"}


class UpsampleAutoencoder(nnx.Module):
    """NNX twin of `experiments.models.UpsampleAutoencoder`."""

    def __init__(self, upsampling: str = "nearest", *, dtype: Any = None, rngs: nnx.Rngs):
        for name, conv in _convs(rngs, J.Conv2D, [
            (1, 16, RELU_SAME), (16, 8, RELU_SAME), (8, 4, RELU_SAME), (4, 4, RELU_SAME),
            (4, 8, RELU_SAME), (8, 16, {"activation": "relu"}), (16, 1, {"activation": "sigmoid", "padding": "same"}),
        ], dtype).items():
            setattr(self, name, conv)
        self.pool = J.MaxPooling2D(2, padding="same")
        self.up = J.UpSampling2D(2, interpolation=upsampling)

    def __call__(self, x: jax.Array) -> jax.Array:
        for i in range(3):
            x = self.pool(getattr(self, f"Conv2D_{i}")(x))
        for i in range(3, 6):
            x = self.up(getattr(self, f"Conv2D_{i}")(x))
        return self.Conv2D_6(x)


class TransposeAutoencoder(nnx.Module):
    """NNX twin of `experiments.models.TransposeAutoencoder`."""

    def __init__(self, *, dtype: Any = None, rngs: nnx.Rngs):
        relu = {"activation": "relu"}
        for name, conv in {
            **_convs(rngs, J.Conv2D, [(1, 16, relu), (16, 8, relu), (8, 4, relu)], dtype),
            **_convs(rngs, J.Conv2DTranspose, [(4, 4, RELU_SAME), (4, 8, RELU_SAME), (8, 16, relu),
                                               (16, 1, {"activation": "sigmoid", "padding": "same"})], dtype),
        }.items():
            setattr(self, name, conv)
        self.pool = J.MaxPooling2D(2)
        self.up = J.UpSampling2D(2)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.pool(self.Conv2D_0(x))
        x = self.pool(self.Conv2D_1(x))
        x = self.Conv2D_2(x)
        for i in range(3):
            x = self.up(getattr(self, f"Conv2DTranspose_{i}")(x))
        return self.Conv2DTranspose_3(x)


class UnpoolAutoencoder(nnx.Module):
    """NNX twin of `experiments.models.UnpoolAutoencoder` (max pooling indices, max unpooling)."""

    def __init__(self, *, dtype: Any = None, rngs: nnx.Rngs):
        for name, conv in _convs(rngs, J.Conv2D, [
            (1, 16, RELU_SAME), (16, 8, RELU_SAME), (8, 4, RELU_SAME), (4, 4, RELU_SAME),
            (4, 8, RELU_SAME), (8, 16, RELU_SAME), (16, 1, {"activation": "sigmoid", "padding": "same"}),
        ], dtype).items():
            setattr(self, name, conv)
        self.pool = J.MaxPoolingWithIndices(2, padding="same")
        self.unpool = J.MaxUnpooling()

    def __call__(self, x: jax.Array) -> jax.Array:
        skips = []
        for i in range(3):
            x = getattr(self, f"Conv2D_{i}")(x)
            shape = x.shape
            x, indices = self.pool(x)
            skips.append((indices, shape))
        for i, (indices, shape) in zip(range(3, 6), reversed(skips)):
            x = self.unpool(getattr(self, f"Conv2D_{i}")(x), indices, shape)
        return self.Conv2D_6(x)


class NNXModel:
    """An NNX model behind linen's `init(key, x)` / `apply(variables, x)`.

    Parameters travel as a plain dict (`{"params": {...}}`), so optimisers,
    sharding and checkpoints treat both APIs alike. `module` is the abstract
    (never allocated) model, for `jaxlayers.summary`.
    """

    def __init__(self, build: Callable[[nnx.Rngs], nnx.Module]):
        self._build = build
        self.module = nnx.eval_shape(lambda: build(nnx.Rngs(0)))
        self._graphdef = nnx.graphdef(self.module)

    def init(self, key: jax.Array, x: jax.Array) -> dict[str, Any]:
        """Fresh parameters drawn from `key` (x is unused: NNX layers know their shapes)."""
        del x
        return {"params": nnx.state(self._build(nnx.Rngs(params=key)), nnx.Param).to_pure_dict()}

    def apply(self, variables: dict[str, Any], x: jax.Array) -> jax.Array:
        state = nnx.state(self.module)
        nnx.replace_by_pure_dict(state, variables["params"])
        return nnx.merge(self._graphdef, state)(x)


def build_nnx_model(variant: str, upsampling: str = "nearest", dtype: Any = None) -> NNXModel:
    """The NNX autoencoder for `variant` (arguments already checked by `build_model`)."""
    if variant == "upsample":
        return NNXModel(lambda rngs: UpsampleAutoencoder(upsampling, dtype=dtype, rngs=rngs))
    cls = TransposeAutoencoder if variant == "transpose" else UnpoolAutoencoder
    return NNXModel(lambda rngs: cls(dtype=dtype, rngs=rngs))
