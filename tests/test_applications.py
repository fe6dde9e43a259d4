"""Every `keras.applications` architecture converts and runs as Keras runs it.

Each model is built with `weights=None`, random BatchNormalization statistics and random
adapted Normalization weights, at a small input; `from_keras` must give `predict`'s logits
to 1e-4 of their scale, a training-mode call the same outputs and moving statistics as
Keras's own training-mode call (Dropout rates set to 0 on both sides: its masks are tested
elsewhere), and `to_keras` a model that predicts the same. The default run covers a few small
models holding every kind of layer the applications add; the rest are marked `slow`.
"""
from __future__ import annotations

import jax
import keras
import numpy as np
import pytest

from jaxlayers.keras import from_keras, to_keras

# name -> (input size, constructor arguments beyond weights/input_shape/classes/activation)
ARCHITECTURES: dict[str, tuple[int, dict]] = {
    **{f"ConvNeXt{s}": (32, {}) for s in ("Tiny", "Small", "Base", "Large", "XLarge")},
    **{f"DenseNet{n}": (32, {}) for n in (121, 169, 201)},
    **{f"EfficientNetB{i}": (32, {}) for i in range(8)},
    **{f"EfficientNetV2{s}": (32, {}) for s in ("B0", "B1", "B2", "B3", "S", "M", "L")},
    "InceptionResNetV2": (75, {}), "InceptionV3": (75, {}),
    "MobileNet": (32, {"alpha": 0.25}), "MobileNetV2": (32, {"alpha": 0.35}),
    "MobileNetV3Large": (32, {"minimalistic": False}), "MobileNetV3Small": (32, {}),
    "NASNetLarge": (331, {}), "NASNetMobile": (224, {}),
    **{f"ResNet{n}": (32, {}) for n in (50, 101, 152)}, **{f"ResNet{n}V2": (32, {}) for n in (50, 101, 152)},
    "VGG16": (32, {}), "VGG19": (32, {}), "Xception": (75, {}),
}
# the default run: the pieces the applications add, in the two smallest models that hold them all
# but adapted Normalization (tests/test_preprocessing.py imports Keras's adapted layer): MobileNetV3Small
# (depthwise convs, Rescaling, keras.ops arithmetic, hard_silu), ConvNeXtTiny (nested Sequentials,
# LayerScale, Normalization with given values)
FAST = {"ConvNeXtTiny", "MobileNetV3Small"}
CLASSES = 7


def test_every_architecture_is_listed():
    names = {n for n in dir(keras.applications) if n[0].isupper() and callable(getattr(keras.applications, n))}
    assert names == set(ARCHITECTURES)


def build(name: str, rng: np.random.Generator) -> tuple[keras.Model, np.ndarray]:
    """The model with random statistics, and a batch of inputs in its expected range (0..255)."""
    keras.backend.clear_session()
    size, extra = ARCHITECTURES[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=CLASSES,
                                              classifier_activation=None, **extra)
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape).astype(np.float32))
        elif isinstance(layer, keras.layers.Normalization) and layer.weights:  # adapted: mean, variance, count
            mean, variance = layer.weights[:2]
            mean.assign(rng.uniform(50, 200, mean.shape).astype(np.float32))
            variance.assign(rng.uniform(1e3, 5e3, variance.shape).astype(np.float32))
            layer.finalize_state()  # Keras normalises with what finalize_state computes from these
    x = rng.uniform(0, 255, (8, size, size, 3)).astype(np.float32)  # 8: batch statistics of several values
    return model, x


def close(got, want, what: str, tol: float = 1e-4) -> None:
    got, want = np.asarray(got), np.asarray(want)
    scale = max(float(np.abs(want).max()), 1e-6)
    err = float(np.abs(got - want).max()) / scale
    assert err <= tol, f"{what}: max error {err:.2e} of the output scale {scale:.3g}"


# Training mode normalises by the batch's statistics, of 8 images at a few cells per channel deep
# in a network: float32 rounding (the two sides sum in other orders) is amplified where a channel's
# batch variance is small, to ~1e-4 of the scale at the output of 50 such layers (ResNet50), so
# training mode is held to 1e-3 (a wrong statistic or formula is off by far more).
TRAIN_TOL = 1e-3


def moving_statistics(model: keras.Model) -> dict[str, np.ndarray]:
    return {f"{layer.name}/{w.name}": np.asarray(w) for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization) for w in (layer.moving_mean, layer.moving_variance)}


def ours(stats: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """Moving statistics of a linen `batch_stats` tree, keyed as `moving_statistics` keys Keras's."""
    out = {}
    for key, value in stats.items():
        if isinstance(value, dict) and "moving_mean" in value:
            out.update({f"{key}/{n}": np.asarray(value[n]) for n in ("moving_mean", "moving_variance")})
        elif isinstance(value, dict):
            out.update(ours(value))
    return out


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow)
                                  for n in sorted(ARCHITECTURES)])
def test_application_converts_exactly(name, rng):
    model, x = build(name, rng)
    want = model.predict(x, verbose=0)
    module, variables = from_keras(model)
    apply = jax.jit(module.apply, static_argnames="training")
    close(apply(variables, x), want, f"{name} inference")

    back = to_keras(module, variables, (None, *x.shape[1:]))
    close(back.predict(x, verbose=0), want, f"{name} to_keras")

    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    module, variables = from_keras(model)
    out, updates = jax.jit(lambda v, x: module.apply(v, x, training=True, mutable=["batch_stats"]))(variables, x)
    want_train = np.asarray(model(x, training=True))  # updates Keras's moving statistics
    close(out, want_train, f"{name} training mode", TRAIN_TOL)
    expected = moving_statistics(model)
    got = ours(jax.device_get(updates.get("batch_stats", {})))
    assert set(got) == set(expected)
    for key in expected:
        close(got[key], expected[key], f"{name} {key} after one training step", TRAIN_TOL)
