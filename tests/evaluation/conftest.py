"""Tiny models and data for the evaluation tests: a 16x16 CNN on sklearn digits."""

import keras
import numpy as np
import pytest

import tlkeras

TINY = "tiny_eval_cnn"


def tiny_eval_cnn(input_shape=(16, 16, 3), weights=None, **kwargs):
    """Two conv stages with BatchNorm; `weights="ones"` stands in for pretrained weights."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 16)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem_conv")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stage1_conv")(x)
    x = keras.layers.ReLU(name="stage1_relu")(x)
    model = keras.Model(inputs, x, name="tiny_eval_cnn")
    if weights is not None:
        return tlkeras.Backbone.from_model(model, weights_source=str(weights))
    return model


@pytest.fixture(scope="session", autouse=True)
def tiny_backbone():
    tlkeras.register_backbone(TINY, modality="image")(tiny_eval_cnn)
    yield TINY
    tlkeras.unregister_backbone(TINY)


@pytest.fixture(scope="session")
def digits():
    """sklearn's bundled digits (offline): 8x8 upscaled to 16x16 RGB, 3 classes, int labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = data.target < 3
    images = data.images[keep].repeat(2, axis=1).repeat(2, axis=2)
    x = np.repeat(images[..., None], 3, axis=-1).astype("float32")
    y = data.target[keep].astype("int64")
    return x[:240], y[:240], x[240:360], y[240:360]
