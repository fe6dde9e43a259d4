"""The linen face of a layer definition (`jaxlayers.layers`): a Flax module made from it.

`face(definition)` gives a `flax.linen.Module` whose dataclass fields are the
definition's arguments and whose `__call__` checks them, creates the variables
`build` declares (`params` by `self.param`, other collections by `self.variable`),
resolves training mode and the rng, and runs the definition's `call`. Errors name
the argument at the call (a module is a dataclass: nothing runs when it is made),
except a stochastic layer's, checked when made too: in inference it may never run
its draws, and a bad `rate` should not wait for the first training step.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from jaxlayers import _builder, _faces, _training
from jaxlayers import layers as definitions
from jaxlayers.layers.layer import cast_floats, check_dtype  # noqa: F401  (check_dtype: re-exported)


def check_single_input(layer: Any, x: Any) -> None:
    """A single-input layer's input must be one array, not a list (merge layers take lists).

    Args:
        layer: the layer.
        x: its first positional input.

    Raises:
        TypeError: a list, tuple or other non-array, with the layer's class.
    """
    if isinstance(x, (list, tuple)):
        raise TypeError(f"{type(layer).__name__} takes one array `x`, got a {type(x).__name__} of {len(x)} "
                        "items; merge layers (Add, Concatenate, ...) take lists.")
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        raise TypeError(f"{type(layer).__name__} takes one array `x`, got {type(x).__name__}.")


class Layer(definitions.Layer, nn.Module):
    """The base of every `jaxlayers.linen` layer: a Flax module made from a `jaxlayers.layers` definition.

    `layer(*inputs, **kwargs)` runs the definition (on symbolic `Input` tensors it is
    recorded instead, to write a `Graph` with `Model`); layers with a training flag take it
    as a keyword (`deterministic=`, `use_running_average=`; it wins over the attribute
    and an enclosing `Graph(training=...)`), stochastic ones `rng=` (else the
    `rng_collection` stream of `apply(..., rngs=...)`).
    """

    __face__ = True

    def __post_init__(self) -> None:
        if self.stochastic:
            self.check()
        super().__post_init__()

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        if _builder.is_symbolic(inputs, kwargs):  # writing a Graph: `Conv2D(...)(Input(shape))`
            self.check()
            return _builder.record(self, inputs, kwargs)
        return self._run(*inputs, **kwargs)

    @nn.compact
    def _run(self, *inputs: Any, **kwargs: Any) -> Any:
        self.check()
        if self.single_input and inputs:
            check_single_input(self, inputs[0])
        called = kwargs.pop(self.mode, None) if self.mode else None
        rng = kwargs.pop("rng", None) if self.stochastic else None
        inputs, kwargs = cast_floats(inputs, self.dtype), {k: cast_floats(v, self.dtype) for k, v in kwargs.items()}
        param_dtype = getattr(self, "param_dtype", None)
        weights, state = {}, {}
        for name, weight in self.build(**self.sizes(*inputs)).items():
            if weight is None:
                weights[name] = None
            elif weight.collection == "params":
                weights[name] = self.param(name, lambda key, w=weight, n=name: w.init(n, key, param_dtype))
            else:
                variable = self.variable(weight.collection, name,
                                         lambda w=weight, n=name: w.init(n, self.make_rng("params"), param_dtype))
                weights[name], state[name] = variable.value, variable
        if self.mode:
            weights["training"] = _training.is_training(self.mode, called, getattr(self, self.mode))
            if self.stochastic:
                weights["rng"] = lambda: self._key(rng)
        out = self.call(*inputs, **weights, **kwargs)
        if not self.stateful:
            return out
        out, updates = out
        if updates and not self.is_initializing():
            for name, value in updates.items():
                collection = state[name].collection
                if not self.is_mutable_collection(collection):
                    raise ValueError(f"{type(self).__name__} in training mode ({self.mode}=False) updates its "
                                     f"{', '.join(updates)}: apply with mutable=[{collection!r}].")
                state[name].value = value
        return out

    def _key(self, rng: jax.Array | None) -> jax.Array:
        """The key of a stochastic layer's draw: the call's `rng`, else its stream's, with `seed` folded in."""
        if rng is None:
            if not (self.has_rng(self.rng_collection) or self.has_rng("params")):
                name = "" if self.name is None else f" {self.name!r}"
                raise ValueError(f"{type(self).__name__}{name} in training mode ({self.mode}=False) needs a PRNG "
                                 f"key: apply(..., rngs={{{self.rng_collection!r}: key}}) or call it with `rng=`.")
            rng = self.make_rng(self.rng_collection)
        return rng if self.seed is None else jax.random.fold_in(rng, self.seed)


_FACES: dict[type, type] = {definitions.Layer: Layer}


def face(definition: type[definitions.Layer]) -> type[Layer]:
    """The linen module of a layer definition (made once, then the same class).

    Its base is the face of the definition's own base, so `isinstance(L.Conv2D(...), L.Conv)`.

    Args:
        definition: a `jaxlayers.layers.Layer` subclass.

    Returns:
        A `jaxlayers.linen.Layer` subclass of the same name, in `jaxlayers.linen`.
    """
    return _faces.make(definition, _FACES, lambda d: {"__doc__": d.__doc__, "__module__": "jaxlayers.linen"})
