"""Keras `ConvLSTM1D`, `ConvLSTM2D`, `ConvLSTM3D` (`keras/src/layers/rnn/conv_lstm.py`)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import activations, initializers
from jaxlayers import functional as F
from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, _is_int, check_bool
from jaxlayers.functional.conv import check_arguments
from jaxlayers.layers.layer import KernelLayer, Weight, ranked
from jaxlayers.layers.rnn.rnn import RecurrentLayer, check_dropout


class ConvLSTM(KernelLayer):
    """Keras `ConvLSTMND(filters, kernel_size)`: x (batch, time, *spatial, in) -> (batch, *out, filters), or sequences.

    Weights kernel (*kernel_size, in, 4 * filters), recurrent_kernel (*kernel_size,
    filters, 4 * filters), bias (4 * filters,), gates i, f, c, o (Keras's order). The
    input convolution takes `strides`, `padding`, `dilation_rate`; the recurrent one is
    'same' with stride 1 (Keras's). The call takes `mask=` (batch, time) and
    `initial_state=` ([h_0, c_0], each (batch, *out, filters)); with `return_state` it
    returns `(output, h, c)`. Training mode drops `dropout` of the inputs and
    `recurrent_dropout` of the states, one mask per gate, the same at every step.

    Args:
        filters: the state's channels.
        kernel_size: an int or one per spatial axis.
        strides: the input convolution's, an int or one per spatial axis (keyword-only,
            as all the arguments below).
        padding: the input convolution's, "valid" or "same".
        data_format: only "channels_last".
        dilation_rate: the input convolution's, an int or one per spatial axis.
        activation: the cell's and output's activation.
        recurrent_activation: the gates' activation.
        recurrent_initializer: the initializer of `recurrent_kernel`.
        unit_forget_bias: initialise the forget gate's bias to 1.
        dropout: the fraction of the inputs' units dropped in training, in [0, 1].
        recurrent_dropout: the fraction of the state's units dropped in training.
        seed: an int folded into the dropout key, or None.
        return_sequences: return every step's output, not the last.
        return_state: also return the final states, `(output, h, c)`.
        go_backwards: process the sequence from its last step.
        stateful: only False (refused otherwise).
        unroll: unroll the loop.
        deterministic: inference mode (no dropout).
        rng_collection: the rng stream of the dropout masks.

    Attributes:
        in_channels: (NNX's first argument) the input's channels.
    """

    mode = "deterministic"
    stochastic = True
    takes_mask = True
    input_sizes = {"in_channels": "the input's channels (x.shape[-1])."}

    filters: int
    kernel_size: IntOrSeq
    _: dataclasses.KW_ONLY
    strides: IntOrSeq = 1
    padding: pad.Padding = "valid"
    data_format: str = "channels_last"
    dilation_rate: IntOrSeq = 1
    activation: activations.Activation = "tanh"
    recurrent_activation: activations.Activation = "sigmoid"
    recurrent_initializer: initializers.Initializer = "orthogonal"
    unit_forget_bias: bool = True
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    seed: int | None = None
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    unroll: bool = False
    deterministic: bool = True
    rng_collection: str = "dropout"

    def check(self) -> None:
        super().check()
        name = type(self).__name__
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{name}: `padding` must be 'valid' or 'same' (Keras's), got {self.padding!r}.")
        check_arguments(self.rank, self.filters, self.kernel_size, self.strides, self.padding, self.dilation_rate,
                        owner=name)
        if self.data_format != "channels_last":
            raise ValueError(f"{name}: `data_format` must be 'channels_last' (the only layout supported), got "
                             f"{self.data_format!r}.")
        activations.get(self.recurrent_activation)
        initializers.get(self.recurrent_initializer, "recurrent_initializer")
        check_dropout(self.dropout, "dropout")
        check_dropout(self.recurrent_dropout, "recurrent_dropout")
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")
        for flag in ("unit_forget_bias", "return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                     "deterministic"):
            check_bool(getattr(self, flag), flag)
        if self.stateful:
            raise ValueError(f"{name}(stateful=True) is not supported: pass the states on yourself "
                             "(`return_state=True`, then `initial_state=`).")

    def sizes(self, x: Any) -> dict[str, Any]:
        if not hasattr(x, "ndim") or x.ndim != self.rank + 3:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"{type(self).__name__} expects a {self.rank + 3}-D input (batch, time, *spatial, "
                             f"channels), got shape {shape}.")
        return {"in_channels": x.shape[-1]}

    def build(self, in_channels: int) -> dict[str, Weight | None]:
        kernel_size, _, _ = check_arguments(self.rank, self.filters, self.kernel_size, self.strides, self.padding,
                                            self.dilation_rate, channels=in_channels, owner=type(self).__name__)
        width = 4 * self.filters
        return {"kernel": Weight((*kernel_size, in_channels, width), self.kernel_initializer),
                "recurrent_kernel": Weight((*kernel_size, self.filters, width), self.recurrent_initializer),
                "bias": Weight((width,), self._bias_init(), argument="bias_initializer") if self.use_bias else None}

    def _bias_init(self) -> initializers.Initializer:
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, filters = initializers.get(self.bias_initializer, "bias_initializer"), self.filters

        def forget_ones(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
            return jnp.concatenate([init(key, (filters,), dtype), jnp.ones((filters,), dtype),
                                    init(key, (2 * filters,), dtype)])

        return forget_ones

    compute_mask = RecurrentLayer.compute_mask  # Keras's: the input's mask with `return_sequences`, else None

    def _masks(self, key: jax.Array, x: jax.Array, state_shape: tuple[int, ...]
               ) -> tuple[jax.Array | None, jax.Array | None]:
        """Keras's dropout masks, one per gate: (4, batch, *spatial, in) and (4, *state_shape)."""
        masks = []
        for k, rate, shape in zip(jax.random.split(key), (self.dropout, self.recurrent_dropout),
                                  ((x.shape[0], *x.shape[2:]), state_shape)):
            if not 0.0 < rate < 1.0:
                masks.append(None)
                continue
            keep = jax.random.bernoulli(k, 1.0 - rate, (4, *shape))
            masks.append(jnp.where(keep, jnp.asarray(1.0 / (1.0 - rate), x.dtype), jnp.zeros((), x.dtype)))
        return masks[0], masks[1]

    def call(self, x: jax.Array, kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array | None,
             training: bool, rng: Callable[[], jax.Array], mask: jax.Array | None = None,
             initial_state: Sequence[jax.Array] | None = None) -> Any:
        x, kernel, recurrent_kernel, bias = self.promote(x, kernel, recurrent_kernel, bias)
        dropout_mask = recurrent_mask = None
        if training and (0.0 < self.dropout < 1.0 or 0.0 < self.recurrent_dropout < 1.0):
            out = jax.eval_shape(lambda a: F.conv(a, kernel[..., :self.filters], strides=self.strides,
                                                  padding=self.padding, dilation_rate=self.dilation_rate),
                                 x[:, 0]).shape
            dropout_mask, recurrent_mask = self._masks(rng(), x, out)
        outputs, states = F.conv_lstm(
            x, kernel, recurrent_kernel, bias, strides=self.strides, padding=self.padding,
            dilation_rate=self.dilation_rate, activation=activations.get(self.activation),
            recurrent_activation=activations.get(self.recurrent_activation), initial_state=initial_state,
            mask=mask, go_backwards=self.go_backwards, return_sequences=self.return_sequences, unroll=self.unroll,
            dropout_mask=dropout_mask, recurrent_dropout_mask=recurrent_mask, precision=self.precision)
        return (outputs, *states) if self.return_state else outputs


ConvLSTM1D, ConvLSTM2D, ConvLSTM3D = ranked(
    ConvLSTM, "ConvLSTM{}D", "Keras `{name}`: x (batch, time, *spatial, in) with its rank of spatial axes.\n"
    + ConvLSTM.__doc__.split("\n", 1)[1])
