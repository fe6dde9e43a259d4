"""Every layer's one definition, by Keras's families (`keras/src/layers/`): its Keras arguments
and their checks, its variables, its call on `jaxlayers.functional`.

`jaxlayers.linen` and `jaxlayers.nnx` make their modules from these (`face`), and
`jaxlayers.keras` converts by them. A definition is not a module itself: use the faces.
"""
from jaxlayers.layers import (
    activations, applications, convolutional, core, merging, normalization, pooling, preprocessing, regularization,
    reshaping, rnn,
)
from jaxlayers.layers.activations import *  # noqa: F403
from jaxlayers.layers.applications import *  # noqa: F403
from jaxlayers.layers.convolutional import *  # noqa: F403
from jaxlayers.layers.core import *  # noqa: F403
from jaxlayers.layers.layer import KernelLayer, Layer, Weight, WeightedLayer
from jaxlayers.layers.merging import *  # noqa: F403
from jaxlayers.layers.normalization import *  # noqa: F403
from jaxlayers.layers.pooling import *  # noqa: F403
from jaxlayers.layers.preprocessing import *  # noqa: F403
from jaxlayers.layers.regularization import *  # noqa: F403
from jaxlayers.layers.reshaping import *  # noqa: F403
from jaxlayers.layers.rnn import *  # noqa: F403

FAMILIES = (core, convolutional, pooling, rnn, normalization, regularization, activations, reshaping, merging,
            preprocessing, applications)
# The layers the faces present, by family (bases such as `Merge` included: the faces' isinstance checks).
LAYERS: tuple[type[Layer], ...] = tuple(getattr(family, name) for family in FAMILIES for name in family.__all__)

__all__ = ["KernelLayer", "LAYERS", "Layer", "Weight", "WeightedLayer",
           *sorted(cls.__name__ for cls in LAYERS)]
