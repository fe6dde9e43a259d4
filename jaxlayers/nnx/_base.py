"""What every jaxlayers NNX module shares: rank checks, `dtype`, eager kernel/bias parameters.

The `dtype` check and the input cast are `jaxlayers.linen`'s, the other checks
`jaxlayers.functional`'s (one implementation each); NNX layers run them at
construction, as Keras does.
"""
from __future__ import annotations

from typing import Any, ClassVar

import jax
from flax import nnx
from flax.linen import dtypes
from jax import lax

from jaxlayers import activations, initializers
from jaxlayers._args import call_rank
from jaxlayers.functional._checks import check_precision
from jaxlayers.linen._base import casting_call, check_dtype


class Layer(nnx.Module):
    """The base of every `jaxlayers.nnx` layer: an NNX module over `(batch, *spatial, channels)`.

    N-D aliases fix `rank`. Every layer takes Keras's `dtype` (keyword-only), kept as an
    attribute: floating inputs are cast to it before the op (integer and bool inputs are
    left as they are, as Keras leaves them). Layers with parameters also take
    `param_dtype` (theirs). Both are checked at construction.

    Args:
        dtype: the computation's dtype; None (default): the inputs' (promoted with the
            parameters', for layers that have some).

    Raises:
        TypeError: `dtype` is not None or a floating dtype.
    """

    rank: ClassVar[int | None] = None
    keeps_grid: ClassVar[bool] = False  # True: shapes.receptive_field passes through it

    def __init__(self, *, dtype: Any = None):
        self.dtype = check_dtype(dtype, "dtype", optional=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            cls.__call__ = casting_call(cls.__dict__["__call__"], check=False)

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

    Their constructors take the Keras arguments, `dtype` (`Layer`'s), and Flax's
    `param_dtype` (parameters) and `precision` (to `lax`), and call
    `init_kernel_and_bias`, which checks them and keeps them as attributes of the same
    names.

    Attributes:
        kernel: the kernel (`nnx.Param`), in Keras's layout.
        bias: the bias (`nnx.Param`), (units,), or None without `use_bias`.
    """

    def init_kernel_and_bias(
        self,
        kernel_shape: tuple[int, ...],
        units: int,
        *,
        activation: activations.Activation,
        use_bias: bool,
        kernel_initializer: initializers.Initializer,
        bias_initializer: initializers.Initializer,
        dtype: Any,
        param_dtype: Any,
        precision: lax.PrecisionLike,
        rngs: nnx.Rngs,
    ) -> None:
        """Check the arguments, keep them as attributes and create `kernel` and `bias`.

        Args:
            kernel_shape: the kernel's shape, in Keras's layout.
            units: the bias's size (the output channels).
            activation: a Keras activation name, a callable or None (linear), applied last
                (validated now).
            use_bias: whether the layer has a `bias`.
            kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
            bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
            dtype: the computation's dtype; None: promoted from the input and parameters.
            param_dtype: the parameters' dtype.
            precision: passed to `lax` (`lax.Precision`).
            rngs: the `params` stream draws the initial kernel and bias.

        Raises:
            ValueError: an unknown activation, initializer or precision name.
            TypeError: a `dtype`, `param_dtype` or `precision` of the wrong kind.
        """
        activations.get(activation)  # validate now, not at the first call
        Layer.__init__(self, dtype=dtype)
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.param_dtype = check_dtype(param_dtype, "param_dtype")
        self.precision = check_precision(precision)
        kernel_init = initializers.get(kernel_initializer, "kernel_initializer")
        self.kernel = nnx.Param(kernel_init(rngs.params(), kernel_shape, param_dtype))
        if use_bias:
            bias_init = initializers.get(bias_initializer, "bias_initializer")
            self.bias = nnx.Param(bias_init(rngs.params(), (units,), param_dtype))
        else:
            self.bias = nnx.data(None)

    def kernel_and_bias(self) -> tuple[jax.Array, jax.Array | None]:
        """The parameters' values.

        Returns:
            `(kernel, bias)`; bias is None without `use_bias`.
        """
        return self.kernel[...], None if self.bias is None else self.bias[...]

    def cast(self, *arrays: jax.Array | None) -> tuple[jax.Array | None, ...]:
        """Arrays in the computation dtype (`dtype`, else promoted as Flax does).

        Args:
            *arrays: arrays, or None (kept as None).

        Returns:
            The arrays in one dtype, in order.
        """
        return dtypes.promote_dtype(*arrays, dtype=self.dtype)

    def activate(self, y: jax.Array) -> jax.Array:
        """The layer's `activation` applied to `y`.

        Args:
            y: the layer's output before its activation.

        Returns:
            `activation(y)`, y itself for None or "linear".
        """
        return activations.get(self.activation)(y)

