"""A tiny image backbone shared by the pre-training tests."""

import keras

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
