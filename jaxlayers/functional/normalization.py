"""Batch, layer, group, RMS and unit normalization with Keras's arithmetic (statistics in at least float32)."""
from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers._args import _is_int, check_array


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    return float(value)


def check_momentum(momentum: Any) -> float:
    """`BatchNormalization`'s `momentum` (the moving statistics' decay) as a float in [0, 1].

    Args:
        momentum: a real number (not a bool) in [0, 1].

    Returns:
        `momentum` as a Python float.

    Raises:
        TypeError: `momentum` is not a real number.
        ValueError: `momentum` is outside [0, 1] (or NaN).
    """
    value = _real(momentum, "momentum")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`momentum` must be in [0, 1] (the moving statistics' decay), got {momentum!r}.")
    return value


def check_epsilon(epsilon: Any) -> float:
    """`BatchNormalization`/`LayerNormalization`'s `epsilon` (added to the variance) as a float > 0.

    Args:
        epsilon: a finite real number (not a bool) > 0.

    Returns:
        `epsilon` as a Python float.

    Raises:
        TypeError: `epsilon` is not a real number.
        ValueError: `epsilon` is not finite and > 0.
    """
    value = _real(epsilon, "epsilon")
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"`epsilon` must be a finite number > 0 (added to the variance), got {epsilon!r}.")
    return value


def normalize_axes(axis: int | Sequence[int], ndim: int, name: str = "axis") -> tuple[int, ...]:
    """`axis` (an int or ints, negatives from the end) as sorted non-negative axes of an `ndim`-D input.

    Args:
        axis: an int or a non-empty sequence of ints, in [-ndim, ndim), none repeated.
        ndim: the input's rank.
        name: the argument named in errors.

    Returns:
        The axes, non-negative and sorted.

    Raises:
        TypeError: not an int or a non-empty sequence of ints.
        ValueError: an axis out of range, or repeated.
    """
    axes = (axis,) if _is_int(axis) else axis
    if isinstance(axes, str) or not isinstance(axes, Sequence) or not axes or not all(map(_is_int, axes)):
        raise TypeError(f"`{name}` must be an int or a non-empty sequence of ints, got {axis!r}.")
    if any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"`{name}` must be in [-{ndim}, {ndim}) for a {ndim}-D input, got {axis!r}.")
    normalized = sorted(int(a) % ndim for a in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"`{name}` repeats an axis: {axis!r} for a {ndim}-D input.")
    return tuple(normalized)


def feature_axis(axis: int, ndim: int) -> int:
    """`BatchNormalization`'s `axis` (one int, negatives from the end) as a non-negative axis.

    Args:
        axis: an int in [-ndim, ndim).
        ndim: the input's rank.

    Returns:
        The axis, non-negative.

    Raises:
        TypeError: `axis` is not an int.
        ValueError: `axis` is out of range.
    """
    if not _is_int(axis):
        raise TypeError(f"`axis` must be an int, got {axis!r}.")
    return normalize_axes(axis, ndim)[0]


def check_axis_name(axis_name: Any) -> Any:
    """`batch_norm`'s `axis_name`: None, or a mapped axis's name (a str or other hashable) or a tuple of them.

    Args:
        axis_name: the value given.

    Returns:
        `axis_name`, unchanged.

    Raises:
        TypeError: an unhashable value (a list, a dict, ...).
    """
    names = axis_name if isinstance(axis_name, tuple) else (axis_name,)
    if axis_name is not None and not all(isinstance(n, Hashable) and n is not None for n in names):
        raise TypeError(f"`axis_name` must be None, a mapped axis name (e.g. 'batch') or a tuple of them, got "
                        f"{axis_name!r}.")
    return axis_name


def _check_vectors(shape: tuple[int, ...], x: jax.Array, what: str, **vectors: jax.Array | None) -> None:
    for name, v in vectors.items():
        if v is not None and tuple(v.shape) != shape:
            raise ValueError(f"`{name}` must have shape {shape} ({what} of x shape {tuple(x.shape)}), "
                             f"got {tuple(v.shape)}.")


def _scale_and_shift(x: jax.Array, mean: jax.Array, variance: jax.Array, gamma: jax.Array | None,
                     beta: jax.Array | None, epsilon: float) -> jax.Array:
    """Keras's `x * inv + (beta - mean * inv)` with `inv = gamma / sqrt(variance + epsilon)`."""
    inv = jax.lax.rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    shift = -mean * inv
    if beta is not None:
        shift = shift + beta
    return x * inv + shift


def _masked_moments(x: jax.Array, mask: jax.Array, reduce: tuple[int, ...], axis_name: Hashable | None
                    ) -> tuple[jax.Array, jax.Array]:
    """Keras's masked BatchNormalization moments: sums over the unmasked steps / (their count + 1e-7), the
    variance about that mean (over `axis_name`'s devices too: their sums and counts summed)."""
    keep = jnp.broadcast_to(mask[..., None], x.shape)

    def total(v: jax.Array) -> jax.Array:
        summed = jnp.sum(jnp.where(keep, v, 0), reduce, keepdims=True)
        return summed if axis_name is None else jax.lax.psum(summed, axis_name)

    count = total(jnp.ones((), x.dtype)) + jnp.asarray(1e-7, x.dtype)  # Keras's backend.epsilon()
    mean = total(x) / count
    return mean, total(jnp.square(x - mean)) / count


def batch_norm(
    x: jax.Array, moving_mean: jax.Array, moving_variance: jax.Array, gamma: jax.Array | None = None,
    beta: jax.Array | None = None, *, training: bool = False, axis: int = -1, momentum: float = 0.99,
    epsilon: float = 1e-3, axis_name: Hashable | None = None, mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Keras `BatchNormalization`: `(y, moving_mean, moving_variance)`.

    Computed in at least float32 (as Keras): `y = x * inv + (beta - mean * inv)` with
    `inv = gamma / sqrt(variance + epsilon)`.

    Args:
        x: (..., features, ...) with features on `axis`.
        moving_mean: (features,), the moving mean.
        moving_variance: (features,), the moving variance.
        gamma: (features,) scale, or None (no scale).
        beta: (features,) offset, or None (no offset).
        training: False: x is normalised with the moving statistics, returned unchanged.
            True: with the batch mean and (biased) variance over every other axis, and the
            moving statistics come back as `moving * momentum + batch * (1 - momentum)`.
        axis: the features axis (an int, negatives from the end).
        momentum: the moving statistics' decay in training, in [0, 1].
        epsilon: added to the variance, > 0.
        axis_name: in training, the mapped axis (`shard_map`, `pmap`, `vmap`; a name or a
            tuple of names) over which the batch's mean and variance are averaged, so they
            are the whole batch's (shards of equal size); None: this batch's alone.
        mask: Keras's mask of x's steps, x's shape but the last axis (bool): in training the
            statistics are over the unmasked steps alone (Keras's: sums over them, divided by
            their count + 1e-7); ignored at inference. None: every step.

    Returns:
        `(y, moving_mean, moving_variance)`: y of x's shape and dtype, the statistics
        (updated in training) in their own dtype.

    Raises:
        TypeError: `axis` is not an int, or `momentum`/`epsilon` not a real number.
        ValueError: `axis` out of range, a vector not of shape (features,), `momentum`
            outside [0, 1], `epsilon` not finite and > 0, or a mask not of x's shape but the last.
    """
    check_array(x, "batch_norm")
    if mask is not None and tuple(jnp.shape(mask)) != tuple(x.shape[:-1]):
        raise ValueError(f"batch_norm `mask` must be x's shape but the last axis, {tuple(x.shape[:-1])}, got shape "
                         f"{tuple(jnp.shape(mask))}.")
    momentum, epsilon = check_momentum(momentum), check_epsilon(epsilon)
    check_axis_name(axis_name)
    axis = feature_axis(axis, x.ndim)
    features = (x.shape[axis],)
    _check_vectors(features, x, f"axis {axis}", moving_mean=moving_mean, moving_variance=moving_variance,
                   gamma=gamma, beta=beta)
    compute = jnp.result_type(x.dtype, jnp.float32)
    shape = [1] * x.ndim
    shape[axis] = features[0]

    def cast(v: jax.Array | None) -> jax.Array | None:
        return None if v is None else v.astype(compute).reshape(shape)

    xc = x.astype(compute)
    old_mean, old_variance = cast(moving_mean), cast(moving_variance)
    if training:
        reduce = tuple(a for a in range(x.ndim) if a != axis)
        if mask is not None:
            mean, variance = _masked_moments(xc, jnp.asarray(mask, bool), reduce, axis_name)
        elif axis_name is None:
            mean, variance = jnp.mean(xc, reduce, keepdims=True), jnp.var(xc, reduce, keepdims=True)
        else:  # two passes, as jnp.var: the global mean first, then the mean squared deviation from it
            mean = jax.lax.pmean(jnp.mean(xc, reduce, keepdims=True), axis_name)
            variance = jax.lax.pmean(jnp.mean(jnp.square(xc - mean), reduce, keepdims=True), axis_name)
        new_mean = old_mean * momentum + mean * (1.0 - momentum)
        new_variance = old_variance * momentum + variance * (1.0 - momentum)
        moving_mean = new_mean.reshape(features).astype(moving_mean.dtype)
        moving_variance = new_variance.reshape(features).astype(moving_variance.dtype)
    else:
        mean, variance = old_mean, old_variance
    y = _scale_and_shift(xc, mean, variance, cast(gamma), cast(beta), epsilon)
    return y.astype(x.dtype), moving_mean, moving_variance


def layer_norm(x: jax.Array, gamma: jax.Array | None = None, beta: jax.Array | None = None, *,
               axis: int | Sequence[int] = -1, epsilon: float = 1e-3, rms_scaling: bool = False) -> jax.Array:
    """Keras `LayerNormalization`: each example normalised over `axis` (one or several axes).

    Computed in at least float32, with the mean and (biased) variance over `axis`. With
    `rms_scaling` (Keras's deprecated option, its formula kept): `x / sqrt(variance +
    epsilon) * gamma`, not centred, no `beta`.

    Args:
        x: any shape.
        gamma: scale of the sizes of the normalised axes in increasing axis order, e.g.
            (features,) for axis=-1 or (height, width, channels) for axis=(1, 2, 3) on
            (batch, height, width, channels); or None (no scale).
        beta: offset of the same shape as `gamma`, or None (no offset).
        axis: the axis or axes normalised over (negatives from the end).
        epsilon: added to the variance, > 0.
        rms_scaling: scale by the inverse standard deviation only (then `beta` must be None).

    Returns:
        y of x's shape and dtype.

    Raises:
        TypeError: `axis` is not an int or ints, or `epsilon` not a real number.
        ValueError: an axis out of range or repeated, `gamma`/`beta` of the wrong shape,
            or `epsilon` not finite and > 0.
    """
    check_array(x, "layer_norm")
    epsilon = check_epsilon(epsilon)
    axes = normalize_axes(axis, x.ndim)
    _check_vectors(tuple(x.shape[a] for a in axes), x, f"the sizes of axes {axes}", gamma=gamma, beta=beta)
    compute = jnp.result_type(x.dtype, jnp.float32)
    shape = [x.shape[a] if a in axes else 1 for a in range(x.ndim)]

    def cast(v: jax.Array | None) -> jax.Array | None:
        return None if v is None else v.astype(compute).reshape(shape)

    xc = x.astype(compute)
    if rms_scaling:
        if beta is not None:
            raise ValueError("`beta` must be None with `rms_scaling` (Keras's has no offset).")
        y = xc * jax.lax.rsqrt(jnp.var(xc, axes, keepdims=True) + epsilon)
        return (y if gamma is None else y * cast(gamma)).astype(x.dtype)
    mean, variance = jnp.mean(xc, axes, keepdims=True), jnp.var(xc, axes, keepdims=True)
    return _scale_and_shift(xc, mean, variance, cast(gamma), cast(beta), epsilon).astype(x.dtype)


def check_groups(groups: Any, channels: int | None = None) -> int:
    """`GroupNormalization`'s `groups`: a positive int (or -1: one group per channel) dividing the channels.

    Args:
        groups: the value given.
        channels: the size of the normalised axis, if known.

    Returns:
        The number of groups (`channels` for -1, when known).

    Raises:
        TypeError: `groups` is not an int.
        ValueError: `groups` below 1 (and not -1), above `channels` or not dividing it.
    """
    if not _is_int(groups):
        raise TypeError(f"`groups` must be an int (-1: one group per channel), got {groups!r}.")
    if groups <= 0 and groups != -1:
        raise ValueError(f"`groups` must be a positive int or -1 (instance normalization), got {groups}.")
    if channels is None:
        return int(groups)
    groups = channels if groups == -1 else int(groups)
    if groups > channels or channels % groups:
        raise ValueError(f"`groups` must divide the number of channels: got groups={groups} for {channels} "
                         "channels.")
    return groups


def group_norm(x: jax.Array, gamma: jax.Array | None = None, beta: jax.Array | None = None, *, groups: int = 32,
               axis: int = -1, epsilon: float = 1e-3) -> jax.Array:
    """Keras `GroupNormalization`: the channels on `axis` split into `groups`, each normalised per example.

    Computed in at least float32: the mean and (biased) variance of each example's group
    over every axis but the batch's (axis 0), then `x * inv + (beta - mean * inv)` with
    `inv = gamma / sqrt(variance + epsilon)`.

    Args:
        x: (batch, ..., channels, ...) with the channels on `axis`.
        gamma: (channels,) scale, or None (no scale).
        beta: (channels,) offset, or None (no offset).
        groups: the number of groups, dividing the channels; -1: one per channel
            (instance normalization).
        axis: the channels axis (an int, negatives from the end; not the batch axis).
        epsilon: added to the variance, > 0.

    Returns:
        y of x's shape and dtype.

    Raises:
        TypeError: `axis` or `groups` is not an int, or `epsilon` not a real number.
        ValueError: `axis` out of range or the batch axis, `groups` that does not divide
            the channels, `gamma`/`beta` not of shape (channels,), or `epsilon` not finite
            and > 0.
    """
    check_array(x, "group_norm")
    epsilon = check_epsilon(epsilon)
    axis = feature_axis(axis, x.ndim)
    if axis == 0:
        raise ValueError(f"`axis` must not be the batch axis (0) for group normalization, got axis=0 for x shape "
                         f"{tuple(x.shape)}.")
    channels = x.shape[axis]
    groups = check_groups(groups, channels)
    _check_vectors((channels,), x, f"axis {axis}", gamma=gamma, beta=beta)
    compute = jnp.result_type(x.dtype, jnp.float32)
    grouped = (*x.shape[:axis], groups, channels // groups, *x.shape[axis + 1:])
    shape = [1] * len(grouped)
    shape[axis:axis + 2] = groups, channels // groups

    def cast(v: jax.Array | None) -> jax.Array | None:
        return None if v is None else v.astype(compute).reshape(shape)

    xc = x.astype(compute).reshape(grouped)
    reduce = tuple(a for a in range(1, len(grouped)) if a != axis)
    mean, variance = jnp.mean(xc, reduce, keepdims=True), jnp.var(xc, reduce, keepdims=True)
    y = _scale_and_shift(xc, mean, variance, cast(gamma), cast(beta), epsilon)
    return y.reshape(x.shape).astype(x.dtype)


def rms_norm(x: jax.Array, scale: jax.Array | None = None, *, axis: int | Sequence[int] = -1,
             epsilon: float = 1e-6) -> jax.Array:
    """Keras `RMSNormalization` (`keras.ops.rms_normalization`): `x * rsqrt(mean(x**2) + epsilon) * scale`.

    Computed in at least float32, the mean of squares over `axis`; not centred.

    Args:
        x: any shape.
        scale: of the sizes of the normalised axes in increasing axis order (e.g.
            (features,) for axis=-1), or None (no scale).
        axis: the axis or axes normalised over (negatives from the end).
        epsilon: added to the mean of squares, > 0.

    Returns:
        y of x's shape and dtype.

    Raises:
        TypeError: `axis` is not an int or ints, or `epsilon` not a real number.
        ValueError: an axis out of range or repeated, `scale` of the wrong shape, or
            `epsilon` not finite and > 0.
    """
    check_array(x, "rms_norm")
    epsilon = check_epsilon(epsilon)
    axes = normalize_axes(axis, x.ndim)
    _check_vectors(tuple(x.shape[a] for a in axes), x, f"the sizes of axes {axes}", scale=scale)
    compute = jnp.result_type(x.dtype, jnp.float32)
    xc = x.astype(compute)
    y = xc * jax.lax.rsqrt(jnp.mean(jnp.square(xc), axes, keepdims=True) + epsilon)
    if scale is not None:
        y = y * scale.astype(compute).reshape([x.shape[a] if a in axes else 1 for a in range(x.ndim)])
    return y.astype(x.dtype)


def unit_norm(x: jax.Array, *, axis: int | Sequence[int] = -1, epsilon: float = 1e-12) -> jax.Array:
    """Keras `UnitNormalization` (`keras.ops.normalize`, order 2): x over its L2 norm along `axis`.

    `x * min(rsqrt(sum(x**2)), 1 / epsilon)`, in x's dtype (as Keras).

    Args:
        x: any shape, floating.
        axis: the axis or axes normalised over (negatives from the end).
        epsilon: the smallest norm divided by, > 0 (Keras's layer: 1e-12).

    Returns:
        y of x's shape and dtype, of unit L2 norm along `axis` (zeros stay zeros).

    Raises:
        TypeError: `axis` is not an int or ints, `epsilon` not a real number, or x not
            floating.
        ValueError: an axis out of range or repeated, or `epsilon` not finite and > 0.
    """
    check_array(x, "unit_norm")
    epsilon = check_epsilon(epsilon)
    axes = normalize_axes(axis, x.ndim)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise TypeError(f"`x` must be floating for unit normalization, got dtype {x.dtype}.")
    inv = jax.lax.rsqrt(jnp.sum(jnp.square(x), axes, keepdims=True))
    return x * jnp.minimum(inv, jnp.asarray(1.0 / epsilon, x.dtype))


def _l2_normalize(v: jax.Array, epsilon: float = 1e-7) -> jax.Array:
    """Keras's `normalize(v, axis=None)`: v over its L2 norm (at most 1 / epsilon times v)."""
    return v * jnp.minimum(jax.lax.rsqrt(jnp.sum(jnp.square(v))), jnp.asarray(1.0 / epsilon, v.dtype))


def spectral_normalize(kernel: jax.Array, vector_u: jax.Array, power_iterations: int = 1
                       ) -> tuple[jax.Array, jax.Array]:
    """Keras `SpectralNormalization`'s training step: `(vector_u, kernel / sigma)`.

    With W the kernel as (-1, out) (out: its last axis), `power_iterations` times
    `v = normalize(u @ W.T)`, `u = normalize(v @ W)`; then `sigma = v @ W @ u.T`, the
    estimate of W's largest singular value, with u and v held constant for gradients
    (`stop_gradient`, as Keras). An all-zero kernel comes back as it is, with `vector_u`.

    Args:
        kernel: (..., out), e.g. a Dense kernel (in, out) or a Conv kernel (*k, in, out).
        vector_u: (1, out), the estimate of W's first right singular vector.
        power_iterations: the number of power iterations, >= 1.

    Returns:
        `(vector_u, kernel)`: the new estimate and the kernel divided by sigma, each in
        its own dtype.

    Raises:
        TypeError: `power_iterations` is not an int.
        ValueError: `power_iterations` below 1, or `vector_u` not of shape (1, out).
    """
    if not _is_int(power_iterations):
        raise TypeError(f"`power_iterations` must be an int, got {power_iterations!r}.")
    if power_iterations < 1:
        raise ValueError(f"`power_iterations` must be greater than zero, got {power_iterations}.")
    if tuple(vector_u.shape) != (1, kernel.shape[-1]):
        raise ValueError(f"`vector_u` must have shape (1, {kernel.shape[-1]}) for a kernel of shape "
                         f"{tuple(kernel.shape)}, got {tuple(vector_u.shape)}.")
    w = kernel.reshape(-1, kernel.shape[-1])

    def normalized(kernel: jax.Array, vector_u: jax.Array) -> tuple[jax.Array, jax.Array]:
        u = vector_u.astype(kernel.dtype)
        for _ in range(power_iterations):
            v = _l2_normalize(u @ w.T)
            u = _l2_normalize(v @ w)
        u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
        sigma = (v @ w) @ u.T
        return u.astype(vector_u.dtype), (kernel / sigma).astype(kernel.dtype)

    return jax.lax.cond(jnp.all(kernel == 0), lambda k, u: (u, k), normalized, kernel, vector_u)
