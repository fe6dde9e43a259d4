"""One timing helper: interleaved repeats, median with min-max, compile time apart.

A contender is a name and a `build()` that returns a `Prepared`: a `run()` that does
one unit of work and blocks until it is finished (`jax.block_until_ready`, a torch
CPU call, a training epoch), plus the seconds spent compiling (or the first call,
for eager frameworks) measured while building. `measure` warms every contender up
(not timed), then times the contenders in turn, round after round, rotating the
order each round, so that a noisy shared machine slows all of them alike.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks import ROOT


class Deadline:
    """A wall-clock budget shared by the parts of a run (None: no limit)."""

    def __init__(self, seconds: float | None):
        self.end = None if seconds is None else time.perf_counter() + seconds

    def passed(self) -> bool:
        return self.end is not None and time.perf_counter() >= self.end

    def left(self) -> float:
        return math.inf if self.end is None else self.end - time.perf_counter()


SKIPPED = "skipped: time budget"


class Elapsed(float):
    """What `run()` may return to give the seconds of its own timed region (an epoch
    without its set-up); otherwise the wall time of the whole call is used."""


@dataclasses.dataclass
class Prepared:
    run: Callable[[], Any]
    compile_s: float | None = None
    note: str = ""
    close: Callable[[], None] | None = None


@dataclasses.dataclass
class Contender:
    name: str
    build: Callable[[], Prepared]


@dataclasses.dataclass
class Stats:
    """Seconds per unit of work over the timed repeats (None figures when it failed)."""

    median: float | None = None
    min: float | None = None
    max: float | None = None
    samples: list[float] = dataclasses.field(default_factory=list)
    compile_s: float | None = None
    warmup_s: float | None = None  # the first warm-up call (compiles here for eager/fit contenders)
    number: int = 1
    note: str = ""
    error: str | None = None

    @classmethod
    def of(cls, samples: Sequence[float], **kw: Any) -> "Stats":
        return cls(statistics.median(samples), min(samples), max(samples), list(samples), **kw)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(fn(), seconds); fn must block until its work is done. An `Elapsed` result wins."""
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    return out, float(out) if isinstance(out, Elapsed) else seconds


def measure(
    contenders: Sequence[Contender], *, repeats: int = 5, warmup: int = 1, min_sample_s: float = 0.0,
    deadline: Deadline | None = None,
) -> dict[str, Stats]:
    """Stats per contender name; a contender that raises gets `Stats(error=...)`.

    Each sample calls `run()` `number` times and records the mean: `number` is chosen
    from the last warm-up call so that a sample lasts about `min_sample_s`. Contenders
    not yet built when `deadline` passes are skipped; rounds stop at it (at least one).
    """
    results: dict[str, Stats] = {}
    ready: list[tuple[str, Prepared, int, float]] = []
    try:
        for c in contenders:
            if deadline is not None and deadline.passed():
                results[c.name] = Stats(error=SKIPPED)
                continue
            try:
                prepared = c.build()
                ready.append((c.name, prepared, 1, 0.0))
                first = last = timed(prepared.run)[1]
                for _ in range(warmup - 1):
                    last = timed(prepared.run)[1]
                number = max(1, math.ceil(min_sample_s / max(last, 1e-9))) if min_sample_s else 1
                ready[-1] = (c.name, prepared, number, first)
            except Exception as err:  # a contender that cannot run is reported, not fatal
                if ready and ready[-1][0] == c.name:
                    _close(ready.pop()[1])
                results[c.name] = Stats(error=_describe(err))
        samples: dict[str, list[float]] = {name: [] for name, *_ in ready}
        for r in range(repeats):
            if r and deadline is not None and deadline.passed():
                break
            shift = r % max(len(ready), 1)
            for name, prepared, number, _ in ready[shift:] + ready[:shift]:
                if name in results:  # failed during an earlier round
                    continue
                try:
                    samples[name].append(sum(timed(prepared.run)[1] for _ in range(number)) / number)
                except Exception as err:
                    results[name] = Stats(error=_describe(err))
        for name, prepared, number, first in ready:
            if name not in results:
                results[name] = Stats.of(samples[name], compile_s=prepared.compile_s, warmup_s=first,
                                         number=number, note=prepared.note)
    finally:
        for _, prepared, *_ in ready:
            _close(prepared)
    return {c.name: results[c.name] for c in contenders}


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _close(prepared: Prepared) -> None:
    if prepared.close is not None:
        try:
            prepared.close()
        except Exception:
            pass


def fastest_of(variants: dict[str, Callable[[], Prepared]], trials: int = 3) -> Callable[[], Prepared]:
    """A build that builds every variant, times a few calls of each, keeps the fastest.

    Used for choices that are the contender's to make (e.g. torch's NCHW vs
    channels_last); the choice is written into the note.
    """

    def build() -> Prepared:
        best: tuple[float, str, Prepared] | None = None
        errors = []
        for label, make in variants.items():
            try:
                prepared = make()
                prepared.run()
                t = min(timed(prepared.run)[1] for _ in range(trials))
            except Exception as err:
                errors.append(f"{label}: {type(err).__name__}")
                continue
            if best is None or t < best[0]:
                best = (t, label, prepared)
        if best is None:
            raise RuntimeError("no variant ran (" + "; ".join(errors) + ")")
        _, label, prepared = best
        note = ", ".join(filter(None, [label, prepared.note, *(f"failed {e}" for e in errors)]))
        return dataclasses.replace(prepared, note=note)

    return build


def jax_prepared(fn: Callable, *args: Any) -> Prepared:
    """jit(fn) compiled ahead of time for `args` (compile time recorded); run blocks."""
    import jax

    compiled, compile_s = timed(lambda: jax.jit(fn).lower(*args).compile())
    return Prepared(lambda: jax.block_until_ready(compiled(*args)), compile_s)


def worker_env(env: dict[str, str | None] | None = None) -> dict[str, str]:
    """A worker subprocess's environment: this process's, with OpenMP's defaults (without the
    OMP_WAIT_POLICY=PASSIVE that `benchmarks.run` sets for torch beside JAX, which makes torch's
    own CPU runs up to 4x slower: an LSTM's many small kernels wake sleeping threads), then `env`
    on top (None removes a variable)."""
    merged = {**os.environ, "OMP_WAIT_POLICY": None, **(env or {})}
    return {k: v for k, v in merged.items() if v is not None}


def worker_contender(module: str, args: list[str], env: dict[str, str | None] | None = None
                     ) -> Callable[[], Prepared]:
    """A contender living in a subprocess (`python -m MODULE --worker ...`, environment
    `worker_env(env)`), one unit of work per request; the worker side is `serve_worker`."""

    def build() -> Prepared:
        proc = subprocess.Popen([sys.executable, "-m", module, "--worker", *args],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=worker_env(env), cwd=ROOT)

        def ask(command: str) -> dict:
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
            for line in proc.stdout:
                if line.startswith("@@ "):
                    reply = json.loads(line[3:])
                    if "error" in reply:
                        raise RuntimeError(reply["error"])
                    return reply
            raise RuntimeError(f"worker exited (code {proc.wait()})")

        def close() -> None:
            if proc.poll() is None:
                proc.stdin.close()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()

        try:
            ready = ask("ready")
        except Exception:
            close()
            raise
        return Prepared(lambda: Elapsed(ask("epoch")["seconds"]), note=ready.get("note", ""), close=close)

    return build


def serve_worker(make: Callable[[], tuple[Callable[[], Any], str]]) -> int:
    """The subprocess side of `worker_contender`: `make()` -> (epoch, note), then one reply
    per request on stdin ("ready": the note; "epoch": its seconds, `Elapsed` or wall),
    each a line "@@ JSON" on the real stdout (print output goes to stderr)."""
    out = sys.stdout
    sys.stdout = sys.stderr  # keep the pipe for replies

    def reply(obj: dict) -> None:
        out.write("@@ " + json.dumps(obj) + "\n")
        out.flush()

    try:
        epoch, note = make()
    except Exception as err:
        for line in sys.stdin:
            reply({"error": f"{type(err).__name__}: {err}"})
        return 1
    for line in sys.stdin:
        command = line.strip()
        try:
            if command == "ready":
                reply({"note": note})
            elif command == "epoch":
                started = time.perf_counter()
                seconds = epoch()
                reply({"seconds": float(seconds if isinstance(seconds, Elapsed) else time.perf_counter() - started)})
        except Exception as err:
            reply({"error": f"{type(err).__name__}: {err}"})
    return 0
