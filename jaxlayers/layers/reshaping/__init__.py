"""Keras's reshaping layers (`keras/src/layers/reshaping/`)."""
from jaxlayers.layers.reshaping.cropping import Cropping, Cropping1D, Cropping2D, Cropping3D
from jaxlayers.layers.reshaping.flatten import Flatten
from jaxlayers.layers.reshaping.permute import Permute
from jaxlayers.layers.reshaping.repeat_vector import RepeatVector
from jaxlayers.layers.reshaping.reshape import Reshape
from jaxlayers.layers.reshaping.up_sampling import UpSampling, UpSampling1D, UpSampling2D, UpSampling3D
from jaxlayers.layers.reshaping.zero_padding import ZeroPadding, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D

__all__ = [name for name in dir() if name[0].isupper()]
