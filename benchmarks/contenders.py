"""Optional contenders: torch and keras imports guarded, so a missing one is a note, not a crash."""
from __future__ import annotations

import importlib
import os
from types import ModuleType


def torch() -> ModuleType | None:
    """torch, or None if it is not installed."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def keras_jax() -> ModuleType | None:
    """keras on the JAX backend, or None (not installed, or another backend already chosen)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        keras = importlib.import_module("keras")
    except ImportError:
        return None
    return keras if keras.backend.backend() == "jax" else None


def missing_notes() -> list[str]:
    notes = []
    if torch() is None:
        notes.append("torch is not installed: torch contenders skipped")
    if keras_jax() is None:
        notes.append("keras (JAX backend) unavailable: keras contenders skipped")
    return notes
