"""A tiny CNN backbone shared by the spine tests: fast, with BatchNorm."""

import keras


def tiny_cnn(input_shape=(16, 16, 3), weights=None, **kwargs):
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem_conv")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="stage1_conv")(x)
    x = keras.layers.BatchNormalization(name="stage1_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="stage2_conv")(x)
    return keras.Model(inputs, x, name="tiny_cnn")


tiny_cnn.modality = "image"
