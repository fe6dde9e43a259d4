"""What Keras's recurrent layers share (`keras/src/layers/rnn/rnn.py`): their arguments, weights and call."""
from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from jaxlayers import activations, initializers
from jaxlayers._args import _is_int, check_bool, positive_int
from jaxlayers.layers.layer import KernelLayer, Weight


def check_dropout(value: Any, name: str) -> float:
    """A dropout fraction in [0, 1] (Keras clips others silently; they are refused here).

    Args:
        value: the fraction.
        name: the argument, for errors.

    Returns:
        `value` as a float.

    Raises:
        TypeError: not a real number.
        ValueError: outside [0, 1].
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float in [0, 1], got {value!r}.")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1] (the fraction of units dropped), got {value}.")
    return float(value)


def definition_copy(layer: Any, **changes: Any) -> Any:
    """A layer's definition alone (no module, no variables), with `changes` to its arguments.

    An NNX layer's input sizes (`in_features`, ...) are kept as attributes of the copy,
    so a wrapper can build the same variables.

    Args:
        layer: a `jaxlayers.linen` or `jaxlayers.nnx` layer, or a definition.
        **changes: arguments to replace (`go_backwards=True`).

    Returns:
        An instance of the layer's definition class with the same arguments.
    """
    definition = next(c for c in type(layer).__mro__ if "__face__" not in c.__dict__)
    copy = object.__new__(definition)
    for field in dataclasses.fields(definition):
        setattr(copy, field.name, changes.get(field.name, getattr(layer, field.name)))
    for name in definition.input_sizes:
        if getattr(layer, name, None) is not None:
            object.__setattr__(copy, name, getattr(layer, name))
    return copy


_ARGS = """
    Args:
        units: the state's (and output's) size.
        activation: a Keras activation name, a callable or None (linear){activation}
            (keyword-only, as all the arguments below).{recurrent}
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        recurrent_initializer: the same, for `recurrent_kernel`.
        bias_initializer: the same, for `bias`.{forget}
        dropout: the fraction of the inputs' features dropped in training (the same at
            every step), in [0, 1].
        recurrent_dropout: the fraction of the state's units dropped in training, in [0, 1].
        seed: an int folded into the dropout key (NNX: the layer's own stream), or None.
{layer}{reset}
        deterministic: inference mode (no dropout).
        rng_collection: the rng stream of the dropout masks.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
"""


_LAYER_ARGS = """
        return_sequences: return every step's output (batch, time, units), not the last.
        return_state: also return the final states, `(output, *states)`.
        go_backwards: process the sequence from its last step (sequences come reversed).
        stateful: Keras's carried state: only False (refused otherwise).
        unroll: unroll the loop (`lax.scan(unroll=True)`)."""


def _arguments(activation: str = "", recurrent: bool = False, forget: bool = False, reset: bool = False,
               layer: bool = True) -> str:
    """The Args section of a recurrent layer's (or, without `layer`, its cell's) docstring."""
    return _ARGS.format(
        activation=activation, layer=_LAYER_ARGS if layer else "",
        recurrent="\n        recurrent_activation: the gates' activation (a name, callable or None)." if recurrent
        else "",
        forget="\n        unit_forget_bias: initialise the forget gate's bias to 1 (and its others by\n"
               "            `bias_initializer`)." if forget else "",
        reset="\n        reset_after: apply the reset gate after the recurrent product (Keras's and\n"
              "            cuDNN's default; its bias is then (2, 3 * units)), else before." if reset else "")


class Cell(KernelLayer):
    __doc__ = """The base of Keras's recurrent cells: one step, (x_t (batch, features), states) -> (h, new_states).

    Subclasses set `gates`, their loop (`loop`, a `jaxlayers.functional` op, run here over
    one step) and `keras_states` (how many (batch, units) states they carry).
""" + _arguments(layer=False)

    mode = "deterministic"
    stochastic = True
    single_input = False  # (x_t, states)
    input_sizes = {"in_features": "the input's last axis (features)."}
    gates: ClassVar[int] = 1
    keras_states: ClassVar[int] = 1
    loop: ClassVar[Callable[..., Any]]

    units: int
    _: dataclasses.KW_ONLY
    activation: activations.Activation = "tanh"
    recurrent_initializer: initializers.Initializer = "orthogonal"
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    seed: int | None = None
    deterministic: bool = True
    rng_collection: str = "dropout"

    def check(self) -> None:
        super().check()
        positive_int(self.units, "units")
        initializers.get(self.recurrent_initializer, "recurrent_initializer")
        check_dropout(self.dropout, "dropout")
        check_dropout(self.recurrent_dropout, "recurrent_dropout")
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")
        check_bool(self.deterministic, "deterministic")

    def sizes(self, x: Any, states: Any = None) -> dict[str, Any]:
        if not hasattr(x, "ndim") or x.ndim != 2:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"{type(self).__name__} expects a 2-D input x_t (batch, features), got shape {shape}.")
        return {"in_features": x.shape[-1]}

    def build(self, in_features: int) -> dict[str, Weight | None]:
        width = self.gates * self.units
        return {"kernel": Weight((positive_int(in_features, "in_features"), width), self.kernel_initializer),
                "recurrent_kernel": Weight((self.units, width), self.recurrent_initializer),
                "bias": Weight(self._bias_shape(), self._bias_init(), argument="bias_initializer")
                if self.use_bias else None}

    def _bias_shape(self) -> tuple[int, ...]:
        """The bias's shape (Keras's)."""
        return (self.gates * self.units,)

    def _bias_init(self) -> initializers.Initializer:
        """The bias's initializer: `bias_initializer` (LSTM's `unit_forget_bias` adds ones)."""
        return self.bias_initializer

    def _applies(self, rate: float) -> bool:
        """Whether a dropout rate drops anything in Keras's cell (its LSTM and GRU skip a rate of 1)."""
        return 0.0 < rate < 1.0

    def _dropout_masks(self, key: jax.Array, batch: int, in_features: int, dtype: Any
                      ) -> tuple[jax.Array | None, jax.Array | None]:
        """Keras's masks, drawn once per call: one per gate with recurrent dropout (its implementation 1)."""
        per_gate = self.gates > 1 and self.recurrent_dropout > 0.0
        lead = (self.gates,) if per_gate else ()
        masks = []
        for k, rate, size in zip(jax.random.split(key), (self.dropout, self.recurrent_dropout),
                                 (in_features, self.units)):
            if not self._applies(rate):
                masks.append(None)
                continue
            keep = jax.random.bernoulli(k, 1.0 - rate, (*lead, batch, size))
            masks.append(jnp.where(keep, jnp.asarray(0.0 if rate == 1.0 else 1.0 / (1.0 - rate), dtype),
                                   jnp.zeros((), dtype)))
        return masks[0], masks[1]

    def _loop_arguments(self) -> dict[str, Any]:
        """The loop's own arguments (activations, `reset_after`)."""
        return {"activation": activations.get(self.activation)}

    def call(self, x: jax.Array, states: jax.Array | Sequence[jax.Array], kernel: jax.Array,
             recurrent_kernel: jax.Array, bias: jax.Array | None, training: bool, rng: Callable[[], jax.Array]
             ) -> tuple[jax.Array, Any]:
        x, kernel, recurrent_kernel, bias = self.promote(x, kernel, recurrent_kernel, bias)
        dropout_mask = recurrent_mask = None
        if training and (self._applies(self.dropout) or self._applies(self.recurrent_dropout)):
            dropout_mask, recurrent_mask = self._dropout_masks(rng(), x.shape[0], x.shape[-1], x.dtype)
        nested = isinstance(states, (list, tuple))
        if self.keras_states > 1 and not nested:
            raise TypeError(f"{type(self).__name__} expects `states` as a list of {self.keras_states} (batch, units) "
                            f"arrays, got {type(states).__name__}.")
        h, new = type(self).loop(x[:, None, :], kernel, recurrent_kernel, bias, initial_state=states,
                                 return_sequences=False, dropout_mask=dropout_mask,
                                 recurrent_dropout_mask=recurrent_mask, precision=self.precision,
                                 **self._loop_arguments())
        return h, (list(new) if nested else new[0])


class RecurrentLayer(Cell):
    __doc__ = """The base of `SimpleRNN`, `LSTM` and `GRU`: x (batch, time, features) -> (batch, units), or sequences.

    The call takes `mask=` (batch, time), False at the steps to skip (their state is
    carried over and the previous output repeated, as Keras), and `initial_state=` (a list
    of (batch, units) arrays). It returns the last output (batch, units), or every
    step's (batch, time, units) with `return_sequences`, then the final states with
    `return_state`. Training mode (`deterministic=False`) drops `dropout` of the inputs'
    features and `recurrent_dropout` of the states', the same units at every step.

    Subclasses set `gates` and their loop (`loop`, a `jaxlayers.functional` op).
""" + _arguments()

    single_input = True
    takes_mask: ClassVar[bool] = True  # a Graph gives it the mask of its input (Embedding, Masking, ...)

    _: dataclasses.KW_ONLY
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False  # Keras's argument (not the faces' ClassVar): only False
    unroll: bool = False

    def check(self) -> None:
        super().check()
        for name in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
            check_bool(getattr(self, name), name)
        if self.stateful:
            raise ValueError(f"{type(self).__name__}(stateful=True) is not supported: jaxlayers layers keep no state "
                             "between calls; pass the states on yourself (`return_state=True`, then "
                             "`initial_state=`).")

    def sizes(self, x: Any) -> dict[str, Any]:
        if not hasattr(x, "ndim") or x.ndim != 3:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"{type(self).__name__} expects a 3-D input (batch, time, features), got shape {shape}.")
        return {"in_features": x.shape[-1]}

    def compute_mask(self, x: Any, mask: jax.Array | None = None) -> jax.Array | None:
        """The output's mask, as Keras's: the input's with `return_sequences` (not reversed), else None.

        Args:
            x: the layer's input.
            mask: the input's mask (batch, time), or None.

        Returns:
            `mask` or None.
        """
        return mask if self.return_sequences else None

    def call(self, x: jax.Array, kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array | None,
             training: bool, rng: Callable[[], jax.Array], mask: jax.Array | None = None,
             initial_state: jax.Array | Sequence[jax.Array] | None = None) -> Any:
        x, kernel, recurrent_kernel, bias = self.promote(x, kernel, recurrent_kernel, bias)
        dropout_mask = recurrent_mask = None
        if training and (self._applies(self.dropout) or self._applies(self.recurrent_dropout)):
            dropout_mask, recurrent_mask = self._dropout_masks(rng(), x.shape[0], x.shape[-1], x.dtype)
        outputs, states = type(self).loop(
            x, kernel, recurrent_kernel, bias, initial_state=initial_state, mask=mask,
            go_backwards=self.go_backwards, return_sequences=self.return_sequences, unroll=self.unroll,
            dropout_mask=dropout_mask, recurrent_dropout_mask=recurrent_mask, precision=self.precision,
            **self._loop_arguments())
        return (outputs, *states) if self.return_state else outputs
