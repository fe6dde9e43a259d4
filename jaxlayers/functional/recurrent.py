"""Recurrent layers' loops, as Keras 3 on JAX runs them: `simple_rnn`, `lstm`, `gru`.

Each is one `lax.scan` over time, each step's input and recurrent projections done in
the step, as Keras does. Weights are in Keras's layouts: `kernel` (in_features, gates * units),
`recurrent_kernel` (units, gates * units), gates in Keras's order (LSTM i, f, c, o; GRU
z, r, h). A `mask` (batch, time) of False steps carries the state over and repeats the
previous output (Keras's `zero_output_for_mask=False`, its RNN layers' setting).
Sequences come back in the order processed: reversed with `go_backwards`, as Keras's.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers.functional._checks import check_precision

Activation = Callable[[jax.Array], jax.Array]
Step = Callable[[jax.Array, tuple[jax.Array, ...]], tuple[jax.Array, ...]]


def _check(x: Any, kernel: Any, recurrent_kernel: Any, gates: int, what: str) -> tuple[int, int, int, int]:
    """(batch, time, in_features, units) of a call, checked: x (batch, time, features) and the kernels."""
    if x.ndim != 3:
        raise ValueError(f"`x` must have 3 dimensions (batch, time, features) for {what}, got shape "
                         f"{tuple(x.shape)}.")
    if recurrent_kernel.ndim != 2 or recurrent_kernel.shape[1] != gates * recurrent_kernel.shape[0] or \
            recurrent_kernel.shape[0] < 1:
        raise ValueError(f"`recurrent_kernel` must be (units, {gates} * units) for {what}, got shape "
                         f"{tuple(recurrent_kernel.shape)}.")
    units = recurrent_kernel.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != gates * units:
        raise ValueError(f"`kernel` must be (in_features, {gates * units}) for {what} with units={units}, got shape "
                         f"{tuple(kernel.shape)}.")
    if x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"`x` has {x.shape[-1]} features but `kernel` of shape {tuple(kernel.shape)} expects "
                         f"{kernel.shape[0]}: x shape {tuple(x.shape)}.")
    return x.shape[0], x.shape[1], x.shape[2], units


def _check_bias(bias: Any, shape: tuple[int, ...], what: str) -> None:
    if bias is not None and tuple(bias.shape) != shape:
        raise ValueError(f"`bias` must have shape {shape} for {what}, got {tuple(bias.shape)}.")


def _states(initial_state: Any, count: int, batch: int, units: int, dtype: Any, what: str) -> tuple[jax.Array, ...]:
    """The initial states: zeros, or the given (batch, units) arrays (one, or a sequence of `count`)."""
    if initial_state is None:
        return tuple(jnp.zeros((batch, units), dtype) for _ in range(count))
    states = (initial_state,) if hasattr(initial_state, "shape") else tuple(initial_state)
    if len(states) != count or any(not hasattr(s, "shape") or tuple(s.shape) != (batch, units) for s in states):
        got = [tuple(s.shape) if hasattr(s, "shape") else type(s).__name__ for s in states]
        raise ValueError(f"`initial_state` must be {count} array(s) of shape {(batch, units)} for {what}, got {got}.")
    return tuple(jnp.asarray(s, dtype) for s in states)


def _mask(mask: Any, batch: int, time: int) -> jax.Array | None:
    if mask is None:
        return None
    if not hasattr(mask, "shape") or tuple(mask.shape) != (batch, time):
        got = tuple(mask.shape) if hasattr(mask, "shape") else type(mask).__name__
        raise ValueError(f"`mask` must be (batch, time) = {(batch, time)}, got {got}.")
    return jnp.asarray(mask).astype(bool)


def _dropout_mask(mask: Any, gates: int, batch: int, size: int, name: str) -> None:
    if mask is not None and tuple(mask.shape) not in ((batch, size), (gates, batch, size)):
        raise ValueError(f"`{name}` must be {(batch, size)} (shared by the gates) or {(gates, batch, size)} (one per "
                         f"gate), got {tuple(mask.shape)}.")


def _input(x_t: jax.Array, kernel: jax.Array, bias: jax.Array | None, dropout_mask: jax.Array | None,
           precision: lax.PrecisionLike) -> jax.Array:
    """A step's input projection x_t @ kernel (+ bias), x_t (batch, in_features) dropped out by
    `dropout_mask` (shared, or one per gate): (batch, gates * units). In the step, as Keras
    does: fwd+bwd on a 2-core CPU 1.4x faster (LSTM, batch 64, 100 steps) than one product
    over every step before the scan (benchmarks/RESULTS.md)."""
    if dropout_mask is None or dropout_mask.ndim == 2:
        z = jnp.matmul(x_t if dropout_mask is None else x_t * dropout_mask, kernel, precision=precision)
    else:  # one mask per gate (Keras's implementation 1, with recurrent dropout)
        f, k = kernel.shape
        gates = dropout_mask.shape[0]
        z = jnp.einsum("gbf,fgu->bgu", x_t[None] * dropout_mask, kernel.reshape(f, gates, k // gates),
                       precision=precision).reshape(x_t.shape[0], k)
    return z if bias is None else z + bias


def _recurrent(h: jax.Array, recurrent_kernel: jax.Array, mask: jax.Array | None, precision: lax.PrecisionLike
               ) -> jax.Array:
    """h @ recurrent_kernel, h dropped out by `mask` (shared, or one per gate): (batch, gates * units)."""
    if mask is None or mask.ndim == 2:
        return jnp.matmul(h if mask is None else h * mask, recurrent_kernel, precision=precision)
    units, k = recurrent_kernel.shape
    gates = k // units
    out = jnp.einsum("gbu,ugv->bgv", h[None] * mask, recurrent_kernel.reshape(units, gates, units),
                     precision=precision)
    return out.reshape(h.shape[0], k)


def _scan(step: Step, z: jax.Array, states: tuple[jax.Array, ...], mask: jax.Array | None, go_backwards: bool,
          return_sequences: bool, unroll: bool) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """Run `step` over the time-major `z` (time, batch, ...); (outputs, final states), outputs batch-major."""
    if go_backwards:
        z = jnp.flip(z, 0)
        mask = None if mask is None else jnp.flip(mask, 1)
    if mask is None:
        def body(carry: tuple, x_t: jax.Array) -> tuple:
            new = step(x_t, carry)
            return new, new[0] if return_sequences else None

        xs: Any = z
        init: Any = states
    else:
        # A masked step keeps the states and outputs the previous output: the first state
        # (Keras's scan), or zeros before any unmasked step when unrolled (Keras's unrolled loop).
        def body(carry: tuple, xs_t: tuple) -> tuple:
            states_t, previous = carry
            x_t, m_t = xs_t
            m_t = m_t.reshape(m_t.shape + (1,) * (states_t[0].ndim - 1))  # (batch, 1, ...) as the states
            new = tuple(jnp.where(m_t, n, s) for n, s in zip(step(x_t, states_t), states_t))
            out = jnp.where(m_t, new[0], states_t[0] if previous is None else previous)
            return (new, None if previous is None else out), out if return_sequences else None

        xs = (z, jnp.swapaxes(mask, 0, 1))
        init = (states, jnp.zeros_like(states[0]) if unroll else None)
    final, outputs = lax.scan(body, init, xs, unroll=True if unroll else 1)
    final = final if mask is None else final[0]
    return (jnp.swapaxes(outputs, 0, 1) if return_sequences else final[0]), final


def _prepare(x: Any, weights: Sequence[Any], initial_state: Any, mask: Any, count: int, gates: int,
             dropout_mask: Any, recurrent_dropout_mask: Any, precision: Any, what: str
             ) -> tuple[jax.Array, tuple, tuple, jax.Array | None]:
    """The shared checks and dtype rule: arrays in `jnp.result_type` of x and the weights."""
    x, kernel, recurrent_kernel = jnp.asarray(x), jnp.asarray(weights[0]), jnp.asarray(weights[1])
    batch, time, features, units = _check(x, kernel, recurrent_kernel, gates, what)
    check_precision(precision)
    _dropout_mask(dropout_mask, gates, batch, features, "dropout_mask")
    _dropout_mask(recurrent_dropout_mask, gates, batch, units, "recurrent_dropout_mask")
    dtype = jnp.result_type(*(a for a in (x, *weights) if a is not None))
    cast = tuple(None if a is None else jnp.asarray(a, dtype) for a in (x, *weights, dropout_mask,
                                                                        recurrent_dropout_mask))
    states = _states(initial_state, count, batch, units, dtype, what)
    return cast[0], cast[1:], states, _mask(mask, batch, time)


def simple_rnn(x: jax.Array, kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array | None = None, *,
               activation: Activation = jnp.tanh, initial_state: jax.Array | Sequence[jax.Array] | None = None,
               mask: jax.Array | None = None, go_backwards: bool = False, return_sequences: bool = True,
               unroll: bool = False, dropout_mask: jax.Array | None = None,
               recurrent_dropout_mask: jax.Array | None = None, precision: lax.PrecisionLike = None
               ) -> tuple[jax.Array, tuple[jax.Array]]:
    """Keras `SimpleRNN`'s loop: h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel).

    Args:
        x: (batch, time, in_features).
        kernel: (in_features, units).
        recurrent_kernel: (units, units).
        bias: (units,), or None.
        activation: applied to each step's sum.
        initial_state: h_0, (batch, units) (alone or in a 1-sequence); None: zeros.
        mask: (batch, time), False for the steps to skip; None: every step.
        go_backwards: process the sequence last step first (outputs in that order).
        return_sequences: return every step's output, else the last one.
        unroll: unroll the scan.
        dropout_mask: (batch, in_features) multipliers of x at every step, or None.
        recurrent_dropout_mask: (batch, units) multipliers of h_{t-1}, or None.
        precision: passed to the matrix products (`lax.Precision`).

    Returns:
        `(outputs, (h,))`: outputs (batch, time, units) or (batch, units), the final state
        h (batch, units), in `jnp.result_type` of x and the weights.

    Raises:
        ValueError: arrays of the wrong shapes, named.
    """
    x, (kernel, recurrent_kernel, bias, dmask, rmask), states, mask = _prepare(
        x, (kernel, recurrent_kernel, bias), initial_state, mask, 1, 1, dropout_mask, recurrent_dropout_mask,
        precision, "SimpleRNN")
    _check_bias(bias, (kernel.shape[1],), "SimpleRNN")

    def step(x_t: jax.Array, states: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        z_t = _input(x_t, kernel, bias, dmask, precision)
        return (activation(z_t + _recurrent(states[0], recurrent_kernel, rmask, precision)),)

    return _scan(step, jnp.swapaxes(x, 0, 1), states, mask, go_backwards, return_sequences, unroll)


def lstm(x: jax.Array, kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array | None = None, *,
         activation: Activation = jnp.tanh, recurrent_activation: Activation = jax.nn.sigmoid,
         initial_state: Sequence[jax.Array] | None = None, mask: jax.Array | None = None, go_backwards: bool = False,
         return_sequences: bool = True, unroll: bool = False, dropout_mask: jax.Array | None = None,
         recurrent_dropout_mask: jax.Array | None = None, precision: lax.PrecisionLike = None
         ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """Keras `LSTM`'s loop, gates i, f, c, o: c_t = f * c_{t-1} + i * activation(c~), h_t = o * activation(c_t).

    Args:
        x: (batch, time, in_features).
        kernel: (in_features, 4 * units).
        recurrent_kernel: (units, 4 * units).
        bias: (4 * units,), or None.
        activation: the cell's and output's activation.
        recurrent_activation: the gates' activation.
        initial_state: (h_0, c_0), each (batch, units); None: zeros.
        mask: (batch, time), False for the steps to skip; None: every step.
        go_backwards: process the sequence last step first (outputs in that order).
        return_sequences: return every step's output h_t, else the last one.
        unroll: unroll the scan.
        dropout_mask: multipliers of x at every step: (batch, in_features), or
            (4, batch, in_features) one per gate; None: none.
        recurrent_dropout_mask: multipliers of h_{t-1}: (batch, units) or (4, batch, units).
        precision: passed to the matrix products (`lax.Precision`).

    Returns:
        `(outputs, (h, c))`: outputs (batch, time, units) or (batch, units), the final
        states (batch, units) each, in `jnp.result_type` of x and the weights.

    Raises:
        ValueError: arrays of the wrong shapes, named.
    """
    x, (kernel, recurrent_kernel, bias, dmask, rmask), states, mask = _prepare(
        x, (kernel, recurrent_kernel, bias), initial_state, mask, 2, 4, dropout_mask, recurrent_dropout_mask,
        precision, "LSTM")
    _check_bias(bias, (kernel.shape[1],), "LSTM")

    def step(x_t: jax.Array, states: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        h, c = states
        z_t = _input(x_t, kernel, bias, dmask, precision) + _recurrent(h, recurrent_kernel, rmask, precision)
        i, f, g, o = jnp.split(z_t, 4, axis=-1)
        c = recurrent_activation(f) * c + recurrent_activation(i) * activation(g)
        return recurrent_activation(o) * activation(c), c

    return _scan(step, jnp.swapaxes(x, 0, 1), states, mask, go_backwards, return_sequences, unroll)


def gru(x: jax.Array, kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array | None = None, *,
        activation: Activation = jnp.tanh, recurrent_activation: Activation = jax.nn.sigmoid,
        reset_after: bool = True, initial_state: jax.Array | Sequence[jax.Array] | None = None,
        mask: jax.Array | None = None, go_backwards: bool = False, return_sequences: bool = True,
        unroll: bool = False, dropout_mask: jax.Array | None = None,
        recurrent_dropout_mask: jax.Array | None = None, precision: lax.PrecisionLike = None
        ) -> tuple[jax.Array, tuple[jax.Array]]:
    """Keras `GRU`'s loop, gates z, r, h: h_t = z * h_{t-1} + (1 - z) * activation(h~).

    With `reset_after` (Keras's default, cuDNN's), h~ = x_h + r * (h_{t-1} @ U_h + b_h'); else
    h~ = x_h + (r * h_{t-1}) @ U_h.

    Args:
        x: (batch, time, in_features).
        kernel: (in_features, 3 * units).
        recurrent_kernel: (units, 3 * units).
        bias: `reset_after`: (2, 3 * units), input then recurrent biases; else (3 * units,);
            or None.
        activation: the candidate's activation.
        recurrent_activation: the gates' activation.
        reset_after: apply the reset gate after the recurrent product.
        initial_state: h_0, (batch, units) (alone or in a 1-sequence); None: zeros.
        mask: (batch, time), False for the steps to skip; None: every step.
        go_backwards: process the sequence last step first (outputs in that order).
        return_sequences: return every step's output, else the last one.
        unroll: unroll the scan.
        dropout_mask: multipliers of x at every step: (batch, in_features), or
            (3, batch, in_features) one per gate; None: none.
        recurrent_dropout_mask: multipliers of h_{t-1}: (batch, units) or (3, batch, units).
        precision: passed to the matrix products (`lax.Precision`).

    Returns:
        `(outputs, (h,))`: outputs (batch, time, units) or (batch, units), the final state
        (batch, units), in `jnp.result_type` of x and the weights.

    Raises:
        ValueError: arrays of the wrong shapes, named.
    """
    x, (kernel, recurrent_kernel, bias, dmask, rmask), states, mask = _prepare(
        x, (kernel, recurrent_kernel, bias), initial_state, mask, 1, 3, dropout_mask, recurrent_dropout_mask,
        precision, "GRU")
    k = kernel.shape[1]
    _check_bias(bias, (2, k) if reset_after else (k,), f"GRU(reset_after={reset_after})")
    input_bias, recurrent_bias = (bias, None) if bias is None or not reset_after else (bias[0], bias[1])
    units = k // 3

    def gate(a: jax.Array, w: jax.Array, b: jax.Array | None, m: jax.Array | None, j: int) -> jax.Array:
        """Gate j's own product, a @ w[:, gate j] (+ b's gate j), a dropped out by m (shared or one per
        gate): one product per gate, as Flax's GRUCell, is 1.1-1.3x faster fwd+bwd on CPU than one split."""
        a = a if m is None else a * (m[j] if m.ndim == 3 else m)
        out = jnp.matmul(a, w[:, j * units:(j + 1) * units], precision=precision)
        return out if b is None else out + b[j * units:(j + 1) * units]

    def step(x_t: jax.Array, states: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        (h,) = states
        x_z, x_r, x_h = (gate(x_t, kernel, input_bias, dmask, j) for j in range(3))
        h_z, h_r = (gate(h, recurrent_kernel, recurrent_bias, rmask, j) for j in range(2))
        r = recurrent_activation(x_r + h_r)
        if reset_after:
            candidate = x_h + r * gate(h, recurrent_kernel, recurrent_bias, rmask, 2)
        else:
            h_h = h if rmask is None else h * (rmask[2] if rmask.ndim == 3 else rmask)
            candidate = x_h + jnp.matmul(r * h_h, recurrent_kernel[:, 2 * units:], precision=precision)
        z = recurrent_activation(x_z + h_z)
        return (z * h + (1 - z) * activation(candidate),)

    return _scan(step, jnp.swapaxes(x, 0, 1), states, mask, go_backwards, return_sequences, unroll)
