"""What every jaxlayers NNX module shares: rank checks and eager kernel/bias parameters."""
from __future__ import annotations

from typing import Any, ClassVar

import jax
from flax import nnx
from flax.linen import dtypes
from jax import lax

from jaxlayers import activations, initializers
from jaxlayers._args import call_rank

class Layer(nnx.Module):
    """An NNX module over `(batch, *spatial, channels)`; N-D aliases fix `rank`."""

    rank: ClassVar[int | None] = None
    keeps_grid: ClassVar[bool] = False  # True: shapes.receptive_field passes through it

    def spatial_rank(self, x: jax.Array, kernel_size: Any = None) -> int:
        """The spatial rank of this call, checked against the input."""
        return call_rank(x, self.rank, kernel_size, type(self).__name__)


class KernelLayer(Layer):
    """Keras arguments of layers with a kernel and a bias; parameters `kernel`, `bias`;
    Flax's `dtype` (computation), `param_dtype` (parameters) and `precision` (to `lax`)."""

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
        activations.get(activation)  # validate now, not at the first call
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.precision = precision
        kernel_init = initializers.get(kernel_initializer, "kernel_initializer")
        self.kernel = nnx.Param(kernel_init(rngs.params(), kernel_shape, param_dtype))
        if use_bias:
            bias_init = initializers.get(bias_initializer, "bias_initializer")
            self.bias = nnx.Param(bias_init(rngs.params(), (units,), param_dtype))
        else:
            self.bias = nnx.data(None)

    def kernel_and_bias(self) -> tuple[jax.Array, jax.Array | None]:
        return self.kernel[...], None if self.bias is None else self.bias[...]

    def cast(self, *arrays: jax.Array | None) -> tuple[jax.Array | None, ...]:
        """Arrays in the computation dtype (`dtype`, else promoted as Flax does)."""
        return dtypes.promote_dtype(*arrays, dtype=self.dtype)

    def activate(self, y: jax.Array) -> jax.Array:
        return activations.get(self.activation)(y)

