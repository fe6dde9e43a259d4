"""Per-epoch checkpoints with orbax-checkpoint.

`Checkpoints` wraps an `ocp.CheckpointManager` that keeps the newest `keep` epochs in
``<directory>/<epoch>/``, each with two items: ``state`` (the train state) and
``meta`` (JSON: epoch, history, config). Orbax writes a checkpoint to a temporary
directory and renames it once complete, so a reader, or a run resumed after a kill,
only ever sees whole checkpoints; saves are asynchronous (device arrays are copied to
the host before `save` returns) and coordinated across processes. `restore` reads the
state straight into the shardings of a target state.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpoints:
    """The checkpoints of one run; use as a context manager (closing waits for pending saves)."""

    def __init__(self, directory: str | os.PathLike, keep: int = 2, *, read_only: bool = False):
        if not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be a positive int, got {keep!r}")
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(keep), create=not read_only, read_only=read_only,
            cleanup_tmp_directories=not read_only)  # a save cut short by a kill
        self.directory = Path(directory).absolute()
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers={
            "state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()})

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._manager.close()

    def epochs(self) -> list[int]:
        """The epochs with a complete checkpoint, oldest first."""
        return sorted(self._manager.all_steps())

    def clear(self) -> None:
        """Delete every checkpoint (a fresh run in a used directory)."""
        for epoch in self.epochs():
            self._manager.delete(epoch)

    def save(self, epoch: int, state: Any, meta: dict) -> None:
        """Start writing the checkpoint of `epoch` (epochs completed so far)."""
        self._manager.save(epoch, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))

    def wait(self) -> None:
        """Block until every started save is complete."""
        self._manager.wait_until_finished()

    def meta(self, epoch: int) -> dict:
        """The JSON metadata saved with `epoch`."""
        return self._manager.restore(epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

    def restore(self, epoch: int, target: Any = None) -> Any:
        """The state of `epoch`, with the tree structure, dtypes and shardings of `target`
        (None: shapes and dtypes as saved, NamedTuples as dicts, on this process's first
        device, whatever devices wrote it: e.g. a run on 2 CPU devices, read in a notebook)."""
        if target is None:
            device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
            saved = self._manager.item_metadata(epoch)["state"]
            abstract = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device), saved)
        else:
            abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        return self._manager.restore(epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))).state


def saved_epochs(directory: str | os.PathLike) -> list[int]:
    """The epochs with a complete checkpoint in `directory` ([] if it does not exist)."""
    return sorted(ocp.path.step.checkpoint_steps(directory))
