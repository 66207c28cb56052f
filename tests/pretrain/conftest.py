import keras
import numpy as np
import pytest

import tlkeras


def tiny_backbone(input_shape=(12, 12, 1), seed=0):
    """A two-conv backbone with BatchNorm: milliseconds per step."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv0")(x)
    x = keras.layers.BatchNormalization(name="bn0")(x)
    x = keras.layers.ReLU(name="relu0")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv1")(x)
    return tlkeras.Backbone(inputs=inputs, outputs=x, modality="image", name="tiny")


@pytest.fixture
def images():
    """48 grey 12x12 images with structure (bright squares at random places), uint8."""
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 40, size=(48, 12, 12)).astype("uint8")
    for image, (row, col) in zip(batch, rng.integers(0, 8, size=(48, 2)), strict=True):
        image[row : row + 4, col : col + 4] = 230
    return batch
