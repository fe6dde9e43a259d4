"""experiments.rnn: the Keras RNN guide's MNIST classifier (summary and loss vs Keras), training, outputs,
resume, the CLI's errors. Data: $MNIST_DIR when set, else scikit-learn's digits (offline)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

import jaxlayers
from experiments import rnn
from experiments.checkpoint import saved_epochs
from experiments.data import load_idx_dir, load_sklearn_digits
from experiments.rnn_model import CELLS, INPUT_SHAPE, build_classifier

REPO = Path(__file__).resolve().parents[1]
N = 1024  # training examples: 32 batches of 32


@pytest.fixture(scope="module")
def dataset():
    data = load_idx_dir(os.environ["MNIST_DIR"]) if os.environ.get("MNIST_DIR") else load_sklearn_digits()
    return data.head(N)


def keras_rows(cell: str, bidirectional: bool = False):
    import keras
    from keras import layers as K

    recurrent = {"lstm": K.LSTM, "gru": K.GRU, "simple_rnn": K.SimpleRNN}[cell](64)
    recurrent = K.Bidirectional(recurrent) if bidirectional else recurrent
    model = keras.Sequential([keras.Input((28, 28)), recurrent, K.BatchNormalization(), K.Dense(10)])
    return [(type(layer).__name__, tuple(layer.output.shape), layer.count_params()) for layer in model.layers]


@pytest.mark.parametrize("cell", CELLS)
def test_summary_matches_keras(cell):
    s = jaxlayers.summary(build_classifier(cell), INPUT_SHAPE)
    assert [(r.type, r.output_shape, r.params) for r in s.rows] == keras_rows(cell)


def test_bidirectional_summary_matches_keras():
    s = jaxlayers.summary(build_classifier("lstm", bidirectional=True), INPUT_SHAPE)
    assert [(r.type, r.output_shape, r.params) for r in s.rows] == keras_rows("lstm", bidirectional=True)


def test_bidirectional_trains(dataset, tmp_path):
    config = rnn.RNNConfig(bidirectional=True, epochs=1, batch_size=32, out=str(tmp_path))
    result = rnn.train_rnn(config, dataset, progress=False)
    assert result.metrics["epochs"][0]["train_accuracy"] > 0.3 and (tmp_path / "accuracy.png").exists()


def test_loss_matches_keras_sparse_categorical_crossentropy(rng):
    import keras

    logits, labels = rng.standard_normal((16, 10)).astype(np.float32), rng.integers(0, 10, 16)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    ours = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    np.testing.assert_allclose(ours, np.asarray(expected), rtol=1e-6)


def test_keras_fit_batches():
    parts = rnn.batches(10, 4, np.arange(10)[::-1])
    assert [p.tolist() for p in parts] == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory):
    config = rnn.RNNConfig(epochs=2, batch_size=32, seed=1, out=str(tmp_path_factory.mktemp("ref")))
    return config, rnn.train_rnn(config, dataset, progress=False)


def test_trains_and_writes_outputs(reference):
    _, result = reference
    epochs = result.metrics["epochs"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert epochs[1]["train_loss"] < epochs[0]["train_loss"]
    # Chance is 0.1. Validation uses BatchNormalization's moving statistics (momentum 0.99), only about
    # half way from their initial (0, 1) after 64 steps, hence the lower bar (digits: 0.23, MNIST: 0.6).
    assert epochs[1]["train_accuracy"] > 0.5 and epochs[1]["val_accuracy"] > 0.2
    saved = json.loads((result.out_dir / "metrics.json").read_text())
    assert saved["final"]["val_accuracy"] == epochs[1]["val_accuracy"]
    assert saved["model"]["params"] == 24_714 and saved["dataset"]["train_examples"] == N
    for name in ("loss.png", "accuracy.png"):
        assert (result.out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved_epochs(result.out_dir / "checkpoints") == [1, 2]


def test_moving_statistics_are_trained(reference):
    _, result = reference
    stats = jax.tree.leaves(result.batch_stats)
    assert not np.allclose(stats[0], 0.0)  # moving_mean starts at 0


def test_resume_reproduces_uninterrupted_run(reference, dataset, tmp_path):
    config, uninterrupted = reference
    out = str(tmp_path / "run")
    first = rnn.train_rnn(rnn.RNNConfig(**{**vars(config), "out": out, "stop_after_epochs": 1}), dataset,
                          progress=False)
    assert not first.completed and saved_epochs(Path(out) / "checkpoints") == [1]
    assert not (Path(out) / "accuracy.png").exists()
    resumed = rnn.train_rnn(rnn.RNNConfig(**{**vars(config), "out": out, "resume": True}), dataset, progress=False)
    assert resumed.completed
    jax.tree.map(np.testing.assert_array_equal, resumed.params, uninterrupted.params)
    jax.tree.map(np.testing.assert_array_equal, resumed.batch_stats, uninterrupted.batch_stats)
    for a, b in zip(resumed.metrics["epochs"], uninterrupted.metrics["epochs"]):
        assert (a["train_loss"], a["val_accuracy"]) == (b["train_loss"], b["val_accuracy"])


def test_resume_refuses_another_cell(reference, dataset):
    config, result = reference
    with pytest.raises(ValueError, match="checkpoint has cell='lstm', this run cell='gru'"):
        rnn.train_rnn(rnn.RNNConfig(**{**vars(config), "cell": "gru", "resume": True}), dataset, progress=False)


@pytest.mark.parametrize("argv, message", [
    (["--cell", "lstmm"], "argument --cell: invalid choice: 'lstmm'"),
    (["--loop", "while"], "argument --loop: invalid choice: 'while'"),
    (["--epochs", "0"], "epochs must be a positive int, got 0"),
    (["--batch-size", "-4"], "batch_size must be a positive int, got -4"),
    (["--limit", "0"], "limit must be a positive int or None, got 0"),
    (["--learning-rate", "-1"], "learning_rate must be positive or None, got -1.0"),
])
def test_bad_flags_give_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        rnn.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_config_refuses_unknown_cell():
    with pytest.raises(ValueError, match=r"cell must be one of \('lstm', 'gru', 'simple_rnn'\), got 'rnn'"):
        rnn.RNNConfig(cell="rnn")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(kill_then_resume):
    """A real kill (SIGKILL) after the first checkpoint; --resume ends where a straight run does."""
    kill_then_resume([sys.executable, "-m", "experiments.rnn", "--epochs", "3", "--limit", "2048", "--seed", "5",
                      "--compilation-cache", "off"])


def test_python_loop_matches_scan_loop(reference, dataset, tmp_path):
    config, scanned = reference
    looped = rnn.train_rnn(rnn.RNNConfig(**{**vars(config), "out": str(tmp_path), "loop": "python"}), dataset,
                           progress=False)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), looped.params, scanned.params)
    assert looped.metrics["epochs"][1]["train_accuracy"] == pytest.approx(
        scanned.metrics["epochs"][1]["train_accuracy"], abs=2 / N)
