"""adapt_batchnorm (AdaBN): target statistics in the BatchNorm layers, nothing else moves."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tlkeras
from tlkeras.domain import adapt
from tlkeras.domain import adapt_batchnorm
from tlkeras.errors import ConfigurationError


def linear_model(seed=0, backbone_batchnorm=False, freeze=False):
    """Linear backbone, so a constant input shift reaches the bottleneck's BatchNorm intact."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,), name="x")
    x = keras.layers.Dense(8, name="linear")(inputs)
    if backbone_batchnorm:
        x = keras.layers.BatchNormalization(name="backbone_bn")(x)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x, name="lin"), modality="other")
    return tlkeras.build(backbone, num_classes=2, bottleneck=8, freeze=freeze, compile=False)


def shifted_domains(n=256, shift=3.0):
    rng = np.random.default_rng(0)
    x_source = rng.normal(size=(n, 4)).astype("float32")
    y_source = (x_source[:, 0] + x_source[:, 1] > 0).astype("int32")
    x_target = rng.normal(size=(n, 4)).astype("float32")
    y_target = (x_target[:, 0] + x_target[:, 1] > 0).astype("int32")
    # A covariate shift: the same labelling rule, every target input moved by a constant.
    return x_source, y_source, x_target + shift, y_target


def _accuracy(model, x, y):
    return float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))


def test_target_statistics_undo_a_constant_input_shift():
    x_source, y_source, x_target, y_target = shifted_domains()
    model = linear_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x_source, y_source, epochs=20, batch_size=32, verbose=0)
    assert _accuracy(model, x_source, y_source) > 0.9
    before = _accuracy(model, x_target, y_target)
    adapt_batchnorm(model, x_target, batch_size=64)
    after = _accuracy(model, x_target, y_target)
    assert before < 0.75  # the shift hurts with source statistics
    assert after > 0.9  # and target statistics remove it: no label, no training


def test_moving_statistics_become_the_targets_and_no_weight_moves():
    _, _, x_target, _ = shifted_domains(n=128)
    model = linear_model(seed=1)
    weights = {v.path: np.array(v) for v in model.trainable_variables}
    adapt_batchnorm(model, x_target, batch_size=32)  # four equal batches: the mean is exact

    dense, batch_norm = model.get_layer("bottleneck").blocks[0][:2]
    activations = np.asarray(dense(model.get_layer("lin")(x_target)))
    np.testing.assert_allclose(batch_norm.moving_mean, activations.mean(0), rtol=1e-4, atol=1e-4)
    for path, value in weights.items():
        np.testing.assert_array_equal(
            [np.array(v) for v in model.trainable_variables if v.path == path][0], value
        )


def test_frozen_batchnorm_keeps_its_statistics_and_wrapper_is_accepted():
    _, _, x_target, _ = shifted_domains(n=64)
    model = linear_model(backbone_batchnorm=True, freeze=True)
    frozen = model.get_layer("lin").get_layer("backbone_bn")
    bottleneck_bn = model.get_layer("bottleneck").blocks[0][1]
    frozen_mean = np.array(frozen.moving_mean)
    adapted_mean = np.array(bottleneck_bn.moving_mean)
    adapt_batchnorm(adapt(model, method="dann"), x_target)
    np.testing.assert_array_equal(frozen.moving_mean, frozen_mean)
    assert not np.allclose(bottleneck_bn.moving_mean, adapted_mean)


def test_dataset_input_and_a_failing_batch_restores_every_statistic():
    _, _, x_target, _ = shifted_domains(n=64)
    model = linear_model(seed=2)
    batch_norm = model.get_layer("bottleneck").blocks[0][1]
    adapt_batchnorm(model, tf.data.Dataset.from_tensor_slices(x_target).batch(16))
    assert not np.allclose(batch_norm.moving_mean, 0.0)
    kept = np.array(batch_norm.moving_mean), np.array(batch_norm.moving_variance)

    def batches():
        yield x_target[:16]
        yield np.zeros((16, 5), "float32")  # wrong width: the model raises here

    broken = tf.data.Dataset.from_generator(
        batches, output_signature=tf.TensorSpec((None, None), tf.float32)
    )
    with pytest.raises(Exception):  # noqa: B017 - whatever the backend raises for the shape
        adapt_batchnorm(model, broken)
    np.testing.assert_array_equal(batch_norm.moving_mean, kept[0])
    np.testing.assert_array_equal(batch_norm.moving_variance, kept[1])


def test_errors_name_the_bad_value():
    model = linear_model()
    with pytest.raises(ConfigurationError, match="Received: batch_size=0"):
        adapt_batchnorm(model, np.zeros((4, 4), "float32"), batch_size=0)
    with pytest.raises(ConfigurationError, match="Received: x_target with 0 examples"):
        adapt_batchnorm(model, np.zeros((0, 4), "float32"))
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="plain")
    with pytest.raises(ConfigurationError, match="'plain' has no trainable BatchNormalization"):
        adapt_batchnorm(plain, np.zeros((4, 4), "float32"))
