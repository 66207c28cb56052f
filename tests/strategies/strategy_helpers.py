"""Tiny models for the strategy tests: seconds per fit on two CPU cores."""

import keras
import numpy as np

import tlkeras

NUM_CLASSES = 3


def tiny_backbone(name="tiny"):
    """Conv -> BN at 8x8, 4x4 and 2x2: three layer groups, BatchNorm in each."""
    inputs = keras.Input((8, 8, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.Activation("relu", name="relu_a")(x)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="depthwise_c")(x)
    x = keras.layers.Conv2D(6, 1, name="conv_c")(x)
    x = keras.layers.BatchNormalization(name="bn_c")(x)
    return tlkeras.Backbone.from_model(keras.Model(inputs, x, name=name))


def tiny_model(**kwargs):
    """A TransferModel: 3 backbone groups, a bottleneck group and a head group."""
    keras.utils.set_random_seed(0)
    kwargs.setdefault("num_classes", NUM_CLASSES)
    kwargs.setdefault("bottleneck", 5)
    kwargs.setdefault("freeze", False)
    return tlkeras.build(tiny_backbone(), **kwargs)


def tiny_data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 3)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=(n,))
    return x, y


def snapshot(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def changed(variables, before):
    """For each variable: whether it differs from its snapshot at all."""
    return [
        not np.array_equal(b, keras.ops.convert_to_numpy(v))
        for v, b in zip(variables, before, strict=True)
    ]


def group_weights(model):
    """All variables (incl. BatchNorm statistics) of each layer group."""
    return [[v for layer in group for v in layer.weights] for group in model.layer_groups]
