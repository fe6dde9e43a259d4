"""The Keras tutorial's autoencoders and the RNN guide's classifier, trained with jaxlayers
(run from the checkout, not installed).

- `autoencoder`: the CLI (`python -m experiments.autoencoder`); `config`: `TrainConfig`.
- `models`, `models_nnx`: the three autoencoders in linen and NNX.
- `keras_compat`: Keras's binary cross-entropy, Adam and Adadelta; `step`: the training step.
- `loop`: the epoch loop on a device mesh; `train`: a whole run; `checkpoint`: orbax checkpoints.
- `data`, `png`: MNIST and its offline stand-in; `outputs`: metrics.json and the PNGs.
- `shapes`: the tutorial's shape walk-throughs.
- `rnn`: the Keras RNN guide's MNIST classifier (`python -m experiments.rnn`), on the same data,
  optimizers, checkpoints and outputs; `rnn_model`: its model (LSTM/GRU/SimpleRNN -> BatchNormalization -> Dense).
"""
