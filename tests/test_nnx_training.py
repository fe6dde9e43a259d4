"""`--api nnx`: the NNX autoencoders train exactly like the linen ones on the same weights."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlayers
from experiments.keras_compat import make_optimizer
from experiments.models import build_model
from experiments.step import init_state, make_train_step


# the default run trains one variant (test_nnx.py checks every variant's forward pass equals linen's)
@pytest.mark.parametrize("variant", ["upsample", pytest.param("transpose", marks=pytest.mark.slow),
                                     pytest.param("unpool", marks=pytest.mark.slow)])
def test_nnx_model_trains_like_linen_on_the_same_weights(variant, rng):
    linen, nnx_model = build_model(variant), build_model(variant, api="nnx")
    x = jnp.asarray(rng.uniform(size=(3, 32, 28, 28, 1)), jnp.float32)
    optimizer = make_optimizer("adam", 1e-3)

    state = init_state(linen, optimizer, jax.random.key(1))
    nnx_params = nnx_model.init(jax.random.key(2), x[0])["params"]
    assert jax.tree.map(jnp.shape, nnx_params) == jax.tree.map(jnp.shape, state.params)
    assert jaxlayers.count_params(nnx_params) == 3369

    np.testing.assert_allclose(nnx_model.apply({"params": state.params}, x[0]),
                               linen.apply({"params": state.params}, x[0]), atol=1e-6)
    steps = {m: make_train_step(m, optimizer, donate=False) for m in (linen, nnx_model)}
    states = {m: state for m in steps}
    for batch in x:
        losses = {}
        for m, step in steps.items():
            states[m], out = step(states[m], batch)
            losses[m] = float(out["loss"])
        assert losses[linen] == pytest.approx(losses[nnx_model], abs=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5),
                 states[linen].params, states[nnx_model].params)


def test_nnx_summary_matches_linen():
    for variant in ("upsample", "transpose"):
        linen = jaxlayers.summary(build_model(variant), (None, 28, 28, 1))
        nnx = jaxlayers.summary(build_model(variant, api="nnx").module, (None, 28, 28, 1))
        assert [(r.type, r.output_shape, r.params) for r in nnx.rows] == \
               [(r.type, r.output_shape, r.params) for r in linen.rows]
        assert nnx.total_params == linen.total_params == 3369


def test_unknown_api_is_refused():
    with pytest.raises(ValueError, match="api must be one of"):
        build_model("upsample", api="haiku")
