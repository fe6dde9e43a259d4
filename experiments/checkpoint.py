"""Atomic per-epoch checkpoints: `flax.serialization` msgpack, temp file + `os.replace`.

A checkpoint is one file ``<dir>/epoch_<NNNN>.msgpack`` holding
``{"state": <train state as a state dict>, "meta": <JSON text>}``. It is written to
a temporary file in the same directory, flushed and fsync'ed, then renamed over
its final name, so a reader (or a resumed run after a kill) only ever sees
complete checkpoints. The newest `keep` files are kept.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

_NAME = re.compile(r"epoch_(\d+)\.msgpack$")


def checkpoint_path(directory: str | os.PathLike, epoch: int) -> Path:
    return Path(directory) / f"epoch_{epoch:04d}.msgpack"


def save(directory: str | os.PathLike, epoch: int, state: Any, meta: dict, *, keep: int = 2) -> Path:
    """Write the checkpoint of `epoch` (completed epochs so far) atomically; returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    host_state = jax.tree.map(lambda a: np.asarray(jax.device_get(a)), serialization.to_state_dict(state))
    payload = serialization.msgpack_serialize({"state": host_state, "meta": json.dumps(meta)})
    path = checkpoint_path(directory, epoch)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.chmod(tmp, 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    for old in list_checkpoints(directory)[:-keep] if keep else []:
        old[1].unlink(missing_ok=True)
    return path


def list_checkpoints(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """(epoch, path) of the complete checkpoints in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.fullmatch(p.name))]
    return sorted(found)


def latest(directory: str | os.PathLike) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def restore(path: str | os.PathLike, target: Any) -> tuple[Any, dict]:
    """(state shaped like `target`, meta dict) from a checkpoint file (NumPy leaves).

    target None: the raw nested state dict.
    """
    raw = serialization.msgpack_restore(Path(path).read_bytes())
    state = raw["state"] if target is None else serialization.from_state_dict(target, raw["state"])
    return state, json.loads(raw["meta"])


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
