"""Synchronised BatchNormalization: `axis_name=` makes a sharded batch's statistics the whole batch's.

Under `shard_map` over 4 CPU devices (a subprocess: the device count is fixed when JAX starts),
linen's and NNX's `BatchNormalization(axis_name="batch")` and `from_keras` of Keras's
`BatchNormalization(synchronized=True)` must give the outputs, moving statistics and
gradients of one unsharded call on the whole batch; without `axis_name` each shard uses its
own statistics (the bug this guards against), which the script checks differ.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import os
    os.environ["KERAS_BACKEND"] = "jax"
    import jax, jax.numpy as jnp, numpy as np, keras
    from flax import nnx
    from jax.sharding import PartitionSpec as P
    import jaxlayers.linen as L, jaxlayers.nnx as J
    from jaxlayers.keras import from_keras

    assert jax.device_count() == 4, jax.devices()
    mesh = jax.make_mesh((4,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
    rng = np.random.default_rng(0)
    # shards with very different statistics, so per-shard normalisation is far from the global one
    x = (rng.standard_normal((16, 5, 3)) * np.repeat([1, 3, 5, 7], 4)[:, None, None]
         + np.repeat([-4, 0, 2, 9], 4)[:, None, None]).astype(np.float32)
    tol = dict(rtol=2e-5, atol=2e-5)

    def sharded(f):
        return jax.jit(jax.shard_map(f, mesh=mesh, in_specs=P("batch"), out_specs=(P("batch"), P()),
                                     check_vma=False))

    def linen_case(bn):
        variables = bn.init(jax.random.key(0), x)
        def run(x):
            y, upd = bn.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
            return y, upd["batch_stats"]
        return variables, run

    # linen: outputs and moving statistics
    whole = L.BatchNormalization(momentum=0.8)
    variables, run_whole = linen_case(whole)
    y_ref, stats_ref = run_whole(x)
    _, run_sync = linen_case(L.BatchNormalization(momentum=0.8, axis_name="batch"))
    y, stats = sharded(run_sync)(x)
    np.testing.assert_allclose(y, y_ref, **tol)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **tol), stats, stats_ref)
    _, run_local = linen_case(L.BatchNormalization(momentum=0.8))
    y_local, _ = sharded(run_local)(x)
    assert np.abs(np.asarray(y_local) - np.asarray(y_ref)).max() > 0.5  # per-shard statistics differ

    # masked: the unmasked steps' statistics over every shard (shards masked unevenly, one fully)
    mask = rng.uniform(size=x.shape[:2]) > 0.3
    mask[4:8] = False
    def masked(axis_name):
        bn = L.BatchNormalization(momentum=0.8, axis_name=axis_name)
        def run(x, mask):
            y, upd = bn.apply(variables, x, mask=mask, use_running_average=False, mutable=["batch_stats"])
            return y, upd["batch_stats"]
        return run
    y_ref, stats_ref_masked = masked(None)(x, mask)
    y, stats = jax.jit(jax.shard_map(masked("batch"), mesh=mesh, in_specs=(P("batch"), P("batch")),
                                     out_specs=(P("batch"), P()), check_vma=False))(x, mask)
    np.testing.assert_allclose(y, y_ref, **tol)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **tol), stats, stats_ref_masked)
    y_ref, _ = run_whole(x)

    # linen: gradients w.r.t. the input and gamma/beta equal the unsharded call's
    w = rng.standard_normal(x.shape).astype(np.float32)  # a loss that weighs every output differently
    def loss(params, x, w, axis_name):
        bn = L.BatchNormalization(axis_name=axis_name)
        y, _ = bn.apply({"params": params, "batch_stats": variables["batch_stats"]}, x,
                        use_running_average=False, mutable=["batch_stats"])
        return jnp.sum(y * w)
    params = {"gamma": jnp.linspace(0.5, 2, 3), "beta": jnp.linspace(-1, 1, 3)}
    g_ref = jax.grad(loss, argnums=(0, 1))(params, x, w, None)
    def sharded_grad(params, x, w):  # each shard's loss; the cotangents meet through the pmean
        gp, gx = jax.grad(loss, argnums=(0, 1))(params, x, w, "batch")
        return gx, jax.lax.psum(gp, "batch")
    gx, gp = jax.jit(jax.shard_map(sharded_grad, mesh=mesh, in_specs=(P(), P("batch"), P("batch")),
                                   out_specs=(P("batch"), P()), check_vma=False))(params, x, w)
    np.testing.assert_allclose(gx, g_ref[1], **tol)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **tol), gp, g_ref[0])

    # NNX: the same, with the statistics updated in place
    bn = J.BatchNormalization(3, momentum=0.8, axis_name="batch", rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(bn)
    def run_nnx(state, x):
        m = nnx.merge(graphdef, state)
        y = m(x, use_running_average=False)
        return y, nnx.state(m, nnx.BatchStat)
    y_nnx, stats_nnx = jax.jit(jax.shard_map(run_nnx, mesh=mesh, in_specs=(P(), P("batch")),
                                             out_specs=(P("batch"), P()), check_vma=False))(state, x)
    np.testing.assert_allclose(y_nnx, y_ref, **tol)
    np.testing.assert_allclose(stats_nnx["moving_mean"][...], stats_ref["moving_mean"], **tol)
    np.testing.assert_allclose(stats_nnx["moving_variance"][...], stats_ref["moving_variance"], **tol)

    # from_keras: synchronized=True maps onto axis_name; Keras's own call on the whole batch is the oracle
    keras_model = keras.Sequential([keras.Input((5, 3)), keras.layers.BatchNormalization(momentum=0.8)])
    keras_model.set_weights([rng.standard_normal(w.shape).astype(np.float32) ** 2 for w in keras_model.weights])
    bn = keras_model.layers[0]
    # Keras on JAX refuses synchronized=True (when made, and in its call); a model saved by
    # TensorFlow-Keras carries it: set it for the conversion, unset it for Keras's own call
    bn.synchronized = True
    assert bn.get_config()["synchronized"] is True
    module, kvars = from_keras(keras_model, axis_name="batch")
    bn.synchronized = False
    want = np.asarray(keras_model(x, training=True))  # the whole batch's statistics; updates Keras's
    bn.synchronized = True
    def run_keras(x):
        y, upd = module.apply(kvars, x, training=True, mutable=["batch_stats"])
        return y, upd["batch_stats"]
    y_k, stats_k = sharded(run_keras)(x)
    np.testing.assert_allclose(y_k, want, **tol)
    np.testing.assert_allclose(stats_k[bn.name]["moving_mean"], np.asarray(bn.moving_mean), **tol)
    np.testing.assert_allclose(stats_k[bn.name]["moving_variance"], np.asarray(bn.moving_variance), **tol)
    graph = from_keras(keras_model, api="nnx", axis_name="batch")
    assert graph.layers[0].axis_name == "batch"
    try:
        from_keras(keras_model)
    except ValueError as e:
        assert "synchronized" in str(e) and "axis_name" in str(e), e
    else:
        raise AssertionError("synchronized=True without axis_name was accepted")
    print("OK")
''')


def test_synchronised_batch_normalization_over_four_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               KERAS_BACKEND="jax")
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("OK"), run.stdout[-3000:] + run.stderr[-6000:]
