"""Keras `StackedRNNCells`: cells run one after another at every step."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax

from jaxlayers._args import _is_int, check_bool
from jaxlayers.layers.layer import Weight, WeightedLayer
from jaxlayers.layers.rnn.rnn import Cell, RecurrentLayer, definition_copy


def cell_copy(cell: Any, name: str) -> Cell:
    """A cell's definition alone (`SimpleRNNCell`, `LSTMCell`, `GRUCell`), checked to be a cell.

    Args:
        cell: a linen or NNX cell, or its definition.
        name: the argument it came as, for errors.

    Returns:
        The cell's definition with the same arguments.

    Raises:
        TypeError: not a cell (a recurrent layer such as `LSTM` included).
    """
    if not isinstance(cell, Cell) or isinstance(cell, RecurrentLayer):
        raise TypeError(f"`{name}` must be a recurrent cell (SimpleRNNCell, LSTMCell or GRUCell), got "
                        f"{type(cell).__name__}.")
    return definition_copy(cell)


def prefixed(weights: dict[str, Weight | None], prefix: str, owner: Any) -> dict[str, Weight | None]:
    """A sub-layer's declared weights under `<prefix>_<name>`, in the sub-layer's `param_dtype`.

    Args:
        weights: the sub-layer's `build`.
        prefix: the names' prefix (`cells_0`); empty: the names unchanged.
        owner: the sub-layer, whose `param_dtype` the weights keep.

    Returns:
        The renamed declarations.
    """
    dtype = getattr(owner, "param_dtype", None)
    return {f"{prefix}_{name}" if prefix else name: None if w is None else dataclasses.replace(
        w, dtype=w.dtype or dtype, argument=w.argument or f"{name}_initializer") for name, w in weights.items()}


def own(weights: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The values of a sub-layer's weights, named `<prefix>_<name>`, by `<name>`.

    Args:
        weights: the values by full name.
        prefix: the sub-layer's prefix (`cells_0`); empty: all of them, unchanged.

    Returns:
        The sub-layer's values by its own names.
    """
    if not prefix:
        return dict(weights)
    return {name[len(prefix) + 1:]: value for name, value in weights.items() if name.startswith(prefix + "_")}


def stack_of(cells: Sequence[Any]) -> StackedRNNCells:
    """A `StackedRNNCells` definition of these cells (Keras's `RNN([cell, ...])`).

    Args:
        cells: the cells.

    Returns:
        The definition, its other arguments at their defaults.
    """
    stack = object.__new__(StackedRNNCells)
    for field in dataclasses.fields(StackedRNNCells):
        setattr(stack, field.name, cells if field.name == "cells" else field.default)
    return stack


class StackedRNNCells(WeightedLayer):
    """Keras `StackedRNNCells(cells)`: (x_t (batch, features), states) -> (h_t, new_states), cell after cell.

    Each cell's output is the next one's input; `states` holds one entry per cell (its
    state, or list of states, as the cell takes them) and the new states come back in
    the same form. Weights are the cells' under `cells_<i>_`: `cells_0_kernel`, ....
    `RNN(StackedRNNCells(...))` (or `RNN([cell, ...])`) runs them over a sequence.

    Args:
        cells: the cells (`SimpleRNNCell`, `LSTMCell`, `GRUCell`; their arguments are
            used, not their variables).
        seed: an int folded into the dropout key, or None (keyword-only).
        deterministic: inference mode (no dropout).
        rng_collection: the rng stream of the dropout masks.
        dtype: the computation's dtype; None: the cells' own.
        param_dtype: the parameters' dtype (the cells keep their own).
    """

    mode = "deterministic"
    stochastic = True
    single_input = False  # (x_t, states)
    input_sizes = {"in_features": "the input's last axis (features)."}

    cells: Sequence[Any]
    _: dataclasses.KW_ONLY
    seed: int | None = None
    deterministic: bool = True
    rng_collection: str = "dropout"

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "cells" and isinstance(value, (list, tuple)):
            value = tuple(cell_copy(c, f"cells[{i}]") if isinstance(c, Cell) else c for i, c in enumerate(value))
        super().__setattr__(name, value)

    @classmethod
    def from_keras_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The cells of a Keras `StackedRNNCells` config, for `jaxlayers.keras.from_keras`.

        Args:
            config: the Keras layer's `get_config()`.

        Returns:
            `{"cells": (definition, ...)}`, converted.

        Raises:
            ValueError: a cell jaxlayers cannot convert, named.
        """
        from jaxlayers.keras import _convert

        return {"cells": tuple(cell_copy(_convert.inner_layer(c, f"StackedRNNCells's cell {i}"), f"cells[{i}]")
                               for i, c in enumerate(config["cells"]))}

    @classmethod
    def keras_weight_names(cls, keras_layer: Any) -> list[str]:
        """The jaxlayers names of a Keras `StackedRNNCells`'s weights, in order: `cells_<i>_<name>`.

        Args:
            keras_layer: the Keras layer.

        Returns:
            Its weights' names, prefixed by cell.
        """
        return [f"cells_{i}_{w.name}" for i, cell in enumerate(keras_layer.cells) for w in cell.weights]

    def stack(self) -> tuple[Cell, ...]:
        """The cells' definitions, checked.

        Returns:
            The cells, in order.

        Raises:
            TypeError: `cells` is not a non-empty list of cells.
        """
        if not isinstance(self.cells, (list, tuple)) or not self.cells:
            raise TypeError(f"`cells` must be a non-empty list of recurrent cells, got {self.cells!r}.")
        return tuple(cell_copy(c, f"cells[{i}]") for i, c in enumerate(self.cells))

    def check(self) -> None:
        super().check()
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")
        check_bool(self.deterministic, "deterministic")
        for cell in self.stack():
            cell.check()

    def sizes(self, x: Any, states: Any = None) -> dict[str, Any]:
        return self.stack()[0].sizes(x)

    def build(self, in_features: int) -> dict[str, Weight | None]:
        weights: dict[str, Weight | None] = {}
        for i, cell in enumerate(self.stack()):
            weights.update(prefixed(cell.build(in_features=in_features), f"cells_{i}", cell))
            in_features = cell.units
        return weights

    def call(self, x: jax.Array, states: Sequence[Any], training: bool, rng: Callable[[], jax.Array],
             **weights: jax.Array | None) -> tuple[jax.Array, list[Any]]:
        cells = self.stack()
        if not isinstance(states, (list, tuple)) or len(states) != len(cells):
            got = len(states) if isinstance(states, (list, tuple)) else type(states).__name__
            raise ValueError(f"StackedRNNCells takes `states` as one entry per cell ({len(cells)}), got {got}.")
        new_states = []
        for i, (cell, state) in enumerate(zip(cells, states)):
            x, new = cell.call(x, state, **own(weights, f"cells_{i}"), training=training,
                               rng=lambda i=i: jax.random.fold_in(rng(), i))
            new_states.append(new)
        return x, new_states
