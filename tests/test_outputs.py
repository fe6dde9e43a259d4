"""experiments.outputs: figures drawn without pyplot leave the user's matplotlib backend alone."""
from __future__ import annotations

import io

import matplotlib
import numpy as np
from PIL import Image

from experiments import outputs


def test_figures_leave_the_backend_alone(tmp_path, rng):
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # a notebook user's choice
    try:
        images = rng.uniform(size=(3, 28, 28, 1)).astype(np.float32)
        recon = outputs.plot_reconstructions(tmp_path / "r.png", images, images[::-1], "title")
        history = [{"epoch": e, "train_loss": 0.3 / e, "val_loss": 0.31 / e} for e in (1, 2, 3)]
        loss = outputs.plot_losses(tmp_path / "l.png", history, "title")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    width, height = Image.open(io.BytesIO(recon.read_bytes())).size
    assert (width, height) == (2 * 3 * 80, int(4.4 * 80))  # figsize (2n, 4.4) at 80 dpi
    assert Image.open(loss).size == (600, 400)
    assert not list(tmp_path.glob(".*tmp"))
