"""What every jaxlayers module shares: rank checks, `dtype`, kernel/bias parameters.

The `dtype` check and the input cast here serve the NNX modules too
(`jaxlayers.nnx._base`), so each rule has one implementation.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlayers import activations, initializers
from jaxlayers._args import call_rank


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
        value: a layer's positional argument.
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


def casting_call(call: Callable[..., Any], check: bool) -> Callable[..., Any]:
    """`call` (a layer's `__call__`) with its arguments cast by `cast_floats` to `self.dtype` first.

    Args:
        call: the undecorated method.
        check: validate `self.dtype` (and `self.param_dtype`, where the layer has one)
            on each call, for modules that cannot check at construction (linen).

    Returns:
        The wrapped method (`functools.wraps`: its signature and Flax's `compact` mark kept).
    """
    @functools.wraps(call)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        if check:
            check_dtype(self.dtype, "dtype", optional=True)
            if hasattr(self, "param_dtype"):
                check_dtype(self.param_dtype, "param_dtype")
        return call(self, *(cast_floats(a, self.dtype) for a in args),
                    **{k: cast_floats(v, self.dtype) for k, v in kwargs.items()})

    return wrapped


class Layer(nn.Module):
    """The base of every `jaxlayers.linen` layer: a module over `(batch, *spatial, channels)`.

    N-D aliases fix `rank`. Every layer takes Keras's `dtype` (keyword-only): floating
    inputs are cast to it before the op (integer and bool inputs are left as they are,
    as Keras leaves them). Layers with parameters also take `param_dtype` (theirs).
    Both are checked at the first call.

    Args:
        dtype: the computation's dtype; None (default): the inputs' (promoted with the
            parameters', for layers that have some).
    """

    rank: ClassVar[int | None] = None
    keeps_grid: ClassVar[bool] = False  # True: receptive_field passes through it

    _: dataclasses.KW_ONLY
    dtype: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "__call__" in cls.__dict__:  # before Flax wraps the methods
            cls.__call__ = casting_call(cls.__dict__["__call__"], check=True)
        super().__init_subclass__(**kwargs)

    def spatial_rank(self, x: jax.Array, kernel_size: Any = None) -> int:
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


class KernelLayer(Layer):
    """The base of layers with a kernel and a bias (`Dense`, `Conv`, `ConvTranspose`).

    Their shared Keras arguments are keyword-only, with Flax's `param_dtype` and
    `precision` (both checked at the first call).

    Args:
        activation: a Keras activation name, a callable or None (linear), applied last.
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
    """

    _: dataclasses.KW_ONLY
    activation: activations.Activation = None
    use_bias: bool = True
    kernel_initializer: initializers.Initializer = "glorot_uniform"
    bias_initializer: initializers.Initializer = "zeros"
    param_dtype: Any = jnp.float32
    precision: lax.PrecisionLike = None

    def kernel_and_bias(self, kernel_shape: tuple[int, ...], units: int) -> tuple[jax.Array, jax.Array | None]:
        """Create (or fetch) `kernel` and, with `use_bias`, `bias` of shape (units,).

        Args:
            kernel_shape: the kernel's shape, in Keras's layout.
            units: the bias's size (the output channels).

        Returns:
            `(kernel, bias)` in `param_dtype`; bias is None without `use_bias`.
        """
        kernel = self.param(
            "kernel", initializers.get(self.kernel_initializer, "kernel_initializer"), kernel_shape, self.param_dtype
        )
        bias = None
        if self.use_bias:
            bias = self.param("bias", initializers.get(self.bias_initializer, "bias_initializer"), (units,), self.param_dtype)
        return kernel, bias

    def cast(self, *arrays: jax.Array | None) -> tuple[jax.Array | None, ...]:
        """Arrays in the computation dtype (`dtype`, else promoted as Flax does).

        Args:
            *arrays: arrays, or None (kept as None).

        Returns:
            The arrays in one dtype, in order.
        """
        return nn.dtypes.promote_dtype(*arrays, dtype=self.dtype)

    def activate(self, y: jax.Array) -> jax.Array:
        """The layer's `activation` applied to `y`.

        Args:
            y: the layer's output before its activation.

        Returns:
            `activation(y)`, y itself for None or "linear".
        """
        return activations.get(self.activation)(y)
