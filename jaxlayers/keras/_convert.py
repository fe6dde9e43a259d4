"""One Keras layer <-> one jaxlayers layer: the definition, its arguments, its weights.

The rules are the definitions' own (`jaxlayers.layers`): a definition's fields that
Keras's constructor also takes are copied (activations and initializers by name, JSON
lists as tuples); every other Keras argument must have Keras's default (regularizers,
constraints and names only matter to Keras and are not carried); weights go by Keras's
names, collections by the definition's `build`.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import warnings
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxlayers import activations, initializers
from jaxlayers import layers as definitions
from jaxlayers.summary import snake_case

# Keras arguments that never reach jaxlayers: naming, training-time extras, and `dtype`
# (its policy becomes `dtype`/`param_dtype`).
_KERAS_ONLY = ("name", "trainable", "dtype", "autocast", "input_shape", "batch_input_shape", "input_dim", "batch_size")
# jaxlayers arguments Keras does not have: Flax's modes and numerics.
_JAXLAYERS_ONLY = ("dtype", "param_dtype", "precision", "deterministic", "use_running_average", "rng_collection",
                   "axis_name")


def keras_only(name: str) -> bool:
    """Whether a Keras constructor argument is not carried over (and needs no check).

    Args:
        name: the argument.

    Returns:
        True for names, dtypes, regularizers and constraints.
    """
    return name in _KERAS_ONLY or name.endswith(("_regularizer", "_constraint"))


@functools.cache
def by_keras_name() -> dict[str, type[definitions.Layer]]:
    """Keras class name (aliases, and the class's own name where Keras exports it under another, included)
    -> the definition of that layer."""
    keras_module()
    table = {}
    for definition in definitions.LAYERS:
        for name in (definition.keras_name if definition.keras_name is not None else definition.__name__,
                     *definition.keras_aliases):
            cls = getattr(keras_home(definition), name, None) if name else None
            if isinstance(cls, type):
                table[name] = definition
                table.setdefault(cls.__name__, definition)  # GroupQueryAttention's class: GroupedQueryAttention
    return table


def _is_keras_class(definition: type[definitions.Layer], cls: type) -> bool:
    """Whether `cls` is the Keras class of `definition` (under its name or an alias)."""
    names = (definition.keras_name if definition.keras_name is not None else definition.__name__,
             *definition.keras_aliases)
    return any(name and getattr(keras_home(definition), name, None) is cls for name in names)


def keras_home(definition: type[definitions.Layer]) -> Any:
    """The Keras module holding a definition's Keras class (`keras.layers`, or an application's).

    Args:
        definition: a definition.

    Returns:
        The imported module.
    """
    keras_module()
    return importlib.import_module(definition.keras_module)


def keras_module() -> Any:
    """Keras 3, imported on first use with the JAX backend unless another was chosen."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError('jaxlayers.keras needs Keras 3: pip install "jaxlayers[keras]"') from e
    return keras


def unsupported(what: str, cls: str, detail: str = "") -> ValueError:
    """The error for a Keras layer (or operation) jaxlayers has no twin of.

    Args:
        what: the layer, e.g. "Keras model 'm': 'noise'".
        cls: its class name.
        detail: more, e.g. why.

    Returns:
        A ValueError listing what is supported.
    """
    supported = ", ".join(sorted({"InputLayer", *by_keras_name()}))
    return ValueError(f"{what} of class {cls} is not supported{detail}. Supported Keras layers: {supported}, "
                      "nested models and keras.ops arithmetic.")


def _fields(definition: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(definition)}


def _keras_parameters(cls: type) -> dict[str, inspect.Parameter]:
    return {name: p for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def activation_name(value: Any, what: str) -> str:
    """A Keras activation (name, function or config) as a jaxlayers activation name.

    Args:
        value: what the Keras config or layer holds.
        what: the layer, for errors.

    Returns:
        A name of `jaxlayers.activations.BY_NAME`.

    Raises:
        ValueError: an activation jaxlayers lacks.
    """
    if not isinstance(value, str):
        value = getattr(value, "__name__", repr(value))
    if value not in activations.BY_NAME:
        raise ValueError(f"{what} uses activation {value!r}, which is not supported; supported activations: "
                         f"{sorted(activations.BY_NAME)}.")
    return value


def initializer_name(config: Any, keras: Any) -> str | None:
    """A jaxlayers initializer name for a Keras initializer config, if it has one.

    Args:
        config: a Keras initializer name, config dict or object.
        keras: the Keras module.

    Returns:
        The name, or None when jaxlayers has no initializer with these parameters
        (the module keeps its default; the weights are copied anyway).
    """
    init = keras.initializers.get(config)
    name = snake_case(type(init).__name__)
    if name not in initializers.BY_NAME:
        return None
    given = {k: v for k, v in init.get_config().items() if k != "seed"}
    default = {k: v for k, v in type(init)().get_config().items() if k != "seed"}
    return name if given == default else None


def from_layer(layer: Any, keras: Any, what: str, axis_name: Any = None) -> tuple[type, dict[str, Any]]:
    """The definition and constructor arguments of the jaxlayers twin of a Keras layer.

    Args:
        layer: a Keras layer.
        keras: the Keras module.
        what: the layer, for errors.
        axis_name: `BatchNormalization`'s `axis_name`, from `from_keras`.

    Returns:
        `(definition, kwargs)`.

    Raises:
        ValueError: an unsupported class or argument, named.
    """
    cls = type(layer).__name__
    definition = by_keras_name().get(cls)
    if definition is None or not _is_keras_class(definition, type(layer)):
        raise unsupported(what, cls)
    config = layer.get_config()
    what = f"{what} of class {cls}"
    if config.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{what} has data_format={config['data_format']!r}; only 'channels_last' is supported.")
    fields = _fields(definition)
    defaults = {name: p.default for name, p in _keras_parameters(type(layer)).items()}
    kwargs = {}
    for name in dict.fromkeys([*defaults, *config]):
        if name in fields and name not in _JAXLAYERS_ONLY:
            value = config[name] if name in config else getattr(layer, name) if hasattr(layer, name) else \
                getattr(layer.cell, name) if hasattr(layer, "cell") else \
                getattr(layer, f"_{name}")  # SimpleRNN keeps `seed` on its cell; GroupQueryAttention `_flash_attention`
            if name in ("activation", "recurrent_activation"):
                value = activation_name(value, what)
            elif name.endswith("_initializer"):
                value = initializer_name(value, keras)
                if value is None:
                    continue
            kwargs[name] = _tuples(value)
        elif not keras_only(name) and name != "data_format" and name in config and name in defaults:
            if name == "synchronized" and config[name] and axis_name is None:
                raise ValueError(f"{what} has synchronized=True: give the mapped axis its statistics are "
                                 "averaged over, from_keras(..., axis_name='batch') (as shard_map or pmap names it).")
            if config[name] != defaults[name] and name != "synchronized":
                raise ValueError(f"{what} has {name}={config[name]!r}; only {name}={defaults[name]!r} is "
                                 "supported.")
    kwargs.update(definition.from_keras_config(config) if hasattr(definition, "from_keras_config") else {})
    if "axis_name" in fields:
        kwargs["axis_name"] = axis_name
    policy = (layer.compute_dtype, layer.variable_dtype)
    if issubclass(definition, definitions.WeightedLayer) and policy != ("float32", "float32"):
        kwargs.update(dtype=jnp.dtype(layer.compute_dtype), param_dtype=jnp.dtype(layer.variable_dtype))
    elif layer.compute_dtype != "float32":
        kwargs["dtype"] = jnp.dtype(layer.compute_dtype)
    if definition.mode == "use_running_average" and not layer.trainable:
        warnings.warn(f"{what} is frozen (trainable=False), which in Keras also keeps it in inference mode; the "
                      "converted layer is not frozen: with training=True it uses the batch's statistics and updates "
                      "its moving ones.", stacklevel=4)
    try:
        _instance(definition, kwargs).check()
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what}: {err}") from None
    return definition, kwargs


def inner_layer(config: Mapping[str, Any], what: str) -> Any:
    """The layer a Keras wrapper holds (Bidirectional's, RNN's cell, ...), from its config, converted.

    Args:
        config: the wrapped layer's serialized config, as in the wrapper's `get_config()`.
        what: the wrapper's words for it, e.g. "RNN's cell" (the error messages name it).

    Returns:
        A bare jaxlayers definition object with the converted arguments.

    Raises:
        ValueError: a layer jaxlayers cannot convert, named.
    """
    keras = keras_module()
    inner = keras.layers.deserialize(config)
    return _instance(*from_layer(inner, keras, f"{what} {inner.name!r}"))


def _instance(definition: type, kwargs: Mapping[str, Any]) -> Any:
    """A bare definition object with these arguments (the defaults elsewhere), for its checks and `build`."""
    obj = object.__new__(definition)
    for f in dataclasses.fields(definition):
        object.__setattr__(obj, f.name, kwargs.get(f.name, f.default))
    return obj


def sizes_of(definition: type, kwargs: Mapping[str, Any], inputs: Any) -> dict[str, Any]:
    """What `build` gets for inputs of these shapes (shape structs).

    Args:
        definition: a layer definition.
        kwargs: its arguments.
        inputs: the call's positional inputs, as `jax.ShapeDtypeStruct`s (lists for merges).

    Returns:
        `definition.sizes(*inputs)`.
    """
    return _instance(definition, kwargs).sizes(*inputs)


def weights_of(layer: Any, definition: type, kwargs: Mapping[str, Any], sizes: Mapping[str, Any],
               what: str) -> dict[str, dict[str, jax.Array]]:
    """A Keras layer's weights by collection and jaxlayers name, checked against the definition's `build`.

    Args:
        layer: the Keras layer.
        definition: its jaxlayers definition.
        kwargs: the definition's arguments.
        sizes: what `build` gets (`sizes_of`).
        what: the layer, for errors.

    Returns:
        `{collection: {name: array}}`.

    Raises:
        ValueError: weights that do not match (other names or shapes: quantized, LoRA, ...).
    """
    declared = {n: w for n, w in _instance(definition, kwargs).build(**sizes).items() if w is not None}
    got = {name: w for name, w in zip(keras_weight_names(definition, layer), layer.weights)}
    if sorted(got) != sorted(declared) or any(tuple(got[n].shape) != tuple(w.shape) for n, w in declared.items()):
        raise ValueError(f"{what} has weights {[(w.path, tuple(w.shape)) for w in layer.weights]}; jaxlayers expects "
                         f"{[(n, w.shape) for n, w in declared.items()]} (no quantization or LoRA).")
    trees: dict[str, dict[str, jax.Array]] = {}
    for name, weight in declared.items():
        trees.setdefault(weight.collection, {})[name] = jnp.asarray(np.asarray(got[name]))
    return trees


def keras_weight_names(definition: type[definitions.Layer], keras_layer: Any) -> list[str]:
    """The jaxlayers names of a Keras layer's `weights`, in order.

    Args:
        definition: the layer's definition.
        keras_layer: the Keras layer.

    Returns:
        Keras's weight names, or the definition's `keras_weights` where Keras's are generated.
    """
    if hasattr(definition, "keras_weight_names"):  # a wrapper's (Bidirectional's)
        return definition.keras_weight_names(keras_layer)
    return list(definition.keras_weights) or [w.name for w in keras_layer.weights]


def definition_of(module: Any) -> type[definitions.Layer] | None:
    """The definition a linen or NNX jaxlayers layer was made from, or None for other modules.

    Args:
        module: a module.

    Returns:
        The definition class.
    """
    return next((c for c in type(module).__mro__ if issubclass(c, definitions.Layer) and "__face__" not in c.__dict__),
                None) if isinstance(module, definitions.Layer) else None


def keras_class(definition: type[definitions.Layer], rank: int, keras: Any) -> type | None:
    """The Keras class of a definition, a rank-generic one taking its rank-`rank` class.

    Args:
        definition: a definition.
        rank: the spatial rank of the layer's input.
        keras: the Keras module.

    Returns:
        The Keras layer class, or None if Keras has none.
    """
    if definition.rank is None:
        ranked = [c for c in definition.__subclasses__() if c.rank == rank]
        definition = ranked[0] if ranked else definition
    name = definition.keras_name if definition.keras_name is not None else definition.__name__
    cls = getattr(keras_home(definition), name, None) if name else None
    return cls if isinstance(cls, type) else None


def activation_for_keras(activation: Any, what: str) -> str:
    """A jaxlayers activation (name, None or one of its functions) as a Keras name.

    Args:
        activation: the module's activation.
        what: the module, for errors.

    Returns:
        The Keras name.

    Raises:
        ValueError: a function with no Keras name.
    """
    if activation is None or isinstance(activation, str):
        name = "linear" if activation is None else activation.lower()
        if name in activations.BY_NAME:
            return name
    for name, fn in activations.BY_NAME.items():
        if activation is fn:
            return name
    raise ValueError(f"{what} has activation {activation!r}, which has no Keras name; use one of "
                     f"{sorted(activations.BY_NAME)}.")


def to_layer(module: Any, rank: int, keras: Any, name: str | None = None) -> Any:
    """The Keras layer of a jaxlayers layer (no weights yet).

    Args:
        module: a linen or NNX jaxlayers layer.
        rank: the spatial rank of its input (for rank-generic classes).
        keras: the Keras module.
        name: the Keras layer's name, or None (Keras's default).

    Returns:
        The Keras layer.

    Raises:
        ValueError: a layer or argument Keras lacks.
    """
    definition = definition_of(module)
    cls = None if definition is None else keras_class(definition, rank, keras)
    what = f"jaxlayers module {getattr(module, 'name', None) or type(module).__name__!r}"
    if cls is None:
        supported = sorted({d.__name__ for d in definitions.LAYERS if keras_class(d, 2, keras) or d.rank is None})
        raise ValueError(f"{what} of class {type(module).__name__} has no Keras equivalent here. Supported: "
                         f"{', '.join(supported)} and activation functions.")
    fields = _fields(definition)
    kwargs = {}
    for arg in _keras_parameters(cls):
        if arg not in fields or arg in _JAXLAYERS_ONLY:
            continue
        value = getattr(module, arg)
        if arg in ("activation", "recurrent_activation"):
            value = activation_for_keras(value, what)
        elif arg.endswith("_initializer") and not isinstance(value, str):
            continue  # a callable: Keras keeps its default; the weights are set anyway
        elif isinstance(value, definitions.Layer):  # a wrapped layer (SpectralNormalization's, TimeDistributed's)
            value = to_layer(value, rank - 1 if getattr(definition, "steps_axis", False) else rank, keras)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, definitions.Layer) for v in value):
            value = [to_layer(v, rank, keras) for v in value]  # StackedRNNCells's cells
        kwargs[arg] = value
    refusal = module.keras_refusal(cls.__name__) if hasattr(module, "keras_refusal") else None
    if refusal:
        raise ValueError(f"{what} ({type(module).__name__}) {refusal}")
    if isinstance(module, definitions.WeightedLayer) and (module.dtype is not None or module.param_dtype != jnp.float32):
        compute = jnp.dtype(module.dtype or module.param_dtype).name
        variable = jnp.dtype(module.param_dtype).name
        kwargs["dtype"] = compute if compute == variable else f"mixed_{compute}"
    elif module.dtype is not None:
        kwargs["dtype"] = jnp.dtype(module.dtype).name
    if getattr(module, "axis_name", None) is not None:
        warnings.warn(f"{what} averages its statistics over axis {module.axis_name!r}; Keras on JAX has no "
                      "synchronized BatchNormalization, so the Keras layer uses each device's batch.", stacklevel=4)
    return cls(**kwargs, **({} if name is None else {"name": name}))
