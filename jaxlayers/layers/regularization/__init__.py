"""Keras's regularization layers (`keras/src/layers/regularization/`)."""
from jaxlayers.layers.regularization.activity_regularization import ActivityRegularization
from jaxlayers.layers.regularization.alpha_dropout import AlphaDropout
from jaxlayers.layers.regularization.dropout import Dropout
from jaxlayers.layers.regularization.gaussian_dropout import GaussianDropout
from jaxlayers.layers.regularization.gaussian_noise import GaussianNoise
from jaxlayers.layers.regularization.spatial_dropout import SpatialDropout1D, SpatialDropout2D, SpatialDropout3D

__all__ = ["ActivityRegularization", "AlphaDropout", "Dropout", "GaussianDropout", "GaussianNoise",
           "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"]
