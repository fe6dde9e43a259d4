"""Convert Keras 3 models to `jaxlayers.linen` models and back.

- `from_keras(model_or_path) -> (module, variables)`: a Keras `Sequential` or functional
  model (or a `.keras` file) as a `flax.linen.Sequential` of jaxlayers modules, with
  variables `{"params": {"layers_<i>": {"kernel", "bias"}}}` holding the Keras weights.
- `to_keras(module, variables, input_shape) -> keras.Sequential`: the reverse, for a
  `nn.Sequential` (or a list) of the same modules; the result can be saved as `.keras`.

Supported Keras layers (channels-last only): every layer of `jaxlayers.linen` that Keras
has (`Dense`, `Conv1D/2D/3D`, `Conv1D/2D/3DTranspose`, `MaxPooling1D/2D/3D`,
`AveragePooling1D/2D/3D`, `GlobalMax/AveragePooling1D/2D/3D`, `UpSampling1D/2D/3D`,
`Flatten`, `ZeroPadding1D/2D/3D`, `Cropping1D/2D/3D`) plus `Activation`, `ReLU`,
`Reshape`, `Dropout` (inference only: the identity) and `InputLayer` (dropped). The
modules for the last four live in `jaxlayers.linen`. Regularizers, constraints and Dropout's
`noise_shape`/`seed` only matter for training in Keras and are not carried over.

Only linear chains are converted: one input, one output, each layer called once on the
previous layer's output. Graphs with branches or merges (e.g. `Add`, `Concatenate`),
shared layers, nested models and subclassed models are refused with a `ValueError`, as
is any other layer (the error names it and its class and lists what is supported).

Keras is an optional dependency: it is imported only when these functions run (with
`KERAS_BACKEND` defaulting to "jax"), so `import jaxlayers.keras` does not import it.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxlayers import activations, initializers
from jaxlayers import linen as L
from jaxlayers.linen._base import KernelLayer
from jaxlayers.summary import snake_case

__all__ = ["SUPPORTED", "from_keras", "to_keras"]


# ------------------------------------------------------------------- the layer table

_KERNEL = ("activation", "use_bias", "kernel_initializer", "bias_initializer")
_CONV = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", *_KERNEL)
_CONV_T = ("filters", "kernel_size", "strides", "padding", "output_padding", "dilation_rate", *_KERNEL)
_POOL = ("pool_size", "strides", "padding")


def _table() -> dict[str, tuple[type[nn.Module], tuple[str, ...]]]:
    """Keras class name -> (jaxlayers module, constructor arguments shared with Keras)."""
    table: dict[str, tuple[type[nn.Module], tuple[str, ...]]] = {
        "Dense": (L.Dense, ("units", *_KERNEL)),
        "Flatten": (L.Flatten, ()),
        "Activation": (L.Activation, ("activation",)),
        "ReLU": (L.ReLU, ("max_value", "negative_slope", "threshold")),
        "Reshape": (L.Reshape, ("target_shape",)),
        "Dropout": (L.Dropout, ("rate",)),
    }
    for n in (1, 2, 3):
        for family, args in [
            ("Conv{}D", _CONV), ("Conv{}DTranspose", _CONV_T), ("MaxPooling{}D", _POOL),
            ("AveragePooling{}D", _POOL), ("GlobalMaxPooling{}D", ("keepdims",)),
            ("GlobalAveragePooling{}D", ("keepdims",)),
            ("UpSampling{}D", ("size", "interpolation") if n == 2 else ("size",)),
            ("ZeroPadding{}D", ("padding",)), ("Cropping{}D", ("cropping",)),
        ]:
            name = family.format(n)
            table[name] = (getattr(L, name), args)
    return table


_TABLE = _table()
SUPPORTED: tuple[str, ...] = ("InputLayer", *sorted(_TABLE))
_MODULE_TO_KERAS = {cls: name for name, (cls, _) in _TABLE.items()}
# Rank-generic jaxlayers modules: the Keras class follows the input's spatial rank.
_GENERIC = {L.Conv: "Conv{}D", L.ConvTranspose: "Conv{}DTranspose", L.MaxPooling: "MaxPooling{}D",
            L.AveragePooling: "AveragePooling{}D", L.GlobalMaxPooling: "GlobalMaxPooling{}D",
            L.GlobalAveragePooling: "GlobalAveragePooling{}D", L.UpSampling: "UpSampling{}D",
            L.ZeroPadding: "ZeroPadding{}D", L.Cropping: "Cropping{}D"}


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError('jaxlayers.keras needs Keras 3: pip install "jaxlayers[keras]"') from e
    return keras


def _unsupported(what: str, cls: str, detail: str = "") -> ValueError:
    return ValueError(f"{what} of class {cls} is not supported{detail}. Supported Keras layers: "
                      f"{', '.join(SUPPORTED)}.")


# ---------------------------------------------------------------------------- Keras -> jax


def from_keras(model_or_path: Any) -> tuple[nn.Sequential, dict[str, Any]]:
    """A Keras 3 model (or `.keras` path) as `(flax.linen.Sequential, variables)`.

    The model must be a linear chain of supported layers (see the module docstring);
    anything else raises `ValueError`. Weights are copied; the module's outputs equal
    Keras's `model.predict` and `jaxlayers.summary` gives the rows of `model.summary()`.
    """
    keras = _keras()
    model = model_or_path
    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(model, compile=False)
    modules, params = [], {}
    for i, layer in enumerate(_chain(model, keras)):
        module, weights = _from_layer(layer, keras)
        modules.append(module)
        if weights:
            params[f"layers_{i}"] = weights
    if not modules:
        raise ValueError(f"Keras model {model.name!r} has no layers to convert.")
    return nn.Sequential(modules), {"params": params}


def _chain(model: Any, keras: Any) -> list[Any]:
    """The model's layers in call order, checking that they form a single chain."""
    if isinstance(model, keras.Sequential):
        layers = list(model.layers)
        for layer in layers:
            if not layer.built:
                raise ValueError(f"Keras model {model.name!r} is not built (layer {layer.name!r} has no "
                                 "weights yet): give it a `keras.Input` or call it once first.")
        return layers
    if not isinstance(model, keras.Model):
        raise TypeError(f"from_keras expects a keras.Model or a .keras path, got {type(model).__name__}.")
    if not hasattr(model, "_nodes_by_depth") or not model.inputs:
        raise ValueError(f"Keras model {model.name!r} of class {type(model).__name__} is subclassed; only "
                         "Sequential and functional models can be converted.")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"Keras model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} "
                         "outputs; only single-input, single-output linear chains are supported.")
    layers, tensor = [], model.outputs[0]
    while tensor is not model.inputs[0]:
        operation, node_index, _ = tensor._keras_history
        if isinstance(operation, keras.layers.InputLayer):
            break
        node = operation._inbound_nodes[node_index]
        if len(node.input_tensors) != 1 or len(node.output_tensors) != 1:
            raise ValueError(
                f"Keras model {model.name!r} is not a linear chain: layer {operation.name!r} "
                f"({type(operation).__name__}) takes {len(node.input_tensors)} inputs and gives "
                f"{len(node.output_tensors)} outputs. Graphs with branches or merges are not supported yet."
            )
        if any(operation is seen for seen in layers):
            raise ValueError(f"Keras model {model.name!r} calls layer {operation.name!r} more than once "
                             "(shared weights); only linear chains of distinct layers are supported.")
        layers.append(operation)
        tensor = node.input_tensors[0]
    return layers[::-1]


def _from_layer(layer: Any, keras: Any) -> tuple[nn.Module, dict[str, jax.Array]]:
    cls = type(layer).__name__
    if cls not in _TABLE or getattr(keras.layers, cls, None) is not type(layer):
        raise _unsupported(f"Keras layer {getattr(layer, 'name', layer)!r}", cls)
    module_cls, names = _TABLE[cls]
    config = layer.get_config()
    what = f"Keras layer {layer.name!r} of class {cls}"
    if config.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{what} has data_format={config['data_format']!r}; only 'channels_last' is supported.")
    kwargs = {}
    for name in names:
        value = config[name] if name in config else getattr(layer, name)
        if name == "activation":
            value = _activation_name(value, what)
        elif name.endswith("_initializer"):
            value = _initializer_name(value, keras)
            if value is None:
                continue
        elif name == "interpolation" and value not in ("nearest", "bilinear"):
            raise ValueError(f"{what} has interpolation={value!r}; only 'nearest' and 'bilinear' are supported.")
        elif name == "target_shape":
            value = tuple(int(v) for v in value)
        kwargs[name] = value
    if issubclass(module_cls, KernelLayer):
        if layer.compute_dtype != "float32" or layer.variable_dtype != "float32":
            kwargs.update(dtype=jnp.dtype(layer.compute_dtype), param_dtype=jnp.dtype(layer.variable_dtype))
        expected = 2 if layer.use_bias else 1
        if len(layer.weights) != expected:
            raise ValueError(f"{what} has weights {[w.path for w in layer.weights]}; only kernel and bias are "
                             "supported (no quantization or LoRA).")
        values = [jnp.asarray(np.asarray(w)) for w in layer.get_weights()]
        return module_cls(**kwargs), dict(zip(("kernel", "bias"), values))
    if layer.weights:
        raise ValueError(f"{what} unexpectedly has weights {[w.path for w in layer.weights]}.")
    return module_cls(**kwargs), {}


def _activation_name(value: Any, what: str) -> str:
    if not isinstance(value, str):
        value = getattr(value, "__name__", repr(value))
    if value not in activations.BY_NAME:
        raise ValueError(f"{what} uses activation {value!r}, which is not supported; supported activations: "
                         f"{sorted(activations.BY_NAME)}.")
    return value


def _initializer_name(config: Any, keras: Any) -> str | None:
    """A jaxlayers initializer name for a Keras initializer config, if it has one."""
    init = keras.initializers.get(config)
    name = snake_case(type(init).__name__)
    if name not in initializers.BY_NAME:
        return None
    given = {k: v for k, v in init.get_config().items() if k != "seed"}
    default = {k: v for k, v in type(init)().get_config().items() if k != "seed"}
    return name if given == default else None


# ---------------------------------------------------------------------------- jax -> Keras


def to_keras(module: Any, variables: Any, input_shape: Sequence[int | None], *, name: str | None = None) -> Any:
    """A `keras.Sequential` equal to a chain of jaxlayers modules, with their weights.

    module: a `flax.linen.Sequential` (nested ones are flattened), a list of modules and
    activation functions, or one module; variables: what `module.init` gave (for a list,
    laid out as for `nn.Sequential`: `{"params": {"layers_<i>": ...}}`). input_shape:
    (batch, *features) with the batch (None or an int) dropped in Keras's `Input`.
    Modules without a Keras equivalent (e.g. `MaxPoolingWithIndices`, bed-of-nails
    upsampling, explicit integer padding) raise `ValueError`.
    """
    keras = _keras()
    input_shape = tuple(input_shape)
    if not isinstance(variables, Mapping):
        raise TypeError(f"`variables` must be a mapping like {{'params': ...}}, got {type(variables).__name__}.")
    params = variables.get("params", {})
    extra = [k for k in variables if k != "params"]
    if extra:
        raise ValueError(f"to_keras only carries 'params'; the variables also hold {extra}.")
    x = jax.ShapeDtypeStruct(tuple(1 if d is None else d for d in input_shape), jnp.float32)
    layers = []
    for layer, p in _flatten(module, params):
        keras_layer = _to_layer(layer, x.ndim - 2, keras)
        if isinstance(layer, nn.Module):
            x = jax.eval_shape(lambda p, x, layer=layer: layer.apply({"params": p} if p else {}, x), p, x)
        else:
            x = jax.eval_shape(layer, x)
        layers.append((keras_layer, p))
    model = keras.Sequential([keras.Input(input_shape[1:]), *(k for k, _ in layers)], name=name)
    for keras_layer, p in layers:
        if keras_layer.weights:
            keras_layer.set_weights([np.asarray(p["kernel"])] + ([np.asarray(p["bias"])] if "bias" in p else []))
    return model


def _flatten(module: Any, params: Any) -> list[tuple[Any, Any]]:
    if isinstance(module, nn.Sequential) or isinstance(module, (list, tuple)):
        layers = module.layers if isinstance(module, nn.Sequential) else module
        out = []
        for i, layer in enumerate(layers):
            out += _flatten(layer, params.get(f"layers_{i}", {}))
        return out
    return [(module, params)]


def _activation_for_keras(activation: Any, what: str) -> str:
    if activation is None or isinstance(activation, str):
        name = "linear" if activation is None else activation.lower()
        if name in activations.BY_NAME:
            return name
    for name, fn in activations.BY_NAME.items():
        if activation is fn:
            return name
    raise ValueError(f"{what} has activation {activation!r}, which has no Keras name; use one of "
                     f"{sorted(activations.BY_NAME)}.")


def _to_layer(module: Any, rank: int, keras: Any) -> Any:
    if not isinstance(module, nn.Module):
        if callable(module):
            return keras.layers.Activation(_activation_for_keras(module, f"function {module!r}"))
        raise TypeError(f"to_keras expects jaxlayers modules or activation functions, got {module!r}.")
    cls = type(module)
    name = _MODULE_TO_KERAS.get(cls) or (_GENERIC[cls].format(rank) if cls in _GENERIC else None)
    what = f"jaxlayers module {module.name or cls.__name__!r}"
    if name is None or name not in _TABLE:
        raise ValueError(f"{what} of class {cls.__name__} has no Keras equivalent here. Supported: "
                         f"{', '.join(sorted({c.__name__ for c, _ in _TABLE.values()} | {c.__name__ for c in _GENERIC}))} "
                         "and activation functions.")
    kwargs = {}
    for arg in _TABLE[name][1]:
        value = getattr(module, arg)
        if arg == "activation":
            value = _activation_for_keras(value, what)
        elif arg.endswith("_initializer") and not isinstance(value, str):
            continue  # a callable: Keras keeps its default; the weights are set anyway
        elif arg == "padding" and name.startswith(("Conv", "MaxPooling", "AveragePooling")) and not isinstance(value, str):
            raise ValueError(f"{what} ({cls.__name__}) has explicit padding {value!r}; Keras only has "
                             "'valid', 'same' and (Conv1D) 'causal'.")
        elif arg == "interpolation" and value not in ("nearest", "bilinear"):
            raise ValueError(f"{what} ({cls.__name__}) has interpolation={value!r}, which Keras lacks.")
        kwargs[arg] = value
    if name.startswith("UpSampling") and name != "UpSampling2D" and module.interpolation != "nearest":
        raise ValueError(f"{what} ({cls.__name__}) has interpolation={module.interpolation!r}; Keras "
                         f"{name} only has 'nearest'.")
    if isinstance(module, KernelLayer) and (module.dtype is not None or module.param_dtype != jnp.float32):
        compute = jnp.dtype(module.dtype or module.param_dtype).name
        variable = jnp.dtype(module.param_dtype).name
        kwargs["dtype"] = compute if compute == variable else f"mixed_{compute}"
    return getattr(keras.layers, name)(**kwargs)
