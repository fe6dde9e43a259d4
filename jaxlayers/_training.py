"""Training mode as Keras passes it down: a `Graph` called with `training=` sets it for every
jaxlayers layer it runs, at any depth (nested Graphs, `nn.Sequential`, `nnx.Sequential`,
a user's own module), as Keras's call context does.

A layer's mode is, first to last: its call's own flag (`deterministic=`,
`use_running_average=`), the innermost enclosing `Graph(..., training=...)`, its
attribute. The mode is read while a function is traced, so it is part of what `jit`
compiles; it is set only inside a Graph's own call, never around a jitted function.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from jaxlayers._args import check_bool

_TRAINING: contextvars.ContextVar[bool | None] = contextvars.ContextVar("jaxlayers_training", default=None)


@contextlib.contextmanager
def mode(training: bool | None) -> Iterator[None]:
    """Within the block, layers without a flag of their call's run in `training` mode (None: unchanged)."""
    if training is None:
        yield
        return
    token = _TRAINING.set(check_bool(training, "training"))
    try:
        yield
    finally:
        _TRAINING.reset(token)


def is_training(flag: str, called: bool | None, attribute: bool) -> bool:
    """Whether a layer runs in training mode.

    Args:
        flag: the layer's inference flag, "deterministic" or "use_running_average".
        called: the flag given to the call, or None.
        attribute: the layer's own attribute of that name.

    Returns:
        True for training: the call's flag, else the enclosing Graph's `training`, else
        the attribute (all three inference flags: True means inference).

    Raises:
        TypeError: a flag that is not a bool, named.
    """
    if called is not None:
        return not check_bool(called, flag)
    enclosing = _TRAINING.get()
    if enclosing is not None:
        return enclosing
    return not check_bool(attribute, flag)
