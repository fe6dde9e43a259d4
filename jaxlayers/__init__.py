"""jaxlayers: Keras-exact layers as pure JAX functions and Flax modules.

- `jaxlayers.functional`: pure ops on `jax.lax` (conv, pooling, upsampling, ...)
- `jaxlayers.linen`: Flax linen modules named and argued like Keras layers
- `jaxlayers.nnx`: their Flax NNX twins (`from jaxlayers import nnx`; not imported here)
- `jaxlayers.shapes`: output shapes and receptive fields without allocation
- `jaxlayers.padding`: every padding rule ("valid", "same", "causal", explicit, transposed)
- `jaxlayers.keras`: Keras 3 models in and out (`from_keras`, `to_keras`)
- `jaxlayers.activations`, `jaxlayers.initializers`: Keras's names as JAX functions
- `count_params`, `summary`: parameter counts and a Keras-style summary table
"""
from jaxlayers import functional, linen, shapes
from jaxlayers.summary import Summary, count_params, summary

__all__ = ["Summary", "count_params", "functional", "linen", "shapes", "summary"]
__version__ = "0.1.0"
