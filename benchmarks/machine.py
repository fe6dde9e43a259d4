"""What the figures were measured on: machine, library versions, matmul peak."""
from __future__ import annotations

import os
import platform
import time
from typing import Any

LIBRARIES = ("jax", "jaxlib", "flax", "optax", "keras", "torch", "numpy")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def versions() -> dict[str, str | None]:
    """Installed versions (None where a library is missing); imports nothing heavy twice."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def describe(platform_name: str) -> dict[str, Any]:
    """Machine facts for the JSON: CPU model and cores, and accelerator names if any."""
    import jax

    info: dict[str, Any] = {
        "platform": platform_name,
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if platform_name != "cpu":
        info["devices"] = [d.device_kind for d in jax.devices(platform_name)]
    return info


def matmul_peak(n: int = 2048, repeats: int = 5, dtype: str = "float32") -> dict[str, float]:
    """Measured float32 matmul throughput: best and median FLOP/s of an n x n jnp.dot."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), dtype)
    dot = jax.jit(jnp.dot).lower(a, b).compile()
    jax.block_until_ready(dot(a, b))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(dot(a, b))
        times.append(time.perf_counter() - start)
    flops = 2.0 * n**3
    times.sort()
    return {"n": n, "dtype": dtype, "peak_flops": flops / times[0], "median_flops": flops / times[len(times) // 2]}
