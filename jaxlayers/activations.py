"""Keras activation names as JAX functions."""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Activation = str | Callable[[jax.Array], jax.Array] | None


def _linear(x: jax.Array) -> jax.Array:
    return x


def relu(x: jax.Array, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> jax.Array:
    """Keras `activations.relu` with its three arguments, step for step.

    Args:
        x: any array.
        negative_slope: the slope below `threshold`.
        max_value: the saturation value, or None (no limit).
        threshold: values below it are zeroed (or scaled by `negative_slope`).

    Returns:
        An array of x's shape and dtype.
    """
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return jax.nn.leaky_relu(x, negative_slope)
        negative_part = jax.nn.relu(-x + threshold) if threshold != 0 else jax.nn.relu(-x)
    else:
        negative_part = 1
    clip = max_value is not None
    if threshold != 0:
        x = jnp.where(x > jnp.asarray(threshold, x.dtype), x, 0).astype(x.dtype)
    elif max_value == 6:
        x, clip = jax.nn.relu6(x), False
    else:
        x = jax.nn.relu(x)
    if clip:
        x = jnp.clip(x, jnp.asarray(0, x.dtype), jnp.asarray(max_value, x.dtype))
    if negative_slope != 0.0:
        x = x - negative_slope * negative_part
    return x


def _check_axis(x: jax.Array, axis: int, name: str) -> int:
    """`axis` as a non-negative axis of x, or a ValueError naming `name`."""
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name} `axis` must be an int in [-{x.ndim}, {x.ndim}) for x of shape {tuple(x.shape)}, "
                         f"got {axis!r}.")
    return axis % x.ndim


def elu(x: jax.Array, alpha: float = 1.0) -> jax.Array:
    """Keras `activations.elu`: x for x > 0, `alpha * (exp(x) - 1)` below.

    Args:
        x: any array.
        alpha: the scale of the negative part.

    Returns:
        An array of x's shape and dtype.
    """
    return jax.nn.elu(x, alpha=alpha)


def leaky_relu(x: jax.Array, negative_slope: float = 0.2) -> jax.Array:
    """Keras `activations.leaky_relu`: x for x >= 0, `negative_slope * x` below.

    Args:
        x: any array.
        negative_slope: the slope below 0.

    Returns:
        An array of x's shape and dtype.
    """
    return jax.nn.leaky_relu(x, negative_slope=negative_slope)


def celu(x: jax.Array, alpha: float = 1.0) -> jax.Array:
    """Keras `activations.celu`: `max(x, 0) + alpha * expm1(min(x, 0) / alpha)`.

    Args:
        x: any array.
        alpha: the scale (and the negative part's saturation).

    Returns:
        An array of x's shape and dtype.
    """
    return jax.nn.celu(x, alpha=alpha)


def squareplus(x: jax.Array, b: float = 4) -> jax.Array:
    """Keras `activations.squareplus`: `(x + sqrt(x**2 + b)) / 2`.

    Args:
        x: any array.
        b: the smoothness (>= 0).

    Returns:
        An array of x's shape and dtype.
    """
    return jax.nn.squareplus(x, b=b)


def soft_shrink(x: jax.Array, threshold: float = 0.5) -> jax.Array:
    """Keras `activations.soft_shrink`: x moved `threshold` towards 0, 0 within `[-threshold, threshold]`.

    Args:
        x: any array.
        threshold: the half-width of the zero band.

    Returns:
        An array of x's shape and dtype.
    """
    shrunk = jnp.where(x < -threshold, x + threshold, 0.0)
    return jnp.where(x > threshold, x - threshold, shrunk)


def hard_shrink(x: jax.Array, threshold: float = 0.5) -> jax.Array:
    """Keras `activations.hard_shrink`: x where `|x| > threshold`, else 0.

    Args:
        x: any array.
        threshold: the half-width of the zero band.

    Returns:
        An array of x's shape and dtype.
    """
    return jnp.where(jnp.abs(x) > threshold, x, 0.0)


def threshold(x: jax.Array, threshold: float, default_value: float) -> jax.Array:
    """Keras `activations.threshold`: x where `x > threshold`, else `default_value` (no name form: no defaults).

    Args:
        x: any array.
        threshold: values at or below it are replaced.
        default_value: their replacement.

    Returns:
        An array of x's shape and dtype.
    """
    return jnp.where(x > threshold, x, default_value)


def tanh_shrink(x: jax.Array) -> jax.Array:
    """Keras `activations.tanh_shrink`: `x - tanh(x)`.

    Args:
        x: any array.

    Returns:
        An array of x's shape and dtype.
    """
    return x - jnp.tanh(x)


def mish(x: jax.Array) -> jax.Array:
    """Keras `activations.mish`: `x * tanh(softplus(x))`.

    Args:
        x: any array.

    Returns:
        An array of x's shape and dtype.
    """
    return x * jnp.tanh(jax.nn.softplus(x))


def gelu(x: jax.Array, approximate: bool = False) -> jax.Array:
    """Keras `activations.gelu`: exact (erf) by default, the tanh approximation with `approximate`.

    Args:
        x: any array.
        approximate: whether to use the tanh approximation.

    Returns:
        An array of x's shape and dtype.
    """
    return jax.nn.gelu(x, approximate=approximate)


def softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    """Keras `activations.softmax` over one axis.

    Args:
        x: any array with at least one axis.
        axis: the axis the outputs sum to 1 over.

    Returns:
        An array of x's shape and dtype.
    """
    return jax.nn.softmax(x, axis=_check_axis(x, axis, "softmax"))


def log_softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    """Keras `activations.log_softmax`: `x - logsumexp(x)` over one axis.

    Args:
        x: any array with at least one axis.
        axis: the normalised axis.

    Returns:
        An array of x's shape and dtype.
    """
    return jax.nn.log_softmax(x, axis=_check_axis(x, axis, "log_softmax"))


def glu(x: jax.Array, axis: int = -1) -> jax.Array:
    """Keras `activations.glu`: `a * sigmoid(b)` for the two halves a, b of `axis`.

    Args:
        x: an array whose `axis` has an even size.
        axis: the axis split in two.

    Returns:
        x's shape with `axis` halved.

    Raises:
        ValueError: `axis` out of range or of odd size.
    """
    axis = _check_axis(x, axis, "glu")
    if x.shape[axis] % 2:
        raise ValueError(f"glu needs an even size on `axis` {axis}, got x of shape {tuple(x.shape)}.")
    return jax.nn.glu(x, axis=axis)


def sparsemax(x: jax.Array, axis: int = -1) -> jax.Array:
    """Keras `activations.sparsemax`: the Euclidean projection of x onto the simplex along `axis`.

    `max(x - tau, 0)`, where `tau` makes the outputs sum to 1 (Martins & Astudillo, 2016).

    Args:
        x: any array with at least one axis.
        axis: the axis the outputs sum to 1 over.

    Returns:
        An array of x's shape and dtype.
    """
    axis = _check_axis(x, axis, "sparsemax")
    ranked = -jnp.sort(-x, axis=axis)  # descending
    partial = jnp.cumsum(ranked, axis=axis)
    k = jnp.arange(1, x.shape[axis] + 1).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
    kept = ranked - (partial - 1) / k > 0
    size = jnp.sum(kept, axis=axis, keepdims=True)
    tau = (jnp.sum(jnp.where(kept, partial, 0.0), axis=axis, keepdims=True) - 1) / size
    return jnp.maximum(x - tau, 0.0)


BY_NAME: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": _linear,
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softmax": softmax,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "softplus": jax.nn.softplus,
    "softsign": jax.nn.soft_sign,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "gelu": gelu,
    "leaky_relu": leaky_relu,
    "exponential": jnp.exp,
    "celu": celu,
    "glu": glu,
    "hard_sigmoid": jax.nn.hard_sigmoid,
    "hard_silu": jax.nn.hard_silu,
    "hard_swish": jax.nn.hard_silu,
    "hard_tanh": jax.nn.hard_tanh,
    "hard_shrink": hard_shrink,
    "log_sigmoid": jax.nn.log_sigmoid,
    "log_softmax": log_softmax,
    "mish": mish,
    "soft_shrink": soft_shrink,
    "sparse_plus": jax.nn.sparse_plus,
    "sparse_sigmoid": jax.nn.sparse_sigmoid,
    "sparsemax": sparsemax,
    "squareplus": squareplus,
    "tanh_shrink": tanh_shrink,
}


def get(activation: Activation) -> Callable[[jax.Array], jax.Array]:
    """A callable for a Keras activation name, a callable, or None (identity).

    Args:
        activation: a name of `BY_NAME` (any case), a callable (returned as is) or None.

    Returns:
        A function of one array.

    Raises:
        ValueError: an unknown name.
    """
    if activation is None:
        return _linear
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation.lower() in BY_NAME:
        return BY_NAME[activation.lower()]
    if isinstance(activation, str) and activation.lower() == "threshold":
        raise ValueError("`activation` 'threshold' has no name form (Keras's `threshold(x, threshold, "
                         "default_value)` has no defaults); pass a function, e.g. "
                         "`functools.partial(jaxlayers.activations.threshold, threshold=0.0, default_value=0.0)`.")
    raise ValueError(f"`activation` must be a callable, None or one of {sorted(BY_NAME)}, got {activation!r}.")
