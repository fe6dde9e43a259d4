"""Multi-process runs on JAX's distributed runtime: joining it, and keeping the processes in step.

A process waiting in a collective for one that went elsewhere waits until a timeout
minutes later, or forever. So whatever could differ between the processes (their
settings, their data, the run directory, the checkpoints they see) is compared, or
decided by process 0, and shared with `allgather_json` before the first collective that
depends on it; a failure on any process stops every process with the same error. In one
process every function here does no communication.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils

T = TypeVar("T")
HOW_TO_LAUNCH = ("give every process --coordinator-address HOST:PORT (process 0's host and a free port), "
                 "--num-processes N and its --process-id I, or run under a cluster JAX detects (SLURM, Open MPI)")
SHARED_WAIT_S = 10.0  # how long a process looks for process 0's file (network filesystems lag)
_ERRORS: dict[str, type[Exception]] = {"ValueError": ValueError, "FileNotFoundError": FileNotFoundError}


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, local_device_ids: Sequence[int] | None = None) -> None:
    """`jax.distributed.initialize` with the arguments given (JAX detects the cluster for
    the others); its failures as one ValueError saying what to set."""
    given = {"coordinator_address": coordinator_address, "num_processes": num_processes, "process_id": process_id,
             "local_device_ids": None if local_device_ids is None else list(local_device_ids)}
    given = {name: value for name, value in given.items() if value is not None}
    try:
        jax.distributed.initialize(**given)
    except (ValueError, TypeError, RuntimeError) as err:
        shown = ", ".join(f"{name}={value!r}" for name, value in given.items())
        reason = " ".join(str(err).split()).rstrip(".")
        raise ValueError(f"--distributed: jax.distributed.initialize({shown}) failed: {reason}; {HOW_TO_LAUNCH}.") from err


def allgather_json(value: Any) -> list[Any]:
    """`value` (JSON-serialisable) of every process, in process order, as JSON decodes it.

    A collective: every process must call it, in the same order as its other collectives."""
    if jax.process_count() == 1:
        return [json.loads(json.dumps(value))]
    data = np.frombuffer(json.dumps(value).encode(), np.uint8)
    sizes = multihost_utils.process_allgather(np.int32(len(data)))
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[:len(data)] = data
    rows = multihost_utils.process_allgather(padded)
    return [json.loads(bytes(row[:size])) for row, size in zip(rows, sizes)]


def on_every_process(work: Callable[[], T]) -> T:
    """`work()` on this process; when it raises ValueError or FileNotFoundError on any
    process, every process raises that error (the lowest process's, naming it)."""
    if jax.process_count() == 1:
        return work()
    try:
        result, error = work(), None
    except (ValueError, FileNotFoundError) as err:
        result, error = None, (type(err).__name__, str(err))
    for process, failure in enumerate(allgather_json(error)):
        if failure is not None:
            kind, message = failure
            raise _ERRORS[kind](f"process {process}: {message}")
    return result


def from_process_0(choose: Callable[[], str]) -> str:
    """`choose()` run by process 0 only, returned on every process (its ValueError or
    FileNotFoundError raised on every process)."""
    if jax.process_count() == 1:
        return choose()
    outcome = None
    if jax.process_index() == 0:
        try:
            outcome = {"value": choose()}
        except (ValueError, FileNotFoundError) as err:
            outcome = {"error": (type(err).__name__, str(err))}
    outcome = allgather_json(outcome)[0]
    if "error" in outcome:
        kind, message = outcome["error"]
        raise _ERRORS[kind](message)
    return outcome["value"]


def check_agreement(values: dict[str, Any], notes: dict[str, Any] | None = None, hint: str = "") -> None:
    """ValueError on every process unless each of `values` (JSON-serialisable) is the same
    on every process; the message lists each process's value of the keys that differ,
    with its `notes` of that key (shown, not compared), then `hint`."""
    gathered = allgather_json([values, notes or {}])
    differ = [key for key in gathered[0][0] if any(other.get(key) != gathered[0][0][key] for other, _ in gathered)]
    if not differ:
        return
    parts = []
    for key in differ:
        shown = (f"process {process} {theirs.get(key)!r}" + (f" ({their_notes[key]})" if key in their_notes else "")
                 for process, (theirs, their_notes) in enumerate(gathered))
        parts.append(f"{key}: {', '.join(shown)}")
    raise ValueError(f"the {len(gathered)} processes disagree (the run would hang): {'; '.join(parts)}"
                     + (f"; {hint}" if hint else ""))


def check_shared_directory(directory: Path, flag: str) -> None:
    """ValueError on every process unless all of them see a file that process 0 writes in
    `directory` (created if missing): the run's files must be on a filesystem they share."""
    if jax.process_count() == 1:
        return
    probe = directory / f".shared-check-{jax.process_count()}"

    def write() -> None:
        if jax.process_index() == 0:
            try:
                directory.mkdir(parents=True, exist_ok=True)
                probe.write_text("written by process 0\n")
            except OSError as err:
                raise ValueError(f"{flag} {directory}: cannot write there ({err})") from err

    on_every_process(write)  # also the barrier: process 0 has written when any process goes on
    deadline = time.monotonic() + SHARED_WAIT_S
    while not (seen := probe.is_file()) and time.monotonic() < deadline:
        time.sleep(0.5)
    try:
        check_agreement({f"{flag} (directory, process 0's file seen)": [str(directory), seen]},
                        hint=f"{flag} must be a directory on a filesystem every process's host shares")
    finally:
        if jax.process_index() == 0:
            probe.unlink()
