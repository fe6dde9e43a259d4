"""Keras `Bidirectional`: a recurrent layer run forwards and backwards over the sequence."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers._args import _is_int, check_bool
from jaxlayers.layers.layer import Weight, WeightedLayer
from jaxlayers.layers.rnn.rnn import RecurrentLayer, definition_copy

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def spec(layer: Any, name: str, **changes: Any) -> RecurrentLayer:
    """A recurrent layer's definition alone (no module, no variables), with `changes` to its arguments.

    Args:
        layer: a `jaxlayers.linen` or `jaxlayers.nnx` `SimpleRNN`, `LSTM` or `GRU` (or its definition).
        name: the argument it came as, for errors.
        **changes: arguments to replace (`go_backwards=True`).

    Returns:
        An instance of the layer's definition class with the same arguments.

    Raises:
        TypeError: not a recurrent layer.
    """
    if not isinstance(layer, RecurrentLayer):
        raise TypeError(f"`{name}` must be a recurrent layer (SimpleRNN, LSTM or GRU), got {type(layer).__name__}.")
    return definition_copy(layer, **changes)


class Bidirectional(WeightedLayer):
    """Keras `Bidirectional(layer)`: x (batch, time, features) -> both directions' outputs, merged.

    The backward layer is a copy of `layer` with `go_backwards=True` (or `backward_layer`);
    its sequences are flipped back to the input's order. With `return_sequences` the
    masked steps' outputs are zeros, as Keras's. Weights are Keras's per direction,
    prefixed: `forward_kernel`, ..., `backward_kernel`, .... The call takes `mask=`
    (batch, time), given to both, and `initial_state=` (the forward states, then the
    backward ones); with `return_state` it returns `(output, *forward_states,
    *backward_states)`.

    Args:
        layer: a `SimpleRNN`, `LSTM` or `GRU` (its arguments are used, not its variables)
            with `go_backwards=False`.
        merge_mode: "concat" (batch, ..., 2 * units), "sum", "mul", "ave", or None (the
            two outputs as a tuple).
        backward_layer: the backward direction's layer, with `go_backwards=True` and the
            same `return_sequences` and `return_state`; None: a copy of `layer`.
        seed: an int folded into the dropout key, or None (keyword-only).
        deterministic: inference mode (no dropout).
        rng_collection: the rng stream of the dropout masks.
        dtype: the computation's dtype; None: the layers' own.
        param_dtype: the parameters' dtype.
    """

    mode = "deterministic"
    stochastic = True
    takes_mask = True
    input_sizes = {"in_features": "the input's last axis (features)."}

    layer: Any
    merge_mode: str | None = "concat"
    backward_layer: Any = None
    _: dataclasses.KW_ONLY
    seed: int | None = None
    deterministic: bool = True
    rng_collection: str = "dropout"

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("layer", "backward_layer") and isinstance(value, RecurrentLayer) and \
                "__face__" in vars(type(value)):
            value = spec(value, name)  # its arguments only: a module's variables are not this layer's
        super().__setattr__(name, value)

    @classmethod
    def from_keras_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The two directions' layers of a Keras `Bidirectional` config, for `jaxlayers.keras.from_keras`.

        Args:
            config: the Keras layer's `get_config()`.

        Returns:
            `{"layer": definition, "backward_layer": definition}`, converted.

        Raises:
            ValueError: a wrapped layer jaxlayers cannot convert, named.
        """
        from jaxlayers.keras import _convert

        kwargs = {}
        for name in ("layer", "backward_layer"):
            kwargs[name] = spec(_convert.inner_layer(config[name], f"Bidirectional's {name}"), name)
        return kwargs

    @classmethod
    def keras_weight_names(cls, keras_layer: Any) -> list[str]:
        """The jaxlayers names of a Keras `Bidirectional`'s weights, in order: `forward_<name>`, `backward_<name>`.

        Args:
            keras_layer: the Keras layer.

        Returns:
            Its weights' names, prefixed by direction.
        """
        return [f"{prefix}_{w.name}" for prefix, direction in
                zip(("forward", "backward"), (keras_layer.forward_layer, keras_layer.backward_layer))
                for w in direction.weights]

    def directions(self) -> tuple[RecurrentLayer, RecurrentLayer]:
        """The forward and backward layers' definitions (Keras's `forward_layer`, `backward_layer`).

        Returns:
            `(forward, backward)`: `layer`, and `backward_layer` or `layer` with `go_backwards=True`.

        Raises:
            TypeError: `layer` or `backward_layer` is not a recurrent layer.
            ValueError: their `go_backwards`, `return_sequences` or `return_state` do not fit.
        """
        forward = spec(self.layer, "layer")
        backward = (spec(forward, "layer", go_backwards=True) if self.backward_layer is None
                    else spec(self.backward_layer, "backward_layer"))
        if forward.go_backwards == backward.go_backwards:
            raise ValueError("Bidirectional's forward and backward layers need different `go_backwards`, got "
                             f"{forward.go_backwards} for both (`layer` must have go_backwards=False).")
        for name in ("return_sequences", "return_state"):
            if getattr(forward, name) != getattr(backward, name):
                raise ValueError(f"Bidirectional's `layer` and `backward_layer` need the same `{name}`, got "
                                 f"{getattr(forward, name)} and {getattr(backward, name)}.")
        return forward, backward

    def check(self) -> None:
        super().check()
        if self.merge_mode not in MERGE_MODES:
            raise ValueError(f"`merge_mode` must be one of {MERGE_MODES}, got {self.merge_mode!r}.")
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")
        check_bool(self.deterministic, "deterministic")
        for direction in self.directions():
            direction.check()

    def sizes(self, x: Any) -> dict[str, Any]:
        return self.directions()[0].sizes(x)

    def build(self, in_features: int) -> dict[str, Weight | None]:
        weights: dict[str, Weight | None] = {}
        for prefix, direction in zip(("forward", "backward"), self.directions()):
            for name, weight in direction.build(in_features=in_features).items():
                weights[f"{prefix}_{name}"] = None if weight is None else dataclasses.replace(
                    weight, dtype=weight.dtype or direction.param_dtype, argument=weight.argument or f"{name}_initializer")
        return weights

    def compute_mask(self, x: Any, mask: jax.Array | None = None) -> Any:
        """The output's mask, as Keras's: the input's with `return_sequences` (a pair without `merge_mode`).

        Args:
            x: the layer's input.
            mask: the input's mask (batch, time), or None.

        Returns:
            `mask`, None, or a pair of them (merge_mode None).
        """
        out = mask if self.directions()[0].return_sequences else None
        return out if self.merge_mode else (out, out)

    def call(self, x: jax.Array, training: bool, rng: Callable[[], jax.Array], mask: jax.Array | None = None,
             initial_state: Sequence[jax.Array] | None = None, **weights: jax.Array | None) -> Any:
        forward, backward = self.directions()
        if initial_state is not None and len(initial_state) % 2:
            raise ValueError(f"Bidirectional's `initial_state` must hold the forward states then the backward ones "
                             f"(an even number), got {len(initial_state)}.")
        half = None if initial_state is None else len(initial_state) // 2
        key = []

        def direction_rng(index: int) -> Callable[[], jax.Array]:
            def draw() -> jax.Array:
                if not key:
                    key.append(rng())
                return jax.random.fold_in(key[0], index)
            return draw

        outputs, states = [], []
        for index, (prefix, direction) in enumerate(zip(("forward", "backward"), (forward, backward))):
            own = {name[len(prefix) + 1:]: value for name, value in weights.items() if name.startswith(prefix + "_")}
            start = None if half is None else list(initial_state[:half] if index == 0 else initial_state[half:])
            out = direction.call(x, **own, training=training, rng=direction_rng(index), mask=mask,
                                 initial_state=start or None)
            if forward.return_state:
                out, *own_states = out
                states.extend(own_states)
            if forward.return_sequences:
                if index == 1:
                    out = jnp.flip(out, axis=1)
                if mask is not None and not direction.unroll:  # Keras's Bidirectional sets zero_output_for_mask,
                    # which its unrolled loop ignores
                    out = jnp.where(jnp.asarray(mask, bool)[:, :, None], out, jnp.zeros((), out.dtype))
            outputs.append(out)
        y, y_rev = self.promote(*outputs)
        merged = {"concat": lambda: jnp.concatenate([y, y_rev], axis=-1), "sum": lambda: y + y_rev,
                  "ave": lambda: (y + y_rev) / 2, "mul": lambda: y * y_rev, None: lambda: (y, y_rev)}[self.merge_mode]()
        if not forward.return_state:
            return merged
        return (*merged, *states) if self.merge_mode is None else (merged, *states)
