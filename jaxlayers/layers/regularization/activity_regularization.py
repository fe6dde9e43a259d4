"""Keras `ActivityRegularization`: the identity, whose penalty on its input joins the loss."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxlayers import functional as F
from jaxlayers.functional.dropout import check_penalty
from jaxlayers.layers.layer import Layer

# The name the penalty is sown under (linen: collection "losses"; NNX: an `nnx.Intermediate`).
PENALTY = "activity_regularization"


class ActivityRegularization(Layer):
    """Keras `ActivityRegularization(l1=0., l2=0.)`: x: any shape -> x, recording Keras's penalty.

    The penalty is `(l1 * sum(|x|) + l2 * sum(x**2)) / batch`, as Keras adds to
    `model.losses` (`jaxlayers.functional.activity_regularization`, also `penalty(x)`).
    Add it to the loss as Flax collects sown values, at every call, training or not:

    - linen: `y, state = model.apply(variables, x, mutable=["losses"])`, then
      `sum(jax.tree.leaves(state["losses"]))` (one tuple entry per call, under
      `activity_regularization`); without `mutable=["losses"]` nothing is recorded.
    - NNX: `y, losses = nnx.capture(model, nnx.Intermediate)(x)`, then
      `sum(jax.tree.leaves(losses))`; outside `nnx.capture` nothing is recorded.

    Args:
        l1: the L1 factor, >= 0.
        l2: the L2 factor, >= 0.
        dtype: the computation's dtype; None: the input's.
    """

    keeps_grid = True

    l1: float = 0.0
    l2: float = 0.0

    def check(self) -> None:
        super().check()
        check_penalty(self.l1, "l1")
        check_penalty(self.l2, "l2")

    def penalty(self, x: jax.Array) -> jax.Array:
        """Keras's penalty of this layer's output.

        Args:
            x: the layer's input (and output): (batch, ...).

        Returns:
            `(l1 * sum(|x|) + l2 * sum(x**2)) / batch`, a scalar in x's dtype.
        """
        return F.activity_regularization(x, self.l1, self.l2)

    def call(self, x: jax.Array) -> jax.Array:
        if isinstance(self, nn.Module):
            if not self.is_initializing():
                self.sow("losses", PENALTY, self.penalty(x))
        elif hasattr(self, "__captures__"):  # NNX, within nnx.capture
            from flax import nnx

            self.sow(nnx.Intermediate, PENALTY, self.penalty(x))
        return x
