"""The tiny backbone of the evaluation tests (importable by name from any test)."""

import keras

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
