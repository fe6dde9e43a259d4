"""The shared base of Keras's attention layers with projected heads (`MultiHeadAttention`, `GroupQueryAttention`)."""
from __future__ import annotations

from typing import Any

import jax

from jaxlayers import initializers
from jaxlayers._args import _is_int, check_bool
from jaxlayers.functional.multi_head_attention import COMBINE, PROJECT
from jaxlayers.layers.core.einsum_dense import einsum_weights
from jaxlayers.layers.layer import Weight, WeightedLayer
from jaxlayers.layers.regularization.dropout import Stochastic


def positive(value: Any, name: str, optional: bool = False) -> None:
    """Raise unless `value` is a positive int (or None, when `optional`).

    Args:
        value: the argument's value.
        name: the argument, for errors.
        optional: whether None is allowed.

    Raises:
        ValueError: naming `name`, the expected and the actual value.
    """
    if (value is None and optional) or (_is_int(value) and value > 0):
        return
    raise ValueError(f"`{name}` must be a positive int{' or None' if optional else ''}, got {value!r}.")


class ProjectedAttention(Stochastic, WeightedLayer):
    """The base of attention layers on Keras `EinsumDense` sublayers: `query`, `key`, `value`, `attention_output`.

    The call is `(query, value, key=None, **masks)` (key defaults to value); their weights
    are named `<sublayer>_kernel`, `<sublayer>_bias` (Keras's paths), the kernels
    initialised with `kernel_initializer`, the biases with `bias_initializer`. Subclasses
    have Keras's `dropout`, `use_bias`, `kernel_initializer`, `bias_initializer` and `seed`.

    Args:
        deterministic: inference mode (keyword-only).
        rng_collection: the rng stream of the dropout (keyword-only).
    """

    single_input = False
    supports_masking = True  # as Keras's: the output has the query's mask
    argument_masks = ("query_mask", "value_mask", "key_mask")
    fraction = "dropout"
    input_sizes = {"query_features": "the query's last axis (dim_q).",
                   "value_features": "the value's last axis (dim_v).",
                   "key_features": "the key's last axis (dim_k; the value's when there is no key)."}

    def check(self) -> None:
        super().check()
        check_bool(self.use_bias, "use_bias")
        initializers.get(self.kernel_initializer, "kernel_initializer")
        initializers.get(self.bias_initializer, "bias_initializer")

    @classmethod
    def keras_weight_names(cls, keras_layer: Any) -> list[str]:
        """The jaxlayers names of the Keras layer's weights, in order: `<sublayer>_<weight>` from their paths.

        Args:
            keras_layer: the Keras layer.

        Returns:
            e.g. ["query_kernel", "query_bias", ...].
        """
        return ["_".join(w.path.split("/")[-2:]) for w in keras_layer.weights]

    def sizes(self, query: Any, value: Any, key: Any = None) -> dict[str, Any]:
        key = value if key is None else key
        for name, x in (("query", query), ("value", value), ("key", key)):
            if not hasattr(x, "shape") or len(x.shape) != 3:
                raise ValueError(f"{type(self).__name__} `{name}` must be (batch, time, features), got "
                                 f"{getattr(x, 'shape', type(x).__name__)}.")
        return {"query_features": query.shape[-1], "value_features": value.shape[-1],
                "key_features": key.shape[-1]}

    def projection(self, name: str, heads: int, size: int, features: int | None,
                   out: int | None = None) -> dict[str, Weight | None]:
        """An `EinsumDense` sublayer's `<name>_kernel` and `<name>_bias`.

        Args:
            name: the sublayer (`query`, ...).
            heads, size: its heads and their size.
            features: the input's last size, projected into (heads, size); None: the output
                projection, (heads, size) into `out`.
            out: the output projection's size.

        Returns:
            Their declarations for `build`.
        """
        if features is not None:
            positive(features, f"{name}_features")
            spec = (PROJECT, (None, heads, size), "de" if self.use_bias else None, (None, None, features))
        else:
            spec = (COMBINE, (None, out), "e" if self.use_bias else None, (None, None, heads, size))
        equation, output_shape, bias_axes, input_shape = spec
        return {f"{name}_{weight}": declared for weight, declared in
                einsum_weights(equation, output_shape, bias_axes, input_shape, self.kernel_initializer,
                               self.bias_initializer).items()}

    def weights_in_dtype(self, *inputs: jax.Array | None, **weights: jax.Array | None) -> tuple[list, dict]:
        """The inputs and weights in the computation dtype.

        Args:
            *inputs: query, value, key (None kept as None).
            **weights: the layer's weights by name.

        Returns:
            (inputs, weights by name).
        """
        names = sorted(weights)
        values = self.promote(*inputs, *(weights[n] for n in names))
        return list(values[:len(inputs)]), dict(zip(names, values[len(inputs):]))
