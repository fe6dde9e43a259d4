"""What every jaxlayers linen module shares: rank checks and kernel/bias parameters."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers import activations, initializers
from jaxlayers._args import call_rank


class Layer(nn.Module):
    """A module over `(batch, *spatial, channels)`; N-D aliases fix `rank`."""

    rank: ClassVar[int | None] = None
    keeps_grid: ClassVar[bool] = False  # True: receptive_field passes through it

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
    """Shared Keras arguments of layers with a kernel and a bias (keyword-only), and Flax's
    `dtype` (the computation's; None: promoted from the input and parameters),
    `param_dtype` (the parameters') and `precision` (passed to `lax`)."""

    _: dataclasses.KW_ONLY
    activation: activations.Activation = None
    use_bias: bool = True
    kernel_initializer: initializers.Initializer = "glorot_uniform"
    bias_initializer: initializers.Initializer = "zeros"
    dtype: Any = None
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
