"""The one definition of a layer, which `jaxlayers.linen` and `jaxlayers.nnx` both present.

A definition is a class deriving from `Layer` (a dataclass with `eq=False`: its fields
are the layer's Keras arguments, in Keras's order and with Keras's defaults) whose
methods say everything about the layer that does not depend on the Flax API:

- `check()`: the arguments' checks (NNX runs them when a layer is made, linen at its call);
- `sizes(*inputs)`: the input sizes its variables depend on; the class's `input_sizes`
  name (and document) those an NNX layer takes first, e.g. `in_channels`;
- `build(**sizes)`: its variables, `Weight(shape, initializer, collection)` by name
  (Keras's weight names), None for an absent one (`bias` without `use_bias`);
- `call(*inputs, **weights)`: the op on `jaxlayers.functional`, given the variables'
  values by name, plus `training` (layers with a `mode` flag) and `rng` (stochastic
  layers: a function giving a PRNG key, to call in training only). A `stateful` layer
  returns `(outputs, updates)`: new values of its non-`params` variables.

`jaxlayers.linen.face(definition)` and `jaxlayers.nnx.face(definition)` make the two
modules; a new layer is a functional op plus one definition.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlayers import activations, initializers
from jaxlayers._args import call_rank, layout
from jaxlayers.functional._checks import check_precision


@dataclasses.dataclass(frozen=True)
class Weight:
    """A variable a layer declares in `build`.

    Attributes:
        shape: its shape.
        initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        collection: "params" (trained), or another collection such as "batch_stats".
        dtype: its dtype; None: the layer's `param_dtype`.
        argument: the layer argument `initializer` came from, named in errors (None:
            `<weight name>_initializer`).
    """

    shape: tuple[int, ...]
    initializer: initializers.Initializer
    collection: str = "params"
    dtype: Any = None
    argument: str | None = None

    def init(self, name: str, key: jax.Array, param_dtype: Any) -> jax.Array:
        """The initial value.

        Args:
            name: the weight's name.
            key: a PRNG key.
            param_dtype: the layer's parameter dtype (used when `dtype` is None).

        Returns:
            An array of `shape`.
        """
        init = initializers.get(self.initializer, self.argument or f"{name}_initializer")
        return init(key, self.shape, self.dtype or param_dtype)


def check_dtype(value: Any, name: str, *, optional: bool = False) -> Any:
    """Raise unless `value` names a floating dtype (`"bfloat16"`, `jnp.float16`, ...).

    Args:
        value: the dtype given.
        name: the argument's name, for errors (`dtype`, `param_dtype`).
        optional: whether None (no dtype) is allowed.

    Returns:
        `value`, unchanged.

    Raises:
        TypeError: not a dtype, or not a floating one.
    """
    if value is None and optional:
        return value
    try:
        dtype = None if value is None else jnp.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        allowed = "None or " if optional else ""
        raise TypeError(f"`{name}` must be {allowed}a floating dtype such as 'float32' or 'bfloat16', got {value!r}.")
    return value


def cast_floats(value: Any, dtype: Any) -> Any:
    """Keras's input cast: floating arrays in `value` (an array, or a list or tuple of them) as `dtype`.

    Integer, bool and other values are left as they are, as Keras leaves them.

    Args:
        value: a layer's argument.
        dtype: the layer's `dtype`; None leaves everything as it is.

    Returns:
        `value` with its floating arrays in `dtype`.
    """
    if dtype is None:
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(cast_floats(v, dtype) for v in value)
    if isinstance(value, (jax.Array, np.ndarray)) and jnp.issubdtype(value.dtype, jnp.floating):
        return jnp.asarray(value, dtype)
    return value


class Layer:
    """The base of every layer definition: Keras's `dtype`, the input's rank, the faces' hooks.

    Floating inputs are cast to `dtype` before the op (integer and bool inputs are left as
    they are, as Keras leaves them). Layers with parameters also take `param_dtype`.

    Args:
        dtype: the computation's dtype; None (default): the inputs' (promoted with the
            parameters', for layers that have some).
    """

    rank: ClassVar[int | None] = None  # the spatial rank, fixed by the 1D/2D/3D classes
    keeps_grid: ClassVar[bool] = False  # shapes.receptive_field passes through it
    input_sizes: ClassVar[Mapping[str, str]] = {}  # NNX's leading arguments: name -> docstring
    mode: ClassVar[str | None] = None  # its inference flag: "deterministic" or "use_running_average"
    stochastic: ClassVar[bool] = False  # draws from the `rng_collection` stream in training (has `seed`)
    stateful: ClassVar[bool] = False  # `call` returns (outputs, updates of non-params variables)
    single_input: ClassVar[bool] = True  # `call` takes one array (a list is refused, naming the layer)
    supports_masking: ClassVar[bool] = False  # Keras's: the input's mask is the output's (`compute_mask`)
    takes_mask: ClassVar[bool] = False  # `call` takes `mask=`: a Graph gives it its input's, as Keras's call
    # the keywords of `call` taking its positional arguments' masks, in order (Keras's `<argument>_mask`,
    # `query_mask` ...): a Graph gives each masked argument's
    argument_masks: ClassVar[tuple[str, ...]] = ()
    clears_masks: ClassVar[bool] = False  # Keras's call clears its arguments' masks off them (MultiHeadAttention)
    keras_name: ClassVar[str | None] = None  # the Keras class; None: the class's own name, if Keras has it
    keras_aliases: ClassVar[tuple[str, ...]] = ()  # Keras's other names for the class (MaxPool2D, ...)
    keras_module: ClassVar[str] = "keras.layers"  # where Keras keeps the class (applications: their own)
    # this layer's names of Keras's `layer.weights`, in order, where Keras's have no names of their own
    # (`add_weight` without one: "variable", "variable_1", ...); empty: Keras's names are these
    keras_weights: ClassVar[tuple[str, ...]] = ()

    _: dataclasses.KW_ONLY
    dtype: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__face__" not in cls.__dict__:  # faces are made dataclasses by their own API
            dataclasses.dataclass(cls, eq=False, repr=False, init=False)

    def compute_mask(self, x: Any, mask: Any = None) -> Any:
        """The output's mask, as Keras's `compute_mask`: the input's if the layer supports masking, else None.

        Args:
            x: the layer's input.
            mask: the input's mask (batch, time, ...), or None.

        Returns:
            The output's mask, or None.
        """
        return mask if self.supports_masking else None

    # -------------------------------------------------------------- what the faces call

    def check(self) -> None:
        """Check the arguments (no input needed).

        Raises:
            ValueError, TypeError: a bad argument, named.
        """
        check_dtype(self.dtype, "dtype", optional=True)

    def sizes(self, *inputs: Any) -> dict[str, Any]:
        """What `build` needs to know of the call's inputs.

        Args:
            *inputs: the call's positional inputs (arrays or shape structs).

        Returns:
            Keyword arguments for `build`: the `input_sizes`, and maybe more (e.g. the rank).
        """
        return {}

    def build(self, **sizes: Any) -> dict[str, Weight | None]:
        """The layer's variables for inputs of these sizes, checked against the arguments.

        Args:
            **sizes: what `sizes` returns (NNX: the constructor's `input_sizes`).

        Returns:
            Weight declarations by Keras weight name, None for an absent one.
        """
        return {}

    def call(self, *inputs: Any, **weights: Any) -> Any:
        """The layer's op on its inputs and the values of its variables.

        Args:
            *inputs: the call's inputs.
            **weights: the variables' values by name (None for absent ones), plus
                `training` and `rng` where the class asks for them.

        Returns:
            The layer's output(s); for a `stateful` layer, `(outputs, updates)`.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------------- helpers

    def spatial_rank(self, x: Any, kernel_size: Any = None) -> int:
        """The spatial rank of this call, checked against the input.

        Args:
            x: the call's input, (batch, *spatial, channels).
            kernel_size: the layer's kernel size, if any: a sequence gives the rank when
                the class does not.

        Returns:
            The number of spatial axes: the class's `rank`, else `len(kernel_size)`, else
            the input's.

        Raises:
            ValueError: `x` is not (batch, *spatial, channels) with that many spatial axes.
        """
        return call_rank(x, self.rank, kernel_size, type(self).__name__)

    def promote(self, *arrays: jax.Array | None) -> tuple[jax.Array | None, ...]:
        """Arrays in the computation dtype (`dtype`, else promoted as Flax does).

        Args:
            *arrays: arrays, or None (kept as None).

        Returns:
            The arrays in one dtype, in order.
        """
        return nn.dtypes.promote_dtype(*arrays, dtype=self.dtype)


dataclasses.dataclass(Layer, eq=False, repr=False, init=False)


class WeightedLayer(Layer):
    """The base of layers with variables: their dtype.

    Args:
        param_dtype: the variables' dtype (keyword-only).
    """

    _: dataclasses.KW_ONLY
    param_dtype: Any = jnp.float32

    def check(self) -> None:
        """Check `dtype` and `param_dtype`.

        Raises:
            TypeError: a dtype that is not floating.
        """
        super().check()
        check_dtype(self.param_dtype, "param_dtype")


class KernelLayer(WeightedLayer):
    """The base of layers with a kernel and a bias (`Dense`, `Conv`, `ConvTranspose`, ...).

    Their shared Keras arguments are keyword-only, with Flax's `param_dtype` and
    `precision`.

    Args:
        activation: a Keras activation name, a callable or None (linear), applied last.
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        precision: passed to `lax` (`lax.Precision`).
    """

    _: dataclasses.KW_ONLY
    activation: activations.Activation = None
    use_bias: bool = True
    kernel_initializer: initializers.Initializer = "glorot_uniform"
    bias_initializer: initializers.Initializer = "zeros"
    precision: lax.PrecisionLike = None

    def check(self) -> None:
        """Check the shared arguments.

        Raises:
            ValueError: an unknown activation, initializer or precision name.
            TypeError: a `dtype`, `param_dtype` or `precision` of the wrong kind.
        """
        super().check()
        activations.get(self.activation)
        initializers.get(self.kernel_initializer, "kernel_initializer")
        initializers.get(self.bias_initializer, "bias_initializer")
        check_precision(self.precision)

    def kernel_and_bias(self, kernel_shape: tuple[int, ...], units: int) -> dict[str, Weight | None]:
        """`kernel` and, with `use_bias`, `bias` of shape (units,).

        Args:
            kernel_shape: the kernel's shape, in Keras's layout.
            units: the bias's size (the output channels).

        Returns:
            Their declarations for `build`.
        """
        return {"kernel": Weight(kernel_shape, self.kernel_initializer),
                "bias": Weight((units,), self.bias_initializer) if self.use_bias else None}

    def activate(self, y: jax.Array) -> jax.Array:
        """The layer's `activation` applied to `y`.

        Args:
            y: the layer's output before its activation.

        Returns:
            `activation(y)`, y itself for None or "linear".
        """
        return activations.get(self.activation)(y)


def ranked(definition: type[Layer], pattern: str, doc: str, aliases: str | None = None,
           ranks: tuple[int, ...] = (1, 2, 3), **defaults: Mapping[int, Any]) -> tuple[type, ...]:
    """The 1D, 2D and 3D definitions of a rank-generic one (`Conv` -> `Conv1D`, `Conv2D`, `Conv3D`).

    Args:
        definition: the rank-generic definition.
        pattern: the class names, e.g. "Conv{}D".
        doc: their docstring, with `{name}` and `{layout}` filled in per rank.
        aliases: Keras's other names for them, e.g. "Convolution{}D", or None.
        ranks: the ranks to make (Keras has no `DepthwiseConv3D`: (1, 2)).
        **defaults: per-rank values, `name={1: value, 2: value, 3: value}`: argument
            defaults, or ClassVars such as `takes_mask`.

    Returns:
        The classes, one per rank of `ranks`.
    """
    classes = []
    arguments = {f.name for f in dataclasses.fields(definition)}
    for rank in ranks:
        name = pattern.format(rank)
        namespace: dict[str, Any] = {"rank": rank, "__doc__": doc.format(name=name, layout=layout(rank)),
                                     "__module__": definition.__module__, "__qualname__": name,
                                     "keras_aliases": () if aliases is None else (aliases.format(rank),)}
        for argument, by_rank in defaults.items():
            if argument not in definition.__dataclass_fields__:  # which also holds the ClassVars
                raise TypeError(f"ranked: {definition.__name__} has no argument or ClassVar {argument!r}.")
            namespace[argument] = by_rank[rank]
            if argument in arguments:
                namespace.setdefault("__annotations__", {})[argument] = definition.__dataclass_fields__[argument].type
        classes.append(type(name, (definition,), namespace))
    return tuple(classes)

