"""The Keras 3 loss and optimizers of the tutorial, as JAX functions and optax transformations.

- `binary_crossentropy`: `keras.losses.binary_crossentropy` on probabilities
  (clipped to [1e-7, 1 - 1e-7], mean over the last axis).
- `keras_adam`: Keras Adam exactly (`optax.adam` places epsilon differently).
- `keras_adadelta`: `optax.adadelta` with Keras's defaults (rho=0.95, epsilon=1e-7).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

EPSILON = 1e-7  # keras.config.epsilon()
DEFAULT_LEARNING_RATE = 1e-3  # Keras's default for both Adam and Adadelta
OPTIMIZERS = ("adam", "adadelta")


def binary_crossentropy(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """`keras.losses.binary_crossentropy` on probabilities: (..., C) -> (...), mean over C."""
    y_pred = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
    bce = y_true * jnp.log(y_pred) + (1.0 - y_true) * jnp.log(1.0 - y_pred)
    return -jnp.mean(bce, axis=-1)


def per_example_loss(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """(batch, ...) images -> (batch,) binary cross-entropy averaged over every pixel."""
    loss = binary_crossentropy(y_true, y_pred)
    return jnp.mean(loss.reshape(loss.shape[0], -1), axis=1)


class KerasAdamState(NamedTuple):
    count: jax.Array
    mu: Any
    nu: Any


def scale_by_keras_adam(b1: float = 0.9, b2: float = 0.999, eps: float = EPSILON) -> optax.GradientTransformation:
    """Keras 3 Adam's direction: m * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps).

    `optax.adam` divides by sqrt(v_hat) + eps instead, i.e. Keras's epsilon is
    effectively eps * sqrt(1 - b2^t) there (3e-9 at step 1 for eps=1e-7), which moves
    the first steps by up to ~1e-6 for small gradients; this matches Keras exactly.
    """

    def init(params: Any) -> KerasAdamState:
        return KerasAdamState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.zeros_like, params),
                              jax.tree.map(jnp.zeros_like, params))

    def update(updates: Any, state: KerasAdamState, params: Any = None) -> tuple[Any, KerasAdamState]:
        del params
        count = state.count + 1
        t = count.astype(jnp.float32)
        mu = jax.tree.map(lambda g, m: m + (g - m) * (1 - b1), updates, state.mu)
        nu = jax.tree.map(lambda g, v: v + (jnp.square(g) - v) * (1 - b2), updates, state.nu)
        alpha = jnp.sqrt(1 - jnp.power(jnp.float32(b2), t)) / (1 - jnp.power(jnp.float32(b1), t))
        updates = jax.tree.map(lambda m, v: m * alpha / (jnp.sqrt(v) + eps), mu, nu)
        return updates, KerasAdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


def keras_adam(learning_rate: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
               epsilon: float = EPSILON) -> optax.GradientTransformation:
    """`keras.optimizers.Adam` (Keras 3 defaults) as an optax transformation."""
    return optax.chain(scale_by_keras_adam(beta_1, beta_2, epsilon), optax.scale_by_learning_rate(learning_rate))


def keras_adadelta(learning_rate: float = 1e-3, rho: float = 0.95, epsilon: float = EPSILON) -> optax.GradientTransformation:
    """`keras.optimizers.Adadelta` (keras/src/optimizers/adadelta.py defaults) via optax.

    Same update: E[g2] = rho E[g2] + (1-rho) g^2; d = sqrt(E[dx2] + eps) / sqrt(E[g2] + eps) g;
    E[dx2] = rho E[dx2] + (1-rho) d^2; w -= lr d (optax's defaults rho=0.9, eps=1e-6 differ).
    """
    return optax.adadelta(learning_rate=learning_rate, rho=rho, eps=epsilon)


def make_optimizer(name: str, learning_rate: float = DEFAULT_LEARNING_RATE) -> optax.GradientTransformation:
    """The Keras optimizer `name` ("adam" or "adadelta") with `learning_rate`."""
    if name == "adam":
        return keras_adam(learning_rate)
    if name == "adadelta":
        return keras_adadelta(learning_rate)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
