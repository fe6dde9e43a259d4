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

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


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

    def start(self, state: Any, resume: bool, check: Callable[[dict], None] = lambda saved: None
              ) -> tuple[Any, list[dict], int]:
        """(state, history, epochs done) to start a run from.

        Without `resume`, the checkpoints of an earlier run in the directory are deleted
        (orbax never overwrites an epoch) and `state` is returned afresh; with `resume`, the
        newest checkpoint's, after `check(saved config)` (which raises to refuse it), or
        `state` with a warning when there is none.
        """
        epochs = self.epochs()
        if not resume:
            if epochs:
                log.info("Not resuming: deleting the checkpoints of epochs %s in %s", epochs, self.directory)
                self.clear()
            return state, [], 0
        if not epochs:
            warnings.warn(f"--resume: no checkpoint in {self.directory}; starting from scratch.", stacklevel=4)
            return state, [], 0
        meta = self.meta(epochs[-1])
        check(meta.get("config", {}))
        state = self.restore(epochs[-1], state)
        log.info("Resumed from %s/%d (epoch %d)", self.directory, epochs[-1], meta["epoch"])
        return state, meta["history"], int(meta["epoch"])


def check_resume(now: dict, saved: dict, must_match: Sequence[str], should_match: Sequence[str] = ()) -> None:
    """Refuse a checkpoint whose config differs from `now` in `must_match` (another model or
    optimizer); warn for `should_match` (the run would differ from an uninterrupted one)."""
    for keys, differs in ((must_match, "use another --out or the checkpoint's settings."),
                          (should_match, "the result will differ from an uninterrupted run.")):
        for key in keys:
            if key in saved and saved[key] != now[key]:
                message = f"--resume: the checkpoint has {key}={saved[key]!r}, this run {key}={now[key]!r}; {differs}"
                if keys is must_match:
                    raise ValueError(message)
                warnings.warn(message, stacklevel=5)


def saved_epochs(directory: str | os.PathLike) -> list[int]:
    """The epochs with a complete checkpoint in `directory` ([] if it does not exist)."""
    return sorted(ocp.path.step.checkpoint_steps(directory))
