"""Keras's pooling layers (`keras/src/layers/pooling/`), plus max pooling with indices and max unpooling."""
from jaxlayers.layers.pooling.adaptive_average_pooling import (
    AdaptiveAveragePooling, AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D,
)
from jaxlayers.layers.pooling.adaptive_max_pooling import (
    AdaptiveMaxPooling, AdaptiveMaxPooling1D, AdaptiveMaxPooling2D, AdaptiveMaxPooling3D,
)
from jaxlayers.layers.pooling.average_pooling import (
    AveragePooling, AveragePooling1D, AveragePooling2D, AveragePooling3D,
)
from jaxlayers.layers.pooling.global_average_pooling import (
    GlobalAveragePooling, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
)
from jaxlayers.layers.pooling.global_max_pooling import (
    GlobalMaxPooling, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
)
from jaxlayers.layers.pooling.max_pooling import MaxPooling, MaxPooling1D, MaxPooling2D, MaxPooling3D
from jaxlayers.layers.pooling.max_unpooling import MaxPoolingWithIndices, MaxUnpooling

__all__ = [name for name in dir() if name[0].isupper()]
