"""Keras `ConvLSTM1D/2D/3D`'s loop (`keras/src/layers/rnn/conv_lstm.py`), channels-last.

The input convolution of every step is one `conv` over (batch * time, *spatial, in)
before one `lax.scan`; each step adds the recurrent convolution of h_{t-1} ('same',
stride 1, as Keras's). Gates i, f, c, o in Keras's order along the kernels' last axis.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq
from jaxlayers.functional._checks import check_arrays
from jaxlayers.functional.conv import conv
from jaxlayers.functional.recurrent import Activation, _mask, _scan


def _check(x: jax.Array, kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array | None) -> int:
    """The spatial rank, with the shapes checked: x (batch, time, *spatial, in) and the kernels."""
    rank = kernel.ndim - 2
    if rank < 1:
        raise ValueError(f"`kernel` must be (*kernel_size, in, 4 * filters), got shape {tuple(kernel.shape)}.")
    if x.ndim != rank + 3:
        raise ValueError(f"`x` must have {rank + 3} dimensions (batch, time, *spatial, channels) for a rank-{rank} "
                         f"ConvLSTM, got shape {tuple(x.shape)}.")
    width = kernel.shape[-1]
    if width % 4 or x.shape[-1] != kernel.shape[-2]:
        raise ValueError(f"`kernel` must be (*kernel_size, {x.shape[-1]}, 4 * filters) for x of shape "
                         f"{tuple(x.shape)}, got {tuple(kernel.shape)}.")
    if recurrent_kernel.ndim != rank + 2 or tuple(recurrent_kernel.shape[-2:]) != (width // 4, width):
        raise ValueError(f"`recurrent_kernel` must be (*kernel_size, {width // 4}, {width}), got shape "
                         f"{tuple(recurrent_kernel.shape)}.")
    if bias is not None and tuple(bias.shape) != (width,):
        raise ValueError(f"`bias` must have shape {(width,)}, got {tuple(bias.shape)}.")
    return rank


def _gate_masks(mask: Any, name: str, shape: tuple[int, ...]) -> None:
    if mask is not None and tuple(mask.shape) != (4, *shape):
        raise ValueError(f"`{name}` must be {(4, *shape)} (one per gate), got {tuple(mask.shape)}.")


def conv_lstm(x: jax.Array, kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array | None = None, *,
              strides: IntOrSeq = 1, padding: pad.Padding = "valid", dilation_rate: IntOrSeq = 1,
              activation: Activation = jnp.tanh, recurrent_activation: Activation = jax.nn.sigmoid,
              initial_state: Sequence[jax.Array] | None = None, mask: jax.Array | None = None,
              go_backwards: bool = False, return_sequences: bool = True, unroll: bool = False,
              dropout_mask: jax.Array | None = None, recurrent_dropout_mask: jax.Array | None = None,
              precision: lax.PrecisionLike = None) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """Keras `ConvLSTMND`'s loop: the LSTM's gates, with convolutions for the products.

    Args:
        x: (batch, time, *spatial, in).
        kernel: (*kernel_size, in, 4 * filters), gates i, f, c, o.
        recurrent_kernel: (*kernel_size, filters, 4 * filters).
        bias: (4 * filters,), or None.
        strides: the input convolution's, an int or one per spatial axis.
        padding: the input convolution's ("valid", "same", ...; as `conv`).
        dilation_rate: the input convolution's.
        activation: the cell's and output's activation.
        recurrent_activation: the gates' activation.
        initial_state: (h_0, c_0), each (batch, *out_spatial, filters); None: zeros.
        mask: (batch, time), False for the steps to skip (state carried, output repeated).
        go_backwards: process the sequence last step first (outputs in that order).
        return_sequences: return every step's output h_t, else the last one.
        unroll: unroll the scan.
        dropout_mask: (4, batch, *spatial, in) multipliers of x, one per gate, or None.
        recurrent_dropout_mask: (4, batch, *out_spatial, filters) multipliers of h_{t-1}.
        precision: passed to the convolutions.

    Returns:
        `(outputs, (h, c))`: outputs (batch, time, *out_spatial, filters) or the last
        step's, and the final states (batch, *out_spatial, filters).

    Raises:
        TypeError: a non-array argument (a list, a number), named.
        ValueError: arrays of the wrong shapes, named.
    """
    check_arrays("conv_lstm", x=x, kernel=kernel, recurrent_kernel=recurrent_kernel, bias=bias)
    x, kernel, recurrent_kernel = jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(recurrent_kernel)
    bias = None if bias is None else jnp.asarray(bias)
    _check(x, kernel, recurrent_kernel, bias)
    dtype = jnp.result_type(*(a for a in (x, kernel, recurrent_kernel, bias) if a is not None))
    x, kernel, recurrent_kernel = x.astype(dtype), kernel.astype(dtype), recurrent_kernel.astype(dtype)
    bias = None if bias is None else bias.astype(dtype)
    batch, time = x.shape[:2]
    _gate_masks(dropout_mask, "dropout_mask", (batch, *x.shape[2:]))
    flat = x.reshape(batch * time, *x.shape[2:])
    options = {"strides": strides, "padding": padding, "dilation_rate": dilation_rate, "precision": precision}
    if dropout_mask is None:
        z = conv(flat, kernel, bias, **options)
    else:  # a dropped-out input per gate (the same units at every step): a conv per gate
        dmask = jnp.repeat(jnp.asarray(dropout_mask, dtype), time, axis=1)
        z = jnp.concatenate([conv(flat * dmask[g], k, None if bias is None else b, **options) for g, (k, b) in
                             enumerate(zip(jnp.split(kernel, 4, -1), [None] * 4 if bias is None else
                                           jnp.split(bias, 4)))], axis=-1)
    z = jnp.swapaxes(z.reshape(batch, time, *z.shape[1:]), 0, 1)  # (time, batch, *out, 4 * filters)
    state_shape = (batch, *z.shape[2:-1], recurrent_kernel.shape[-2])
    _gate_masks(recurrent_dropout_mask, "recurrent_dropout_mask", state_shape)
    rmask = None if recurrent_dropout_mask is None else jnp.asarray(recurrent_dropout_mask, dtype)
    if initial_state is None:
        states = (jnp.zeros(state_shape, dtype),) * 2
    else:
        states = tuple(initial_state)
        if len(states) != 2 or any(tuple(getattr(s, "shape", ())) != state_shape for s in states):
            got = [tuple(s.shape) if hasattr(s, "shape") else type(s).__name__ for s in states]
            raise ValueError(f"`initial_state` must be [h_0, c_0], each of shape {state_shape}, got {got}.")
        states = tuple(jnp.asarray(s, dtype) for s in states)

    def recurrent(h: jax.Array) -> jax.Array:
        if rmask is None:
            return conv(h, recurrent_kernel, padding="same", precision=precision)
        return jnp.concatenate([conv(h * rmask[g], k, padding="same", precision=precision)
                                for g, k in enumerate(jnp.split(recurrent_kernel, 4, -1))], axis=-1)

    def step(z_t: jax.Array, states: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        h, c = states
        i, f, g, o = jnp.split(z_t + recurrent(h), 4, axis=-1)
        c = recurrent_activation(f) * c + recurrent_activation(i) * activation(g)
        return recurrent_activation(o) * activation(c), c

    return _scan(step, z, states, _mask(mask, batch, time), go_backwards, return_sequences, unroll)
