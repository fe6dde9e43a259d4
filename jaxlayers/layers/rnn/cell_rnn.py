"""Keras `RNN(cell)`: a recurrent cell (or a stack of them) run over a sequence."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers._args import _is_int, check_bool
from jaxlayers.layers.layer import Weight, WeightedLayer
from jaxlayers.layers.rnn.rnn import Cell, RecurrentLayer, definition_copy
from jaxlayers.layers.rnn.stacked_rnn_cells import StackedRNNCells, cell_copy, own, prefixed, stack_of

_FLAGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")


def sequence_layer(cell: Cell, **flags: Any) -> RecurrentLayer:
    """The recurrent layer of a cell (`LSTMCell` -> `LSTM`) with the cell's arguments and `flags`.

    Args:
        cell: a cell's definition.
        **flags: the layer's own arguments (`return_sequences`, ...).

    Returns:
        The layer's definition, whose call is the cell's loop over a whole sequence.

    Raises:
        TypeError: a cell with no recurrent layer of its own (a user's subclass).
    """
    found = [c for c in RecurrentLayer.__subclasses__() if c.__bases__[1:] == (type(cell),)]
    if not found:
        raise TypeError(f"RNN's `cell` must be a SimpleRNNCell, LSTMCell or GRUCell, got {type(cell).__name__}.")
    layer = object.__new__(found[0])
    for field in dataclasses.fields(found[0]):
        setattr(layer, field.name, flags[field.name] if field.name in flags else getattr(cell, field.name))
    return layer


class RNN(WeightedLayer):
    """Keras `RNN(cell)`: x (batch, time, features) -> (batch, units), or (batch, time, units).

    A cell runs as its own layer does (`RNN(LSTMCell(u))` is `LSTM(u)`: one `lax.scan`
    after one input projection); a list of cells, or `StackedRNNCells`, runs cell after
    cell, each over the whole sequence (a masked step is skipped by every cell, as in
    Keras's step-by-step stack). Weights are the cell's (`kernel`, ...; a stack's
    `cells_0_kernel`, ...). The call takes `mask=` (batch, time) and `initial_state=`
    (the cell's states; for a stack one list per cell); with `return_state` it returns
    `(output, *states)` (a stack: one list of states per cell), as Keras's.

    Args:
        cell: a `SimpleRNNCell`, `LSTMCell`, `GRUCell`, `StackedRNNCells`, or a list of
            cells (their arguments are used, not their variables).
        return_sequences: return every step's output (batch, time, units), not the last.
        return_state: also return the final states.
        go_backwards: process the sequence from its last step (sequences come reversed).
        stateful: Keras's carried state: only False (refused otherwise; keyword-only, as
            all the arguments below).
        unroll: unroll the loop (`lax.scan(unroll=True)`).
        zero_output_for_mask: with `return_sequences` and a mask, zeros at the masked
            steps (else the previous output, Keras's default); Keras's unrolled loop, and
            so `unroll=True` here, ignores it.
        seed: an int folded into the dropout key, or None.
        deterministic: inference mode (no dropout).
        rng_collection: the rng stream of the dropout masks.
        dtype: the computation's dtype; None: the cells' own.
        param_dtype: the parameters' dtype (the cells keep their own).
    """

    mode = "deterministic"
    stochastic = True
    takes_mask = True
    input_sizes = {"in_features": "the input's last axis (features)."}

    cell: Any
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    _: dataclasses.KW_ONLY
    stateful: bool = False  # Keras's argument (not the faces' ClassVar): only False
    unroll: bool = False
    zero_output_for_mask: bool = False
    seed: int | None = None
    deterministic: bool = True
    rng_collection: str = "dropout"

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "cell":
            if isinstance(value, (list, tuple)):
                value = stack_of(value)
            elif isinstance(value, Cell) and not isinstance(value, RecurrentLayer):
                value = cell_copy(value, "cell")  # its arguments only: a module's variables are not this layer's
            elif isinstance(value, StackedRNNCells) and "__face__" in vars(type(value)):
                value = definition_copy(value)
        super().__setattr__(name, value)

    @classmethod
    def from_keras_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The cell of a Keras `RNN` config, for `jaxlayers.keras.from_keras`.

        Args:
            config: the Keras layer's `get_config()`.

        Returns:
            `{"cell": definition}`, converted (a `StackedRNNCells` with its cells).

        Raises:
            ValueError: a cell jaxlayers cannot convert, named.
        """
        from jaxlayers.keras import _convert

        return {"cell": _convert.inner_layer(config["cell"], "RNN's cell")}

    @classmethod
    def keras_weight_names(cls, keras_layer: Any) -> list[str]:
        """The jaxlayers names of a Keras `RNN`'s weights: its cell's (a stack's `cells_<i>_<name>`).

        Args:
            keras_layer: the Keras layer.

        Returns:
            Its weights' names, in order.
        """
        if hasattr(keras_layer.cell, "cells"):
            return StackedRNNCells.keras_weight_names(keras_layer.cell)
        return [w.name for w in keras_layer.weights]

    def cells(self) -> tuple[Cell, ...]:
        """The cells run, in order.

        Returns:
            The cells' definitions (one for a single cell).

        Raises:
            TypeError: `cell` is not a cell, a list of cells or a `StackedRNNCells`.
        """
        if isinstance(self.cell, StackedRNNCells):
            return self.cell.stack()
        if isinstance(self.cell, Cell) and not isinstance(self.cell, RecurrentLayer):
            return (self.cell,)
        raise TypeError(f"RNN's `cell` must be a recurrent cell (SimpleRNNCell, LSTMCell, GRUCell), a list of them "
                        f"or a StackedRNNCells, got {type(self.cell).__name__}.")

    def check(self) -> None:
        super().check()
        for name in _FLAGS:
            check_bool(getattr(self, name), name)
        if self.stateful:
            raise ValueError("RNN(stateful=True) is not supported: jaxlayers layers keep no state between calls; "
                             "pass the states on yourself (`return_state=True`, then `initial_state=`).")
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")
        check_bool(self.deterministic, "deterministic")
        for cell in self.cells():
            cell.check()

    def sizes(self, x: Any) -> dict[str, Any]:
        self.cells()
        if not hasattr(x, "ndim") or x.ndim != 3:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"RNN expects a 3-D input (batch, time, features), got shape {shape}.")
        return {"in_features": x.shape[-1]}

    def build(self, in_features: int) -> dict[str, Weight | None]:
        if isinstance(self.cell, StackedRNNCells):
            return self.cell.build(in_features=in_features)
        return prefixed(self.cell.build(in_features=in_features), "", self.cell)

    def compute_mask(self, x: Any, mask: jax.Array | None = None) -> jax.Array | None:
        """The output's mask, as Keras's: the input's with `return_sequences` (not reversed), else None.

        Args:
            x: the layer's input.
            mask: the input's mask (batch, time), or None.

        Returns:
            `mask` or None; with `return_state`, a list of it and None per state (a stack: per cell).
        """
        out = mask if self.return_sequences else None
        if not self.return_state:
            return out
        states = len(self.cells()) if isinstance(self.cell, StackedRNNCells) else self.cell.keras_states
        return [out, *[None] * states]

    def call(self, x: jax.Array, training: bool, rng: Callable[[], jax.Array], mask: jax.Array | None = None,
             initial_state: Any = None, **weights: jax.Array | None) -> Any:
        cells, stacked = self.cells(), isinstance(self.cell, StackedRNNCells)
        if stacked and initial_state is not None and (
                not isinstance(initial_state, (list, tuple)) or len(initial_state) != len(cells)):
            got = len(initial_state) if isinstance(initial_state, (list, tuple)) else type(initial_state).__name__
            raise ValueError(f"RNN over {len(cells)} stacked cells takes `initial_state` as one list of states per "
                             f"cell ({len(cells)}), got {got}.")
        if self.go_backwards:  # every cell runs forwards over the reversed sequence
            x = jnp.flip(x, 1)
            mask = None if mask is None else jnp.flip(jnp.asarray(mask), 1)
        states = []
        for i, cell in enumerate(cells):
            last = i == len(cells) - 1
            layer = sequence_layer(cell, return_sequences=self.return_sequences or not last, return_state=True,
                                   go_backwards=False, stateful=False, unroll=self.unroll)
            start = initial_state[i] if stacked and initial_state is not None else initial_state
            if start is not None and not isinstance(start, (list, tuple)):
                start = [start]
            x, *own_states = layer.call(x, **own(weights, f"cells_{i}" if stacked else ""),
                                        training=training, rng=lambda i=i: jax.random.fold_in(rng(), i), mask=mask,
                                        initial_state=start)
            states.append(own_states)
        if self.zero_output_for_mask and self.return_sequences and mask is not None and not self.unroll:
            x = jnp.where(jnp.asarray(mask, bool)[:, :, None], x, jnp.zeros((), x.dtype))
        if not self.return_state:
            return x
        return (x, *states) if stacked else (x, *states[0])
