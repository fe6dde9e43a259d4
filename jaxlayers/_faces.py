"""What the linen and NNX faces share: one module class per definition, made once, and their names."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jaxlayers import layers as definitions


def make(definition: type[definitions.Layer], faces: dict[type, type],
         namespace: Callable[[type[definitions.Layer]], dict[str, Any]]) -> type:
    """The face of `definition` in `faces` (made on first use): a class of the definition and its base's face.

    Args:
        definition: a `jaxlayers.layers.Layer` subclass.
        faces: the face's cache, definition -> class, holding at least the base `Layer`'s.
        namespace: the face's class attributes for a definition.

    Returns:
        The class, named as the definition.
    """
    if definition not in faces:
        parent = make(definition.__bases__[0], faces, namespace)
        faces[definition] = type(definition.__name__, (definition, parent),
                                 {"__face__": True, "__qualname__": definition.__name__, **namespace(definition)})
    return faces[definition]


def names() -> dict[str, type[definitions.Layer]]:
    """Every layer's public names (its own and Keras's aliases) -> its definition, bases included."""
    found: dict[str, type[definitions.Layer]] = {"WeightedLayer": definitions.WeightedLayer,
                                                 "KernelLayer": definitions.KernelLayer}
    for definition in definitions.LAYERS:
        found.update(dict.fromkeys((definition.__name__, *definition.keras_aliases), definition))
    return found
