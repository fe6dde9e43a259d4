"""What Keras's adaptive pooling layers share: `output_size`."""
from __future__ import annotations

from jaxlayers._args import IntOrSeq, as_tuple
from jaxlayers.layers.layer import Layer


class BaseAdaptivePooling(Layer):
    """The base of the adaptive pooling layers.

    Args:
        output_size: the output's spatial sizes: an int (every axis) or one per axis.
    """

    output_size: IntOrSeq

    def check(self) -> None:
        super().check()
        as_tuple(self.output_size, self.rank, "output_size")
