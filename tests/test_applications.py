"""Every `keras.applications` architecture converts and runs as Keras runs it.

Each model is built with `weights=None` (Keras's seeded random weights), random
BatchNormalization statistics and random adapted Normalization weights, at a small input;
`from_keras` must give `predict`'s logits to 1e-4 of their scale, a training-mode call the
same outputs and moving statistics as Keras's own training-mode call (Dropout rates set to 0
on both sides: its masks are tested elsewhere), and `to_keras` a model that predicts the same.
The default run covers a few small models holding every kind of layer the applications add;
the rest are marked `slow` (`python -m benchmarks.application_errors NAME` prints one's errors).
"""
from __future__ import annotations

import jax
import keras
import numpy as np
import pytest

from jaxlayers.keras import from_keras, to_keras

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
    """The model with random statistics, and a batch of inputs in its expected range (0..255).

    The moving BatchNormalization statistics are those of one training-mode pass over another
    random batch, the variance raised by its mean over the layer's channels, then perturbed (the
    mean by 0.1 of the deviation, the variance by up to 25%). Statistics drawn at random outright
    leave the deep EfficientNets chaotic at inference: on images of noise, deep channels hardly vary
    across a batch, and dividing by a small variance that is not theirs amplifies every rounding
    (EfficientNetV2M's Keras output moved by 0.19 of its scale for input noise of 1e-13, in float64).
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    size, extra = ARCHITECTURES[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=CLASSES,
                                              classifier_activation=None, **extra)
    layers = list(model._flatten_layers(include_self=False))
    for layer in layers:
        if isinstance(layer, keras.layers.Normalization) and layer.weights:  # adapted: mean, variance, count
            mean, variance = layer.weights[:2]
            mean.assign(rng.uniform(50, 200, mean.shape).astype(np.float32))
            variance.assign(rng.uniform(1e3, 5e3, variance.shape).astype(np.float32))
            layer.finalize_state()  # Keras normalises with what finalize_state computes from these
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    if norms:
        drops = {layer: layer.rate for layer in layers if isinstance(layer, keras.layers.Dropout)}
        momenta = {layer: layer.momentum for layer in norms}
        for layer in drops:
            layer.rate = 0.0
        for layer in norms:
            layer.momentum = 0.0
        model(rng.uniform(0, 255, (8, size, size, 3)).astype(np.float32), training=True)  # stats := the batch's
        for layer, rate in drops.items():
            layer.rate = rate
        for layer in norms:
            layer.momentum = momenta[layer]
            variance = np.asarray(layer.moving_variance)
            variance = variance + variance.mean()
            mean = np.asarray(layer.moving_mean) + rng.normal(0, 0.1, variance.shape) * np.sqrt(variance)
            layer.moving_mean.assign(mean.astype(np.float32))
            layer.moving_variance.assign((variance * rng.uniform(0.8, 1.25, variance.shape)).astype(np.float32))
    x = rng.uniform(0, 255, (8, size, size, 3)).astype(np.float32)  # 8: batch statistics of several values
    return model, x


def error(got, want) -> float:
    """The maximum error relative to the expected output's scale."""
    got, want = np.asarray(got), np.asarray(want)
    return float(np.abs(got - want).max()) / max(float(np.abs(want).max()), 1e-6)


# Training mode normalises by the batch's statistics, of 8 images at a few cells per channel deep
# in a network: float32 rounding (the two sides sum in other orders) is amplified where a channel's
# batch variance is small, to ~1e-4 of the scale at the output of 50 such layers (ResNet50) and to
# ~1e-3 in the deepest EfficientNets and ResNets, where Keras's own output moves as much for input
# noise of 1e-7.
# So training mode is held to 1e-3, or to 5 times that noise of Keras's own where larger, and the
# noise itself to 1e-2 (ResNet152's is 3.9e-3), so the limit stays under 5e-2: a wrong statistic or
# formula (the unbiased variance of 8 values, say, off by 1/8) is off by more.
TRAIN_TOL = 1e-3
NOISE_LIMIT = 1e-2


def keras_noise(model: keras.Model, x: np.ndarray, rng: np.random.Generator) -> float:
    """How far Keras's own training-mode output moves, relative to its scale, for input noise of 1e-7 (relative);
    by stateless calls, which leave the model's moving statistics as they are."""
    trainable = [v.value for v in model.trainable_variables]
    other = [v.value for v in model.non_trainable_variables]
    noisy = (x * (1 + 1e-7 * rng.standard_normal(x.shape))).astype(np.float32)
    clean = model.stateless_call(trainable, other, x, training=True)[0]
    return error(model.stateless_call(trainable, other, noisy, training=True)[0], clean)


def errors(name: str, rng: np.random.Generator) -> dict[str, float]:
    """The maximum errors of each check, relative to the output's scale: `inference` (against `predict`),
    `to_keras` (the converted model back in Keras), `training` (a training-mode call), `statistics` (the moving
    statistics after it, the worst layer), and `noise` (`keras_noise`, which sets training's limit)."""
    model, x = build(name, rng)
    want = model.predict(x, verbose=0)
    module, variables = from_keras(model)
    found = {"inference": error(jax.jit(module.apply)(variables, x), want)}
    back = to_keras(module, variables, (None, *x.shape[1:]))
    found["to_keras"] = error(back.predict(x, verbose=0), want)

    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    module, variables = from_keras(model)
    out, updates = jax.jit(lambda v, x: module.apply(v, x, training=True, mutable=["batch_stats"]))(variables, x)
    found["noise"] = keras_noise(model, x, rng)
    found["training"] = error(out, model(x, training=True))  # updates Keras's moving statistics
    expected = moving_statistics(model)
    got = ours(jax.device_get(updates.get("batch_stats", {})))
    assert set(got) == set(expected), f"{name}: the moving statistics differ in names"
    found["statistics"] = max((error(got[k], expected[k]) for k in expected), default=0.0)
    return found


def limits(found: dict[str, float]) -> dict[str, float]:
    """Each check's limit: 1e-4 for inference and to_keras, `TRAIN_TOL` (or 5x Keras's own noise) for training."""
    return {"inference": 1e-4, "to_keras": 1e-4, "training": max(TRAIN_TOL, 5 * found["noise"]),
            "statistics": TRAIN_TOL, "noise": NOISE_LIMIT}


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
    found = errors(name, rng)
    over = {check: f"{value:.2e} > {limits(found)[check]:.0e}" for check, value in found.items()
            if not value <= limits(found)[check]}
    assert not over, f"{name}: max errors relative to the output's scale: {over}"


def test_noise_sets_the_training_limit(rng):
    """`keras_noise` is Keras's own sensitivity: zero for no noise would be a bug; it leaves the statistics alone."""
    model, x = build("MobileNetV3Small", rng)
    before = moving_statistics(model)
    noise = keras_noise(model, x, rng)
    assert 0 < noise < NOISE_LIMIT
    after = moving_statistics(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)
