"""Run outputs: metrics.json, summary.txt, reconstructions.png and loss.png.

Figures are `matplotlib.figure.Figure` objects saved directly (no pyplot, no backend
switch: a notebook's backend is left alone). Files are written atomically.
"""
from __future__ import annotations

import dataclasses
import datetime
import io
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

METRICS_VERSION = 1


def versions() -> dict[str, str]:
    import flax
    import jax
    import jaxlib
    import optax

    import jaxlayers

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": getattr(jaxlib, "__version__", None) or jaxlib.version.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "jaxlayers": jaxlayers.__version__,
    }


def base_metrics(config: Any, dataset: Any, mesh: Any, model_summary: Any, **compilation: Any) -> dict:
    """Everything in metrics.json except the per-epoch history; `compilation`: loop, times, options."""
    import jax

    device = mesh.devices.flat[0]
    return {
        "metrics_version": METRICS_VERSION,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "config": dataclasses.asdict(config),
        "learning_rate": config.lr,
        "dataset": {
            "name": dataset.name,
            "source": dataset.source,
            "train_examples": int(len(dataset.x_train)),
            "test_examples": int(len(dataset.x_test)),
        },
        "devices": {
            "platform": device.platform,
            "kind": device.device_kind,
            "count": int(mesh.size),
            "process_count": jax.process_count(),
            "host": platform.node(),
        },
        "versions": versions(),
        "model": {"name": model_summary.model_name, "params": model_summary.total_params},
        **compilation,
    }


def finish_metrics(base: dict, history: list[dict]) -> dict:
    """metrics.json: `base`, the per-epoch records and a summary of the last epoch."""
    metrics = dict(base, epochs=[dict(r) for r in history])
    if history:
        last = history[-1]
        timed = history[1:] if len(history) > 1 else history
        metrics["final"] = {
            "epoch": last["epoch"],
            "train_loss": last["train_loss"],
            "val_loss": last["val_loss"],
            "mean_images_per_second": float(np.mean([r["images_per_second"] for r in timed])),
        }
    return metrics


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_metrics(out_dir: str | os.PathLike, metrics: dict) -> Path:
    path = Path(out_dir) / "metrics.json"
    _atomic_write(path, (json.dumps(metrics, indent=2) + "\n").encode())
    return path


def write_summary(out_dir: str | os.PathLike, model_summary: Any, history: list[dict]) -> Path:
    lines = [str(model_summary), ""]
    for r in history:
        lines.append(f"epoch {r['epoch']:3d}  loss {r['train_loss']:.5f}  val_loss {r['val_loss']:.5f}  "
                     f"{r['epoch_seconds']:.1f}s  {r['images_per_second']:,.0f} img/s")
    path = Path(out_dir) / "summary.txt"
    _atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path


def plot_reconstructions(path: str | os.PathLike, originals: np.ndarray, reconstructions: np.ndarray,
                         title: str | None = None) -> Path:
    """The tutorial's figure: n originals (n, 28, 28[, 1]) on the top row, reconstructions below (gray)."""
    n = len(originals)
    fig = Figure(figsize=(2 * n, 4.4))
    axes = fig.subplots(2, n, squeeze=False)
    for row, images in enumerate((originals, reconstructions)):
        for i in range(n):
            axes[row, i].imshow(np.asarray(images[i]).reshape(28, 28), cmap="gray", vmin=0.0, vmax=1.0)
            axes[row, i].set_axis_off()
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi=80)


def plot_losses(path: str | os.PathLike, history: list[dict], title: str | None = None,
                ylabel: str = "binary cross-entropy") -> Path:
    """Training and validation loss per epoch."""
    return plot_history(path, history, "loss", ylabel, title)


def plot_history(path: str | os.PathLike, history: list[dict], key: str, ylabel: str,
                 title: str | None = None) -> Path:
    """`train_<key>` and `val_<key>` of each epoch record, per epoch."""
    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(epochs, [r[f"train_{key}"] for r in history], "o-", label="train")
    ax.plot(epochs, [r[f"val_{key}"] for r in history], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(epochs) == 1:  # else matplotlib labels a lone epoch with fractional ticks
        ax.set_xticks(epochs)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path, dpi=100)


def _save(fig: Figure, path: str | os.PathLike, dpi: int) -> Path:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    _atomic_write(Path(path), buffer.getvalue())
    return Path(path)


def write_outputs(out_dir: str | os.PathLike, model: Any, params: Any, dataset: Any, model_summary: Any,
                  history: list[dict], n_images: int = 10) -> dict[str, Path]:
    """summary.txt, reconstructions.png (first `n_images` test digits) and loss.png."""
    import jax

    out_dir = Path(out_dir)
    originals = np.asarray(dataset.x_test[:n_images], np.float32)
    decoded = np.asarray(jax.jit(model.apply)({"params": params}, originals))
    name = f"{model_summary.model_name} ({dataset.name})"
    return {
        "summary": write_summary(out_dir, model_summary, history),
        "reconstructions": plot_reconstructions(out_dir / "reconstructions.png", originals, decoded, name),
        "loss": plot_losses(out_dir / "loss.png", history, name) if history else None,
    }
