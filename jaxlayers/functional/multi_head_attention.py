"""Keras `MultiHeadAttention`'s op: projections, scaled dot-product attention over `attention_axes`, output projection."""
from __future__ import annotations

import functools
import math
import string
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxlayers._args import _is_int, check_array
from jaxlayers.functional.dropout import dropout as _dropout
from jaxlayers.functional.einsum_dense import einsum_dense

PROJECT = "abc,cde->abde"  # (batch, time, dim) x (dim, heads, size) -> (batch, time, heads, size)
COMBINE = "abcd,cde->abe"  # (batch, time, heads, value_dim) x (heads, value_dim, out) -> (batch, time, out)


def projection_equations(rank: int) -> tuple[str, str]:
    """Keras's projections of a (batch, *axes, features) input of rank `rank`: into heads, and back.

    Args:
        rank: the input's rank (3 for (batch, time, features)).

    Returns:
        (into heads: (batch, *axes, dim) x (dim, heads, size); out of them: (batch, *axes, heads, size) x
        (heads, size, out)); the kernels do not depend on the rank.
    """
    letters = string.ascii_lowercase
    free = letters[:rank - 1]
    into = f"{free}{letters[rank - 1]},{letters[rank - 1:rank + 2]}->{free}{letters[rank:rank + 2]}"
    out = f"{free}{letters[rank - 1:rank + 1]},{letters[rank - 1:rank + 2]}->{free}{letters[rank + 1]}"
    return into, out


def attention_equations(rank: int, axes: tuple[int, ...]) -> tuple[str, str]:
    """Keras's einsums of attention over `axes` of projected (batch, *axes, heads, channels) tensors.

    Args:
        rank: the projected tensors' rank (the input's plus one).
        axes: the attention axes (input axes, in [1, rank - 2)), in the scores' order.

    Returns:
        (key x query -> scores (batch, <other axes>, heads, <query's axes>, <key's axes>);
        scores x value -> the query's layout).
    """
    letters = string.ascii_lowercase
    target = letters[:rank]
    renamed = iter(letters[rank:])
    source = "".join(next(renamed) if i in axes else c for i, c in enumerate(target))
    batch = "".join(c for i, c in enumerate(target) if i not in axes and i != rank - 1)
    scores = batch + "".join(target[i] for i in axes) + "".join(source[i] for i in axes)
    return f"{source},{target}->{scores}", f"{scores},{source}->{target}"


def normalize_axes(attention_axes: int | Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Keras's `attention_axes` of a rank-`rank` input as non-negative axes (None: all but batch and features).

    Args:
        attention_axes: None, an int or a sequence of ints (negative ones count from the end).
        rank: the input's rank.

    Returns:
        The axes, each in [1, rank - 2], in the order given.

    Raises:
        ValueError: an axis that is batch, features or out of range, or repeated.
    """
    if attention_axes is None:
        return tuple(range(1, rank - 1))
    given = (attention_axes,) if _is_int(attention_axes) else tuple(attention_axes)
    axes = tuple(a + rank if a < 0 else a for a in given)
    if any(not 1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"`attention_axes` must be distinct axes of a rank-{rank} input other than batch and "
                         f"features (in [1, {rank - 2}] or [{2 - rank}, -2]), got {attention_axes!r}.")
    return axes


def check_weights(op: str, **weights: object) -> None:
    """`check_array` on each weight of `op` (name=value); the `*_bias` and `gate_*` ones may be None.

    Args:
        op: the op, for errors.
        **weights: the weights by argument name.

    Raises:
        TypeError: a weight that is not an array, named.
    """
    for name, value in weights.items():
        if not (value is None and (name.endswith("_bias") or name.startswith("gate_"))):
            check_array(value, op, name)


def _mask(mask: jax.Array | None, name: str, shape: tuple[int, ...]) -> jax.Array | None:
    if mask is None:
        return None
    mask = jnp.asarray(mask)
    if mask.ndim != len(shape) or any(m not in (1, n) for m, n in zip(mask.shape, shape)):
        raise ValueError(f"`{name}` must broadcast to shape {shape}, got shape {tuple(mask.shape)}.")
    return mask.astype(bool)


def sequence_mask(batch: int, tq: int, ts: int, attention_mask: jax.Array | None = None,
                  query_mask: jax.Array | None = None, value_mask: jax.Array | None = None,
                  key_mask: jax.Array | None = None, use_causal_mask: bool = False,
                  sliding_window: int | None = None) -> jax.Array | None:
    """Keras's attention mask of (batch, T, dim) queries over (batch, S, dim) values: every given mask ANDed.

    Args:
        batch, tq, ts: the batch size, the query's and the value's lengths.
        attention_mask: (batch, T, S) bool: False pairs get no weight.
        query_mask: (batch, T) bool: False rows attend to nothing.
        value_mask, key_mask: (batch, S) bool: False positions get no weight.
        use_causal_mask: query i attends only to positions <= i.
        sliding_window: query i attends only to positions j with |i - j| < sliding_window; None: all.

    Returns:
        (batch or 1, T, S) bool, or None when no mask is given.

    Raises:
        ValueError: a mask that does not broadcast to its shape.
    """
    masks = [_mask(attention_mask, "attention_mask", (batch, tq, ts))]
    masks.append(None if query_mask is None else _mask(query_mask, "query_mask", (batch, tq))[:, :, None])
    for name, m in (("value_mask", value_mask), ("key_mask", key_mask)):
        masks.append(None if m is None else _mask(m, name, (batch, ts))[:, None, :])
    rows, cols = jnp.arange(tq)[:, None], jnp.arange(ts)[None, :]
    if use_causal_mask:
        masks.append((rows >= cols)[None])
    if sliding_window is not None:
        masks.append((jnp.abs(rows - cols) < sliding_window)[None])
    present = [m for m in masks if m is not None]
    return functools.reduce(jnp.logical_and, present) if present else None


def masked_softmax(logits: jax.Array, mask: jax.Array | None, axis: int | tuple[int, ...] = -1) -> jax.Array:
    """Keras's `Softmax(axis)(logits, mask)`: masked logits pushed far down, their weights zeros.

    Args:
        logits: the attention logits.
        mask: bool, broadcasting to `logits`, or None.
        axis: the axes normalised over.

    Returns:
        The weights, `logits`' shape.
    """
    if mask is None:
        return jax.nn.softmax(logits, axis=axis)
    big = jnp.asarray(-3e4 if logits.dtype == jnp.float16 else -1e9, logits.dtype)
    return jnp.where(mask, jax.nn.softmax(jnp.where(mask, logits, big), axis=axis), 0.0)


def _fused_numbers(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None, scale: float) -> jax.Array:
    """`jax.nn.dot_product_attention`'s XLA computation (Keras's fused path; also for value_dim != key_dim,
    which that function refuses), written without its per-group `vmap` and layout changes: logits of the scaled query in at least float32, masked to -0.7 * the float max
    (fully masked rows get uniform weights), a float32 softmax in the key's dtype, then the values.

    Args:
        q: (batch, T, heads, key_dim).
        k: (batch, S, kv_heads, key_dim), heads a multiple of kv_heads.
        v: (batch, S, kv_heads, value_dim).
        mask: (batch or 1, T, S) bool, or None.
        scale: the logits' factor.

    Returns:
        (batch, T, heads, value_dim).
    """
    batch, tq, heads, size = q.shape
    groups = heads // k.shape[2]
    logits_dtype = jnp.promote_types(q.dtype, jnp.float32)
    q = q * jnp.asarray(scale, q.dtype)  # on the smaller operand (equal but for rounding)
    if groups == 1:  # the layout Flax's attention uses, which XLA:CPU runs with the fewest copies
        logits = jnp.einsum("bthd,bshd->bhts", q, k, preferred_element_type=logits_dtype)
    else:
        grouped = q.reshape(batch, tq, k.shape[2], groups, size)
        logits = jnp.einsum("btkgd,bskd->bkgts", grouped, k, preferred_element_type=logits_dtype)
    if mask is not None:
        big = -0.7 * min(float(jnp.finfo(logits_dtype).max), float(jnp.finfo(jnp.float32).max))
        logits = jnp.where(mask[:, None] if groups == 1 else mask[:, None, None], logits,
                           jnp.asarray(big, logits_dtype))
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(k.dtype)
    if groups == 1:
        return jnp.einsum("bhts,bshd->bthd", probs, v)
    return jnp.einsum("bkgts,bskd->btkgd", probs, v).reshape(batch, tq, heads, v.shape[-1])


def attend(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None, *, dropout: float = 0.0,
           rng_key: jax.Array | None = None, return_attention_scores: bool = False,
           implementation: str | None = None) -> tuple[jax.Array, jax.Array | None]:
    """Scaled dot-product attention of projected heads, Keras's way (key/value heads shared by query groups).

    Without scores and dropout it computes `jax.nn.dot_product_attention`'s numbers (as Keras's
    JAX backend; fully masked rows get uniform weights; its cuDNN kernel for `implementation`),
    else einsum and a softmax whose masked weights are zeros (as Keras's).

    Args:
        q: (batch, T, heads, key_dim).
        k: (batch, S, kv_heads, key_dim), `heads` a multiple of `kv_heads` (query head n uses
            key head n // (heads // kv_heads), as Keras's `repeat`).
        v: (batch, S, kv_heads, value_dim).
        mask: (batch or 1, T, S) bool, or None.
        dropout: the fraction of weights dropped (with `rng_key` only: training).
        rng_key: a PRNG key for dropout; None: no dropout.
        return_attention_scores: whether to return the weights (batch, heads, T, S).
        implementation: `jax.nn.dot_product_attention`'s ("cudnn" for flash attention), or None.

    Returns:
        context (batch, T, heads, value_dim) and the weights, or None unless asked.
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    explicit = dropout > 0 or return_attention_scores  # Keras's einsum path: masked weights are zeros
    if not explicit and k.shape[-1] == v.shape[-1] and implementation is not None:
        context = jax.nn.dot_product_attention(q, k, v, mask=None if mask is None else mask[:, None], scale=scale,
                                               implementation=implementation)
        return context, None
    if not explicit:
        return _fused_numbers(q, k, v, mask, scale), None
    repeats = q.shape[2] // k.shape[2]
    k, v = jnp.repeat(k, repeats, axis=2), jnp.repeat(v, repeats, axis=2)
    logits = jnp.einsum("aecd,abcd->acbe", k, q * jnp.asarray(scale, q.dtype))
    weights = masked_softmax(logits, None if mask is None else mask[:, None])
    scores = weights if return_attention_scores else None
    if dropout and rng_key is not None:
        weights = _dropout(weights, dropout, rng_key)
    return jnp.einsum("acbe,aecd->abcd", weights, v), scores


def _attend_over_axes(q: jax.Array, k: jax.Array, v: jax.Array, axes: tuple[int, ...],
                      attention_mask: jax.Array | None, dropout: float,
                      rng_key: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    """Keras's explicit attention over `axes` of projected (batch, *axes, heads, channels) tensors."""
    dot, combine = attention_equations(q.ndim, axes)
    logits = jnp.einsum(dot, k, q * jnp.asarray(1.0 / math.sqrt(q.shape[-1]), q.dtype))
    mask = None
    if attention_mask is not None:
        mask = jnp.asarray(attention_mask).astype(bool)
        while mask.ndim < logits.ndim:  # Keras's expansion: before the query's attention axes
            mask = jnp.expand_dims(mask, -2 * len(axes) - 1)
        if mask.ndim != logits.ndim or any(m not in (1, n) for m, n in zip(mask.shape, logits.shape)):
            raise ValueError(f"`attention_mask` must broadcast to the scores' shape {tuple(logits.shape)} (batch, "
                             f"<other axes>, heads, <query's attention axes>, <key's>) once Keras expands it, got "
                             f"shape {tuple(jnp.shape(attention_mask))}.")
    weights = masked_softmax(logits, mask, tuple(range(logits.ndim - len(axes), logits.ndim)))
    dropped = _dropout(weights, dropout, rng_key) if dropout and rng_key is not None else weights
    return jnp.einsum(combine, dropped, v), weights


def multi_head_attention(query: jax.Array, value: jax.Array, key: jax.Array | None = None, *,
                         query_kernel: jax.Array, key_kernel: jax.Array, value_kernel: jax.Array,
                         output_kernel: jax.Array, query_bias: jax.Array | None = None,
                         key_bias: jax.Array | None = None, value_bias: jax.Array | None = None,
                         output_bias: jax.Array | None = None, attention_mask: jax.Array | None = None,
                         query_mask: jax.Array | None = None, value_mask: jax.Array | None = None,
                         key_mask: jax.Array | None = None, use_causal_mask: bool = False,
                         sliding_window: int | None = None, gate_kernel: jax.Array | None = None,
                         gate_bias: jax.Array | None = None, dropout: float = 0.0,
                         rng_key: jax.Array | None = None, return_attention_scores: bool = False,
                         attention_axes: int | Sequence[int] | None = None) -> tuple[jax.Array, jax.Array | None]:
    """Keras `MultiHeadAttention`: projections, scaled dot-product over `attention_axes`, output projection.

    On (batch, time, features) inputs (attention over time) it runs `attend`; on inputs of higher
    rank, or other axes, Keras's einsums over the attention axes (the others batch-like).

    Args:
        query: (batch, T, dim_q), or (batch, *axes, dim_q).
        value: (batch, S, dim_v), or (batch, *axes, dim_v) (the query's sizes off the attention axes).
        key: the value's shape but the last (dim_k); None: `value`.
        query_kernel, key_kernel: (dim_q, heads, key_dim), (dim_k, heads, key_dim).
        value_kernel: (dim_v, heads, value_dim).
        output_kernel: (heads, value_dim, out).
        query_bias, key_bias, value_bias: (heads, key_dim) / (heads, value_dim), or None.
        output_bias: (out,), or None.
        attention_mask: (batch, T, S) bool: False pairs get no weight; over other axes, a mask
            broadcasting to the scores once Keras expands it before the query's attention axes.
        query_mask: (batch, T) bool, Keras's mask of the query: False rows attend to nothing.
        value_mask: (batch, S) bool, Keras's mask of the value: False positions get no weight.
        key_mask: (batch, S) bool, as `value_mask` (Keras's mask of the key).
        use_causal_mask: whether query i attends only to positions <= i.
        sliding_window: query i attends only to positions j with |i - j| < sliding_window
            (3-D inputs); None: all.
        gate_kernel, gate_bias: (dim_q, heads, value_dim), (heads, value_dim): Keras's `use_gate`,
            the context times sigmoid(the query's gate projection) before the output projection;
            None: no gate.
        dropout: the fraction of attention weights dropped (with `rng_key` only: training).
        rng_key: a PRNG key for dropout; None: no dropout.
        return_attention_scores: whether to compute the weights (batch, heads, T, S); over other
            axes (batch, <other axes>, heads, <query's attention axes>, <key's>).
        attention_axes: the axes attended over (an int or a sequence; negative ones count from
            the end); None: all but batch and features.

    Returns:
        output (batch, T, out) (the query's shape, `out` last) and the weights, or None unless asked.

    Raises:
        TypeError: a non-array input.
        ValueError: bad shapes or axes; the input masks, the causal mask or the sliding window off a
            3-D input's time axis.
    """
    key = value if key is None else key
    check_weights("multi_head_attention", query_kernel=query_kernel, key_kernel=key_kernel, value_kernel=value_kernel,
                  output_kernel=output_kernel, query_bias=query_bias, key_bias=key_bias, value_bias=value_bias,
                  output_bias=output_bias, gate_kernel=gate_kernel, gate_bias=gate_bias)
    for name, x in (("query", query), ("value", value), ("key", key)):
        check_array(x, "multi_head_attention", name)
        if x.ndim < 3 or x.ndim != query.ndim:
            raise ValueError(f"multi_head_attention `{name}` must be (batch, time, features) or (batch, *axes, "
                             f"features) of the query's rank, got shape {tuple(x.shape)}.")
    axes = normalize_axes(attention_axes, query.ndim)
    others = [i for i in range(query.ndim - 1) if i not in axes]
    if key.shape[:-1] != value.shape[:-1] or any(query.shape[i] != value.shape[i] for i in others):
        raise ValueError(f"multi_head_attention `query`, `value` and `key` must share batch (and every axis off the "
                         f"attention axes {axes}), `value` and `key` all sizes but the last, got shapes "
                         f"{tuple(query.shape)}, {tuple(value.shape)} and {tuple(key.shape)}.")
    into, out = projection_equations(query.ndim)
    q = einsum_dense(query, query_kernel, query_bias, equation=into)
    k = einsum_dense(key, key_kernel, key_bias, equation=into)
    v = einsum_dense(value, value_kernel, value_bias, equation=into)
    if q.shape[-2:] != k.shape[-2:] or q.shape[-2] != v.shape[-2]:
        raise ValueError(f"multi_head_attention: query and key projections must be (heads, key_dim) alike and value's "
                         f"share the heads, got {q.shape[-2:]}, {k.shape[-2:]} and {v.shape[-2:]}.")
    if query.ndim == 3:
        mask = sequence_mask(query.shape[0], query.shape[1], value.shape[1], attention_mask, query_mask,
                             value_mask, key_mask, use_causal_mask, sliding_window)
        context, scores = attend(q, k, v, mask, dropout=dropout, rng_key=rng_key,
                                 return_attention_scores=return_attention_scores)
    else:
        given = [n for n, m in (("query_mask", query_mask), ("value_mask", value_mask), ("key_mask", key_mask),
                                ("use_causal_mask", use_causal_mask or None), ("sliding_window", sliding_window))
                 if m is not None]
        if given:
            raise ValueError(f"multi_head_attention: {', '.join(f'`{n}`' for n in given)} need (batch, time, "
                             f"features) inputs (Keras's are over axis 1 only); inputs of shape "
                             f"{tuple(query.shape)} take `attention_mask` only.")
        context, scores = _attend_over_axes(q, k, v, axes, attention_mask, dropout, rng_key)
        scores = scores if return_attention_scores else None
    if gate_kernel is not None:
        context = context * jax.nn.sigmoid(einsum_dense(query, gate_kernel, gate_bias, equation=into))
    return einsum_dense(context, output_kernel, output_bias, equation=out), scores
