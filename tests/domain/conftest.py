import keras
import numpy as np
import pytest

import tlkeras


def tiny_model(seed=0, width=8, bottleneck=4, num_classes=2):
    """build() over a 2-layer MLP backbone: fast enough for many small fits."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,), name="x")
    x = keras.layers.Dense(width, activation="relu", name="dense_a")(inputs)
    x = keras.layers.Dense(width, activation="relu", name="dense_b")(x)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x, name="mlp"), modality="other")
    return tlkeras.build(
        backbone, num_classes=num_classes, bottleneck=bottleneck, freeze=False, compile=False
    )


@pytest.fixture
def make_model():
    return tiny_model


@pytest.fixture
def domains():
    rng = np.random.default_rng(0)
    x_source = rng.normal(-1.0, 1.0, size=(64, 3)).astype("float32")
    y_source = (x_source[:, 0] > -1.0).astype("int32")
    x_target = rng.normal(1.0, 1.0, size=(64, 3)).astype("float32")
    y_target = (x_target[:, 0] > 1.0).astype("int32")
    return x_source, y_source, x_target, y_target
