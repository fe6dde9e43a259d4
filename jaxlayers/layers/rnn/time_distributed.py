"""Keras `TimeDistributed`: one layer applied to every time step."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax

from jaxlayers._args import _is_int, check_bool
from jaxlayers.layers.layer import Layer, Weight, WeightedLayer, cast_floats
from jaxlayers.layers.rnn.rnn import definition_copy
from jaxlayers.layers.rnn.stacked_rnn_cells import prefixed


class TimeDistributed(WeightedLayer):
    """Keras `TimeDistributed(layer)`: x (batch, time, ...) -> (batch, time, ...) of `layer` at every step.

    The steps are folded into the batch, (batch * time, ...), for one call of `layer`,
    then unfolded. Weights are the layer's (`kernel`, `bias`, ...), shared by the steps.
    The input's mask is the output's, as Keras's; a mask (batch, time, ...) of more than
    two axes reaches a layer that takes one, per step.

    Args:
        layer: a single-input jaxlayers layer (`Dense`, `Conv2D`, `MaxPooling2D`,
            `Dropout`, ...; its arguments are used, not its variables; an NNX layer's
            input sizes build the weights of the NNX face), without state updates.
        seed: an int folded into the dropout key, or None (keyword-only).
        deterministic: inference mode (the layer's own training behaviour off).
        rng_collection: the rng stream of the layer's draws.
        dtype: the computation's dtype; None: the layer's own.
        param_dtype: the parameters' dtype (the layer keeps its own).
    """

    mode = "deterministic"
    stochastic = True
    takes_mask = True
    supports_masking = True  # as Keras's: the input's mask passes through
    steps_axis: ClassVar[bool] = True  # its input has a time axis before the wrapped layer's (for to_keras's rank)

    layer: Any
    _: dataclasses.KW_ONLY
    seed: int | None = None
    deterministic: bool = True
    rng_collection: str = "dropout"

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "layer" and isinstance(value, Layer) and "__face__" in vars(type(value)):
            value = definition_copy(value)  # its arguments only: a module's variables are not this layer's
        super().__setattr__(name, value)

    @classmethod
    def from_keras_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The wrapped layer of a Keras `TimeDistributed` config, for `jaxlayers.keras.from_keras`.

        Args:
            config: the Keras layer's `get_config()`.

        Returns:
            `{"layer": definition}`, converted, with the input sizes of its `build_config`.

        Raises:
            ValueError: a wrapped layer jaxlayers cannot convert, named.
        """
        from jaxlayers.keras import _convert

        layer = _convert.inner_layer(config["layer"], "TimeDistributed's layer")
        shape = config["layer"].get("build_config", {}).get("input_shape")
        if shape is not None and layer.input_sizes:
            step = jax.ShapeDtypeStruct(tuple(1 if n is None else n for n in shape), "float32")
            sizes = layer.sizes(step)
            for name in layer.input_sizes:
                object.__setattr__(layer, name, sizes[name])
        return {"layer": layer}

    @classmethod
    def keras_weight_names(cls, keras_layer: Any) -> list[str]:
        """The jaxlayers names of a Keras `TimeDistributed`'s weights: its layer's.

        Args:
            keras_layer: the Keras layer.

        Returns:
            Its weights' names, in order.
        """
        from jaxlayers.keras import _convert

        definition = _convert.by_keras_name().get(type(keras_layer.layer).__name__)
        return _convert.keras_weight_names(definition, keras_layer.layer) if definition is not None else \
            [w.name for w in keras_layer.weights]

    def inner(self) -> Layer:
        """The wrapped layer's definition, checked.

        Returns:
            `layer`.

        Raises:
            TypeError: not a single-input jaxlayers layer, or one with state updates.
        """
        layer = self.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed's `layer` must be a jaxlayers layer (Dense, Conv2D, ...), got "
                            f"{type(layer).__name__}.")
        if not layer.single_input or layer.stateful is True or layer.mode not in (None, "deterministic"):
            raise TypeError(f"TimeDistributed's `layer` must take one array and update no state, got "
                            f"{type(layer).__name__}.")
        return layer

    def check(self) -> None:
        super().check()
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")
        check_bool(self.deterministic, "deterministic")
        self.inner().check()

    def sizes(self, x: Any) -> dict[str, Any]:
        layer = self.inner()
        if not hasattr(x, "ndim") or x.ndim < 3:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"TimeDistributed expects an input (batch, time, ...) of at least 3 dimensions, got "
                             f"shape {shape}.")
        sizes = layer.sizes(jax.ShapeDtypeStruct((x.shape[0] * x.shape[1], *x.shape[2:]), x.dtype))
        for name in layer.input_sizes:
            built = getattr(layer, name, None)
            if built is not None and built != sizes[name]:
                raise ValueError(f"TimeDistributed's {type(layer).__name__} was built for `{name}`={built!r}, got an "
                                 f"input with {name}={sizes[name]!r} (shape {tuple(x.shape)}).")
        return sizes

    def build(self, **sizes: Any) -> dict[str, Weight | None]:
        layer = self.inner()
        if not sizes:  # the NNX face: the wrapped layer's own input sizes
            missing = [name for name in layer.input_sizes if getattr(layer, name, None) is None]
            if missing:
                raise ValueError(f"TimeDistributed builds {type(layer).__name__}'s weights from its {missing}: give "
                                 f"an NNX layer made with them (e.g. Dense(in_features, units, rngs=...)).")
            sizes = {name: getattr(layer, name) for name in layer.input_sizes}
        return prefixed(layer.build(**sizes), "", layer)

    def call(self, x: jax.Array, training: bool, rng: Callable[[], jax.Array], mask: jax.Array | None = None,
             **weights: jax.Array | None) -> Any:
        layer = self.inner()
        batch, time = x.shape[:2]
        kwargs: dict[str, Any] = {}
        if layer.mode:
            kwargs["training"] = training
            if layer.stochastic:
                kwargs["rng"] = rng if layer.seed is None else lambda: jax.random.fold_in(rng(), layer.seed)
        if layer.takes_mask and mask is not None and mask.ndim > 2:
            kwargs["mask"] = mask.reshape(batch * time, *mask.shape[2:])
        folded = cast_floats(x.reshape(batch * time, *x.shape[2:]), layer.dtype)
        out = layer.call(folded, **weights, **kwargs)
        return jax.tree.map(lambda y: y.reshape(batch, time, *y.shape[1:]), out)
