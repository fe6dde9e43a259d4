"""Max errors and times of `tests/test_applications.py`'s checks, one architecture per call.

    python -m benchmarks.application_errors NAME   # prints one Markdown table row
"""
from __future__ import annotations

import sys
import time

import numpy as np

from tests.test_applications import ARCHITECTURES, errors, limits


def measure(name: str) -> str:
    """The row: name, input size, pass/FAIL, each check's max error (`errors`), seconds."""
    start = time.perf_counter()
    found = errors(name, np.random.default_rng(0))
    ok = all(value <= limits(found)[check] for check, value in found.items())
    cells = " | ".join(f"{found[c]:.1e}" for c in ("inference", "to_keras", "training", "noise", "statistics"))
    return (f"| {name} | {ARCHITECTURES[name][0]} | {'pass' if ok else 'FAIL'} | {cells} | "
            f"{time.perf_counter() - start:.0f} |")


if __name__ == "__main__":
    print(measure(sys.argv[1]), flush=True)
