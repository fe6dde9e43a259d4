"""Convert Keras 3 models to `jaxlayers.linen` models and back.

- `from_keras(model_or_path) -> (module, variables)`: a Keras `Sequential` or functional
  model (or a `.keras` file) as a `jaxlayers.linen.Graph` of jaxlayers modules, the
  layers named `layers_<i>` in the order of `model.layers` with the `InputLayer`s left
  out: `layers_<i>` is `model.layers[i]` of a Sequential model, and `model.layers[i + 1]`
  of a functional model with one input (its `model.layers[0]` is the `InputLayer`), with variables
  `{"params": {"layers_<i>": {"kernel", "bias", "gamma", "beta"}}, "batch_stats":
  {"layers_<i>": {"moving_mean", "moving_variance"}}}` holding the Keras weights.
  `module.apply(variables, x)` equals `model.predict(x)`; training mode is
  `module.apply(variables, x, training=True, rngs={"dropout": key}, mutable=["batch_stats"])`.
- `to_keras(module, variables, input_shape) -> keras model`: the reverse, for a `Graph`
  (a functional `keras.Model`, or a `keras.Sequential` when the graph is a chain), a
  `nn.Sequential` or list of the same modules, or one module; the result can be saved as `.keras`.

Supported Keras layers (channels-last only): every layer of `jaxlayers.linen` that Keras
has (`Dense`, `Conv1D/2D/3D`, `Conv1D/2D/3DTranspose`, `MaxPooling1D/2D/3D`,
`AveragePooling1D/2D/3D`, `GlobalMax/AveragePooling1D/2D/3D`, `UpSampling1D/2D/3D`,
`Flatten`, `ZeroPadding1D/2D/3D`, `Cropping1D/2D/3D`, `Activation`, `ReLU`, `Reshape`,
`Dropout`, `BatchNormalization`, `LayerNormalization`, and the merges `Add`, `Subtract`,
`Multiply`, `Average`, `Maximum`, `Minimum`, `Concatenate`) plus `InputLayer` (dropped).
Regularizers and constraints only matter for Keras's training and are not carried over.
A layer's dtype policy becomes the module's `dtype` (compute) and, for layers with
weights, `param_dtype` (variables), and back; float32 (Keras's default) is left as
`dtype=None`, which computes in the input's dtype.

Graphs: any directed acyclic graph of those layers, with one or several inputs and
outputs, each layer called once. Shared layers (called more than once), nested models,
operations that are not layers (e.g. `keras.ops.add` on symbolic tensors), subclassed
models and any other layer are refused with a `ValueError` naming the layer.

Keras is an optional dependency: it is imported only when these functions run (with
`KERAS_BACKEND` defaulting to "jax"), so `import jaxlayers.keras` does not import it.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxlayers import activations, initializers
from jaxlayers import linen as L
from jaxlayers._graph import Wire, check_graph
from jaxlayers.linen._base import KernelLayer
from jaxlayers.summary import snake_case

__all__ = ["SUPPORTED", "from_keras", "to_keras"]


# ------------------------------------------------------------------- the layer table

_KERNEL = ("activation", "use_bias", "kernel_initializer", "bias_initializer")
_CONV = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", *_KERNEL)
_CONV_T = ("filters", "kernel_size", "strides", "padding", "output_padding", "dilation_rate", *_KERNEL)
_POOL = ("pool_size", "strides", "padding")
_NORM = ("axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer")
_COLLECTIONS = ("params", "batch_stats")
# Keras arguments that jaxlayers has no equivalent of: a layer must have these values.
_REQUIRED = {"BatchNormalization": {"renorm": False}, "LayerNormalization": {"rms_scaling": False}}
# Modules with variables, in `param_dtype`; every module has `dtype` (its computation's).
_PARAM_DTYPED = (KernelLayer, L.BatchNormalization, L.LayerNormalization)


def _table() -> dict[str, tuple[type[nn.Module], tuple[str, ...]]]:
    """Keras class name -> (jaxlayers module, constructor arguments shared with Keras)."""
    table: dict[str, tuple[type[nn.Module], tuple[str, ...]]] = {
        "Dense": (L.Dense, ("units", *_KERNEL)),
        "Flatten": (L.Flatten, ()),
        "Activation": (L.Activation, ("activation",)),
        "ReLU": (L.ReLU, ("max_value", "negative_slope", "threshold")),
        "Reshape": (L.Reshape, ("target_shape",)),
        "Dropout": (L.Dropout, ("rate", "noise_shape", "seed")),
        "BatchNormalization": (L.BatchNormalization, ("momentum", "moving_mean_initializer",
                                                      "moving_variance_initializer", *_NORM)),
        "LayerNormalization": (L.LayerNormalization, _NORM),
        "Concatenate": (L.Concatenate, ("axis",)),
    }
    for merge in (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum):
        table[merge.__name__] = (merge, ())
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


def _weight_names(module: Any) -> dict[str, tuple[str, ...]]:
    """The variables a jaxlayers module holds, by collection (Keras's weight names)."""
    if isinstance(module, KernelLayer):
        return {"params": ("kernel", "bias") if module.use_bias else ("kernel",)}
    if isinstance(module, (L.BatchNormalization, L.LayerNormalization)):
        params = ("gamma",) * module.scale + ("beta",) * module.center
        if isinstance(module, L.BatchNormalization):
            return {"params": params, "batch_stats": ("moving_mean", "moving_variance")}
        return {"params": params}
    return {}


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


def from_keras(model_or_path: Any) -> tuple[L.Graph, dict[str, Any]]:
    """A Keras 3 model (or `.keras` path) as `(jaxlayers.linen.Graph, variables)`.

    Weights and moving statistics are copied; the module's outputs equal Keras's
    `model.predict` and `jaxlayers.summary` gives the rows of `model.summary()`.

    Args:
        model_or_path: a built `keras.Sequential` or functional `keras.Model`, or the path
            of a `.keras` file; a directed acyclic graph of supported layers (`SUPPORTED`,
            see the module docstring), each called once.

    Returns:
        `(module, variables)`: a `jaxlayers.linen.Graph`, its layers named `layers_<i>`
        in the order of `model.layers` without the `InputLayer`s, and
        `{"params": ..., "batch_stats": ...}` (the latter with BatchNormalization) for
        `module.apply(variables, x)`.

    Raises:
        ValueError: an unsupported or shared layer, a nested or subclassed model, an
            operation that is not a layer, or an unbuilt model, named.
        TypeError: not a Keras model or a path.
        ImportError: Keras 3 is not installed.
    """
    keras = _keras()
    model = model_or_path
    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(model, compile=False)
    layers, edges, outputs, num_inputs = _graph(model, keras)
    if not layers:
        raise ValueError(f"Keras model {model.name!r} has no layers to convert.")
    modules, variables = [], {c: {} for c in _COLLECTIONS}
    for i, layer in enumerate(layers):
        module, weights = _from_layer(layer, keras)
        modules.append(module)
        for collection, tree in weights.items():
            variables[collection][f"layers_{i}"] = tree
    if outputs == num_inputs + len(layers) - 1:
        outputs = None  # the default: the last layer's output
    graph = L.Graph(tuple(modules), edges, outputs, num_inputs)
    return graph, {c: tree for c, tree in variables.items() if tree or c == "params"}


def _graph(model: Any, keras: Any) -> tuple[list[Any], tuple[Wire, ...], Wire, int]:
    """The model's layers in call order, the tensor ids each takes, the output ids, the input count."""
    if isinstance(model, keras.Sequential):
        layers = list(model.layers)
        for layer in layers:
            if not layer.built:
                raise ValueError(f"Keras model {model.name!r} is not built (layer {layer.name!r} has no "
                                 "weights yet): give it a `keras.Input` or call it once first.")
            _check_operation(layer, model, keras)
        return layers, tuple(range(len(layers))), len(layers), 1
    if not isinstance(model, keras.Model):
        raise TypeError(f"from_keras expects a keras.Model or a .keras path, got {type(model).__name__}.")
    if not hasattr(model, "_nodes_by_depth") or not model.inputs:
        raise ValueError(f"Keras model {model.name!r} of class {type(model).__name__} is subclassed; only "
                         "Sequential and functional models can be converted.")
    ids = {id(t): k for k, t in enumerate(model.inputs)}
    position = {id(layer): k for k, layer in enumerate(model.layers)}
    nodes = [node for depth in sorted(model._nodes_by_depth, reverse=True)
             for node in sorted(model._nodes_by_depth[depth], key=lambda n: position.get(id(n.operation), -1))]
    layers, edges = [], []
    for node in nodes:
        layer = node.operation
        if isinstance(layer, keras.layers.InputLayer):
            continue
        _check_operation(layer, model, keras)
        if any(layer is seen for seen in layers):
            raise ValueError(f"Keras model {model.name!r} calls layer {layer.name!r} ({type(layer).__name__}) more "
                             "than once (shared weights); each layer must be called once.")
        # Keyword arguments (`training`, `mask`) are not replayed: Keras takes them from the model's call.
        args = node.arguments.args
        if len(args) != 1 or len(node.output_tensors) != 1:
            raise ValueError(f"Keras model {model.name!r}: layer {layer.name!r} ({type(layer).__name__}) is called "
                             f"with {len(args)} positional arguments and gives {len(node.output_tensors)} outputs; "
                             "only one tensor (or a list of tensors for merges) in and one out are supported.")
        (arg,) = args
        edges.append(tuple(ids[id(t)] for t in arg) if isinstance(arg, (list, tuple)) else ids[id(arg)])
        ids[id(node.output_tensors[0])] = len(model.inputs) + len(layers)
        layers.append(layer)
    outputs = tuple(ids[id(t)] for t in model.outputs)
    return layers, tuple(edges), outputs[0] if len(outputs) == 1 else outputs, len(model.inputs)


def _check_operation(layer: Any, model: Any, keras: Any) -> None:
    what = f"Keras model {model.name!r}: {getattr(layer, 'name', layer)!r} ({type(layer).__name__})"
    if isinstance(layer, keras.Model):
        raise ValueError(f"{what} is a nested model; rebuild the model from its layers (nested models are not "
                         "supported).")
    if not isinstance(layer, keras.layers.Layer):
        raise ValueError(f"{what} is an operation, not a layer (e.g. keras.ops on symbolic tensors); use the "
                         "matching layer instead (e.g. keras.layers.Add).")


def _from_layer(layer: Any, keras: Any) -> tuple[nn.Module, dict[str, dict[str, jax.Array]]]:
    """The jaxlayers module for a Keras layer, and its weights by collection."""
    cls = type(layer).__name__
    if cls not in _TABLE or getattr(keras.layers, cls, None) is not type(layer):
        raise _unsupported(f"Keras layer {getattr(layer, 'name', layer)!r}", cls)
    module_cls, names = _TABLE[cls]
    config = layer.get_config()
    what = f"Keras layer {layer.name!r} of class {cls}"
    if config.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{what} has data_format={config['data_format']!r}; only 'channels_last' is supported.")
    for name, value in _REQUIRED.get(cls, {}).items():
        if config.get(name, value) != value:
            raise ValueError(f"{what} has {name}={config[name]!r}; only {name}={value!r} is supported.")
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
        elif name in ("target_shape", "noise_shape", "axis") and isinstance(value, (list, tuple)):
            value = tuple(value)  # as a JSON config gives lists
        kwargs[name] = value
    policy = (layer.compute_dtype, layer.variable_dtype)
    if issubclass(module_cls, _PARAM_DTYPED) and policy != ("float32", "float32"):
        kwargs.update(dtype=jnp.dtype(layer.compute_dtype), param_dtype=jnp.dtype(layer.variable_dtype))
    elif layer.compute_dtype != "float32":
        kwargs["dtype"] = jnp.dtype(layer.compute_dtype)
    if cls == "BatchNormalization" and not layer.trainable:
        warnings.warn(f"{what} is frozen (trainable=False), which in Keras also keeps it in inference mode; the "
                      "converted layer is not frozen: with training=True it uses the batch's statistics and updates "
                      "its moving ones.", stacklevel=3)
    module = module_cls(**kwargs)
    expected = _weight_names(module)
    got = {w.name: w for w in layer.weights}
    if sorted(got) != sorted(n for names in expected.values() for n in names):
        raise ValueError(f"{what} has weights {[w.path for w in layer.weights]}; jaxlayers expects "
                         f"{sorted(n for names in expected.values() for n in names)} (no quantization or LoRA).")
    return module, {c: {n: jnp.asarray(np.asarray(got[n])) for n in names} for c, names in expected.items()}


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


def to_keras(module: Any, variables: Any, input_shape: Sequence[Any], *, name: str | None = None) -> Any:
    """A Keras model equal to jaxlayers modules, with their weights and moving statistics.

    Args:
        module: a `jaxlayers.linen.Graph` (a functional `keras.Model`; a `keras.Sequential`
            when it is a chain), a `flax.linen.Sequential` (nested ones are flattened), a
            list of modules and activation functions, or one module.
        variables: what `module.init` gave (`params`, and `batch_stats` with
            BatchNormalization; for a list, laid out as for `nn.Sequential`:
            `{"params": {"layers_<i>": ...}}`).
        input_shape: (batch, *features) with the batch (None or an int) dropped in
            Keras's `Input`; one per input for a `Graph` with several.
        name: the Keras model's name (None: Keras's default).

    Returns:
        A `keras.Sequential` or functional `keras.Model` with the weights set; it can be
        saved as `.keras`.

    Raises:
        ValueError: modules without a Keras equivalent (e.g. `MaxPoolingWithIndices`,
            bed-of-nails upsampling, explicit integer padding), or variables that do not
            match the modules.
        TypeError: `variables` is not a mapping, or a layer is neither a module nor a
            function.
        ImportError: Keras 3 is not installed.
    """
    keras = _keras()
    if not isinstance(variables, Mapping):
        raise TypeError(f"`variables` must be a mapping like {{'params': ...}}, got {type(variables).__name__}.")
    extra = [k for k in variables if k not in _COLLECTIONS]
    if extra:
        raise ValueError(f"to_keras carries {list(_COLLECTIONS)}; the variables also hold {extra}.")
    trees = {c: variables.get(c, {}) for c in _COLLECTIONS}
    if isinstance(module, L.Graph):
        layers = [(layer, _child(trees, i)) for i, layer in enumerate(module.layers)]
        edges, outputs = check_graph(len(layers), module.edges, module.outputs, module.num_inputs)
        num_inputs = module.num_inputs
    else:
        layers = _flatten(module, trees)
        edges, outputs, num_inputs = tuple(range(len(layers))), len(layers), 1
    shapes = [tuple(s) for s in input_shape] if num_inputs > 1 else [tuple(input_shape)]
    if len(shapes) != num_inputs or not all(shapes):
        raise ValueError(f"`input_shape` must give one shape per graph input ({num_inputs}), got {input_shape!r}.")
    tensors = [jax.ShapeDtypeStruct(tuple(1 if d is None else d for d in s), jnp.float32) for s in shapes]
    keras_layers = []
    for (layer, v), edge in zip(layers, edges):
        x = tensors[edge] if isinstance(edge, int) else [tensors[j] for j in edge]
        keras_layers.append(_to_layer(layer, (x if isinstance(edge, int) else x[0]).ndim - 2, keras))
        if isinstance(layer, nn.Module):
            v = {c: t for c, t in v.items() if t}
            tensors.append(jax.eval_shape(lambda v, x, layer=layer: layer.apply(v, x), v, x))
        else:
            tensors.append(jax.eval_shape(layer, x))
    inputs = [keras.Input(s[1:]) for s in shapes]
    if edges == tuple(range(len(layers))) and outputs == len(layers) and num_inputs == 1:
        model = keras.Sequential([inputs[0], *keras_layers], name=name)
    else:
        symbolic = list(inputs)
        for keras_layer, edge in zip(keras_layers, edges):
            symbolic.append(keras_layer(symbolic[edge] if isinstance(edge, int) else [symbolic[j] for j in edge]))
        out = symbolic[outputs] if isinstance(outputs, int) else [symbolic[j] for j in outputs]
        model = keras.Model(inputs[0] if num_inputs == 1 else inputs, out, name=name)
    for keras_layer, (layer, v) in zip(keras_layers, layers):
        values = {n: value for tree in v.values() for n, value in tree.items()}
        missing = [w.name for w in keras_layer.weights if w.name not in values]
        if missing:
            raise ValueError(f"jaxlayers module {getattr(layer, 'name', None) or type(layer).__name__!r} has no "
                             f"variables {missing} for Keras layer {keras_layer.name!r}.")
        keras_layer.set_weights([np.asarray(values[w.name]) for w in keras_layer.weights])
    return model


def _child(trees: Mapping[str, Any], i: int) -> dict[str, Any]:
    return {c: tree.get(f"layers_{i}", {}) for c, tree in trees.items()}


def _flatten(module: Any, trees: Mapping[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    if isinstance(module, nn.Sequential) or isinstance(module, (list, tuple)):
        layers = module.layers if isinstance(module, nn.Sequential) else module
        out = []
        for i, layer in enumerate(layers):
            out += _flatten(layer, _child(trees, i))
        return out
    return [(module, dict(trees))]


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
    if isinstance(module, _PARAM_DTYPED) and (module.dtype is not None or module.param_dtype != jnp.float32):
        compute = jnp.dtype(module.dtype or module.param_dtype).name
        variable = jnp.dtype(module.param_dtype).name
        kwargs["dtype"] = compute if compute == variable else f"mixed_{compute}"
    elif module.dtype is not None:
        kwargs["dtype"] = jnp.dtype(module.dtype).name
    return getattr(keras.layers, name)(**kwargs)
