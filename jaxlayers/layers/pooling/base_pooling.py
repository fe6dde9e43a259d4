"""What Keras's pooling layers share: `pool_size`, `strides`, `padding`; and the global ones' `keepdims`."""
from __future__ import annotations

from collections.abc import Sequence

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, check_bool
from jaxlayers.functional import _windows
from jaxlayers.layers.layer import Layer


def check_arguments(rank: int | None, pool_size: IntOrSeq, strides: IntOrSeq | None, padding: pad.Padding) -> None:
    """Keras pooling arguments; `pool_size` and `strides` give one int per axis alike.

    Args:
        rank: the class's spatial rank, or None (rank-generic): then the length of
            `pool_size` or `strides`, where one is a sequence.
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis, or None.
        padding: "valid" or "same".

    Raises:
        ValueError, TypeError: a bad argument, or sequences of different lengths, named.
    """
    if rank is None:
        rank = next((len(v) for v in (pool_size, strides) if isinstance(v, Sequence) and not isinstance(v, str)),
                    None)
    _windows.check_arguments(rank, pool_size, strides, padding)


class BasePooling(Layer):
    """The base of the windowed pooling layers.

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
    """

    pool_size: IntOrSeq = 2
    strides: IntOrSeq | None = None
    padding: pad.Padding = "valid"

    def check(self) -> None:
        super().check()
        check_arguments(self.rank, self.pool_size, self.strides, self.padding)

    def window_geometry(self) -> tuple[IntOrSeq, IntOrSeq, int]:
        """The window, for `jaxlayers.shapes.receptive_field`.

        Returns:
            `(pool_size, strides, 1)`, strides defaulting to `pool_size`.
        """
        return self.pool_size, self.pool_size if self.strides is None else self.strides, 1


class BaseGlobalPooling(Layer):
    """The base of the global pooling layers.

    Args:
        keepdims: keep the spatial axes, of size 1.
    """

    keepdims: bool = False

    def check(self) -> None:
        super().check()
        check_bool(self.keepdims, "keepdims")
