"""Keras `SpectralNormalization`: a wrapper dividing a Dense or Conv kernel by its largest singular value."""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import functional as F
from jaxlayers._args import check_bool, positive_int
from jaxlayers.layers.convolutional.conv import Conv
from jaxlayers.layers.core.dense import Dense
from jaxlayers.layers.layer import Layer, Weight, WeightedLayer

WRAPPABLE = (Dense, Conv)  # the layers with a kernel (..., out) Keras's wrapper can normalise here


def _vector_u_init(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """Keras's `TruncatedNormal(stddev=0.02)`: normal, redrawn beyond two standard deviations."""
    return 0.02 * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)


def _bare(definition: type[Layer], layer: Layer) -> Layer:
    """A definition object (no face) with the fields of `layer`."""
    obj = object.__new__(definition)
    for f in dataclasses.fields(definition):
        object.__setattr__(obj, f.name, getattr(layer, f.name))
    return obj


def wrapped(layer: Any) -> Any:
    """The wrapped layer as a bare definition of its arguments (anything else: unchanged, refused by `check`).

    Args:
        layer: a jaxlayers `Dense` or `Conv`/`Conv1D`/`Conv2D`/`Conv3D` of either face
            (an NNX one's own variables are not used), or its bare definition.

    Returns:
        The definition object holding the same arguments.
    """
    if not isinstance(layer, Layer):
        return layer
    definition = next(c for c in type(layer).__mro__ if issubclass(c, Layer) and "__face__" not in c.__dict__)
    return layer if type(layer) is definition else _bare(definition, layer)


class SpectralNormalization(WeightedLayer):
    """Keras `SpectralNormalization(layer, power_iterations=1)`: `layer` with its kernel spectrally normalised.

    x: the wrapped layer's input -> its output (in x's dtype). The wrapped layer is a
    jaxlayers `Dense` or `Conv`/`Conv1D`/`Conv2D`/`Conv3D` (linen or NNX: only its
    arguments are used), e.g. `L.SpectralNormalization(L.Dense(8))`,
    `J.SpectralNormalization(4, L.Dense(8), rngs=rngs)`. Variables, by Keras's names:
    the wrapped layer's `kernel` (..., out) and `bias` in `params`, and `vector_u`
    (1, out) in `batch_stats` (NNX: `nnx.BatchStat`), as Flax's own `SpectralNorm`.

    As Keras: in training mode (`deterministic=False`; linen `apply(...,
    mutable=["batch_stats"])`) the layer runs on `kernel / sigma`, sigma the largest
    singular value of the kernel as (-1, out) estimated by `power_iterations` steps of
    power iteration from `vector_u`, which is updated
    (`jaxlayers.functional.spectral_normalize`; an all-zero kernel is left as it is).
    At inference (the default) it runs on the kernel as stored. (Keras's eager call in
    training also overwrites the kernel with `kernel / sigma`; its `fit` on JAX, a
    stateless call, keeps only the new `vector_u`, as here.)

    Args:
        layer: the wrapped `Dense` or `Conv` layer (its `param_dtype` is the variables').
        power_iterations: the number of power iterations per training call, >= 1.
        deterministic: inference mode (keyword-only, as below).
        dtype: the computation's dtype; None: the input's (the wrapped layer computes in
            its own `dtype`).
        param_dtype: the variables' dtype: the wrapped layer's `param_dtype`.
    """

    input_sizes = {"in_features": "the input's last axis (the wrapped layer's `in_features` / `in_channels`)."}
    mode = "deterministic"
    stateful = True

    layer: Any
    power_iterations: int = 1
    _: dataclasses.KW_ONLY
    deterministic: bool = True

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, wrapped(value) if name == "layer" else value)

    @classmethod
    def from_keras_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The wrapped layer of a Keras `SpectralNormalization` config, for `jaxlayers.keras.from_keras`.

        Args:
            config: the Keras layer's `get_config()`.

        Returns:
            `{"layer": definition}`, the wrapped layer converted.

        Raises:
            ValueError: a wrapped layer jaxlayers cannot convert, named.
        """
        from jaxlayers.keras import _convert

        return {"layer": _convert.inner_layer(config["layer"], "SpectralNormalization's layer")}

    def check(self) -> None:
        super().check()
        if not isinstance(self.layer, WRAPPABLE):
            raise TypeError(f"`layer` must be a jaxlayers Dense or Conv (Conv1D, Conv2D, Conv3D) layer, got "
                            f"{type(self.layer).__name__}.")
        self.layer.check()
        positive_int(self.power_iterations, "power_iterations")
        check_bool(self.deterministic, "deterministic")
        if jnp.dtype(self.layer.param_dtype) != jnp.dtype(self.param_dtype):
            raise ValueError(f"`param_dtype` ({jnp.dtype(self.param_dtype).name}) must be the wrapped layer's "
                             f"({jnp.dtype(self.layer.param_dtype).name}): its variables are the wrapped layer's.")

    def sizes(self, x: Any) -> dict[str, Any]:
        sizes = dict(self.layer.sizes(x))
        sizes.pop(next(iter(self.layer.input_sizes)))
        return {"in_features": x.shape[-1], **sizes}

    def build(self, in_features: int, **sizes: Any) -> dict[str, Weight | None]:
        weights = self.layer.build(**{next(iter(self.layer.input_sizes)): in_features}, **sizes)
        out = weights["kernel"].shape[-1]
        return {**weights, "vector_u": Weight((1, out), _vector_u_init, "batch_stats")}

    def call(self, x: jax.Array, kernel: jax.Array, bias: jax.Array | None, vector_u: jax.Array,
             training: bool) -> tuple[jax.Array, dict[str, jax.Array]]:
        updates = {}
        if training:
            updates["vector_u"], kernel = F.spectral_normalize(kernel, vector_u, self.power_iterations)
        return self.layer.call(x, kernel, bias).astype(x.dtype), updates
