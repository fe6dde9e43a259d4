"""The training step: Keras binary cross-entropy over the real rows of a batch, one optimizer update.

`train_step` is the whole step; `make_train_step` jits it for a given model and
optimizer. `Recipe` names a model and optimizer by value, so the epoch programs
(`experiments.loop`) can take it as a static argument of module-level jitted functions.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from experiments.keras_compat import make_optimizer, per_example_loss
from experiments.models import INPUT_SHAPE, build_model


class TrainState(NamedTuple):
    step: jax.Array  # () int32, optimizer steps taken
    params: Any
    opt_state: Any


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A model and its optimizer, by name (hashable, equal by value)."""

    variant: str = "upsample"
    upsampling: str = "nearest"
    api: str = "linen"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    dtype: str = "float32"  # the convolutions' computation dtype (experiments.models.DTYPES)

    def model(self) -> Any:
        return build_model(self.variant, self.upsampling, self.api, self.dtype)

    def transformation(self) -> optax.GradientTransformation:
        return make_optimizer(self.optimizer, self.learning_rate)


def init_key(seed: int) -> jax.Array:
    """The parameter-initialisation key of `seed`.

    An "rbg" key (XLA's RngBitGenerator): drawing the glorot-uniform kernels with
    the default threefry key costs ~20 s of XLA compile time on a loaded 2-core CPU
    (about 3 s with rbg). The draws are deterministic for a seed and platform.
    """
    return jax.random.key(seed, impl="rbg")


def epoch_key(seed: int, epoch: int) -> jax.Array:
    """The shuffle key of `epoch` (0-based): depends only on (seed, epoch)."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 1), epoch)


def init_state(model: Any, optimizer: optax.GradientTransformation, key: jax.Array,
               input_shape: tuple[int, ...] = (1, *INPUT_SHAPE[1:])) -> TrainState:
    """Fresh parameters drawn from `key` and the optimizer's initial state."""
    params = model.init(key, jnp.zeros(input_shape, jnp.float32))["params"]
    return TrainState(jnp.zeros([], jnp.int32), params, optimizer.init(params))


def train_step(model: Any, optimizer: optax.GradientTransformation, state: TrainState, x: jax.Array,
               weights: jax.Array, *, count: jax.Array | None = None,
               axis_name: str | None = None) -> tuple[TrainState, dict[str, jax.Array]]:
    """One update on images x (batch, 28, 28, 1), which are also the targets.

    weights: (batch,) 1 for real rows, 0 for padding. The loss is the mean binary
    cross-entropy over the real rows (Keras `fit` on a partial last batch). Returns the
    new state and {"loss", "loss_sum", "count"} (scalars; loss_sum over real rows).

    Data parallel (inside `shard_map` over `axis_name`, the state replicated): x and
    weights are this device's part of the batch and `count` the real rows of the whole
    batch. The gradients with respect to the replicated parameters come out summed over
    the devices (autodiff transposes the parameters' broadcast into a `psum`) and the
    losses are summed here, so every device makes the same update.
    """
    w = weights.astype(jnp.float32)
    count = jnp.sum(w) if count is None else count

    def loss_fn(params: Any) -> tuple[jax.Array, jax.Array]:
        loss_sum = jnp.sum(per_example_loss(x, predict(model, params, x)) * w)
        return loss_sum / count, loss_sum

    (loss, loss_sum), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    if axis_name is not None:
        loss, loss_sum = lax.psum((loss, loss_sum), axis_name)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(state.step + 1, params, opt_state), {"loss": loss, "loss_sum": loss_sum, "count": count}


def eval_loss_sum(model: Any, params: Any, x: jax.Array, weights: jax.Array) -> jax.Array:
    """Sum of per-example losses over the real rows (weights 1) of a batch."""
    return jnp.sum(per_example_loss(x, predict(model, params, x)) * weights)


def predict(model: Any, params: Any, x: jax.Array) -> jax.Array:
    """The model's probabilities in float32, whatever dtype it computes in (the loss is float32)."""
    return model.apply({"params": params}, x).astype(jnp.float32)


def make_train_step(model: Any, optimizer: optax.GradientTransformation, *, jit: bool = True,
                    donate: bool = True) -> Callable[..., tuple[TrainState, dict[str, jax.Array]]]:
    """`step(state, x, weights=None)`: `train_step` for this model and optimizer.

    weights None: every row is real. Jitted with the state donated unless `jit=False`.
    """

    def step(state: TrainState, x: jax.Array, weights: jax.Array | None = None) -> tuple[TrainState, dict]:
        w = jnp.ones(x.shape[:1], jnp.float32) if weights is None else weights
        return train_step(model, optimizer, state, x, w)

    if not jit:
        return step
    return jax.jit(step, donate_argnums=(0,) if donate else ())
