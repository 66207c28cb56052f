"""Runs for the resume tests; `python resume_helpers.py FOLDER KILL_AT` is the run a test SIGKILLs."""

import os
import signal
import sys

import keras
import numpy as np

import tlkeras
from tlkeras.callbacks import GradualUnfreezing
from tlkeras.callbacks import ResumableTraining

EPOCHS = 4
BATCHES_PER_EPOCH = 4
BATCH_SIZE = 8


class Interrupt(keras.callbacks.Callback):
    """Stops the process after `at` train batches: SIGKILL, or an exception in-process."""

    def __init__(self, at, kill=False):
        super().__init__()
        self.at, self.kill, self.seen = at, kill, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            if self.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise KeyboardInterrupt(f"interrupted after {self.seen} batches")


def unfreezing_run(folder, interrupt=None):
    """GradualUnfreezing + layer-wise Adam, checkpointing every 3 batches and every epoch."""
    model = mlp_model(dropout=0.3).freeze()
    adam = keras.optimizers.Adam(1e-2)
    model.compile(optimizer=tlkeras.optimizers.layerwise(adam, model, decay=2.0))
    x, y = mlp_data(n=BATCH_SIZE * BATCHES_PER_EPOCH)
    callbacks = [GradualUnfreezing(every=1), ResumableTraining(folder, save_freq=3)]
    history = model.fit(
        x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=False, verbose=0,
        callbacks=callbacks + ([interrupt] if interrupt else []),
    )  # fmt: skip
    return model, history


def state(model):
    """Every variable (weights, seed generators) and optimizer variable, as NumPy arrays."""
    variables = model.variables + model.optimizer.variables
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def max_difference(a, b):
    return max(float(np.max(np.abs(u - w), initial=0.0)) for u, w in zip(a, b, strict=True))


def mlp_model(bottleneck=4, seed=0, dropout=0.0):
    """build() over a 2-layer MLP backbone (3 features in, 2 classes)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,), name="x")
    x = keras.layers.Dense(8, activation="relu", name="dense_a")(inputs)
    x = keras.layers.Dense(8, activation="relu", name="dense_b")(x)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x, name="mlp"), modality="other")
    return tlkeras.build(
        backbone, num_classes=2, bottleneck=bottleneck, dropout=dropout, freeze=False, compile=False
    )


def mlp_data(n=32, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, size=(n, 3)).astype("float32")
    return x, (x[:, 0] > shift).astype("int32")


if __name__ == "__main__":
    unfreezing_run(sys.argv[1], Interrupt(int(sys.argv[2]), kill=True))
