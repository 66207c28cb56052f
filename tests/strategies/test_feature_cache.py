import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from strategy_helpers import tiny_backbone
from strategy_helpers import tiny_data

import tlkeras
from tlkeras.callbacks import GradualUnfreezing
from tlkeras.errors import ConfigurationError
from tlkeras.feature_cache import split_model


class ExampleCounter(keras.layers.Layer):
    """Counts the examples that pass through it, in a variable (works inside tf.function)."""

    def build(self, input_shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, x):
        self.count.assign_add(keras.ops.cast(keras.ops.shape(x)[0], "float32"))
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


def counting_model(extra_layer=None):
    keras.utils.set_random_seed(0)
    trunk = tiny_backbone()
    x = ExampleCounter(name="counter")(trunk.output)
    if extra_layer is not None:
        x = extra_layer(x)
    backbone = tlkeras.Backbone.from_model(keras.Model(trunk.input, x))
    return tlkeras.build(backbone, num_classes=3, bottleneck=5, strategy="feature_extraction")


def _count(model):
    return int(model.backbone.get_layer("counter").count.numpy())


def _fit_both(epochs=5):
    x, y = tiny_data(n=16)
    val = tiny_data(n=8, seed=1)
    runs = {}
    for cache in (False, True):
        model = counting_model()
        history = model.fit(
            x, y, epochs=epochs, batch_size=4, shuffle=False, verbose=0,
            validation_data=val, cache_features=cache,
        )  # fmt: skip
        runs[cache] = (model, history)
    return runs


def _assert_same_training(runs):
    (plain, plain_history), (cached, cached_history) = runs[False], runs[True]
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(
            cached_history.history[key], plain_history.history[key], rtol=1e-5
        )
    for a, b in zip(cached.weights, plain.weights, strict=True):
        if a.path.endswith("count"):
            continue
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6
        )


def test_cached_run_matches_the_plain_run_and_runs_the_backbone_once_per_example():
    runs = _fit_both(epochs=5)
    _assert_same_training(runs)
    # 16 training + 8 validation examples: once each, against once per epoch.
    assert _count(runs[True][0]) == 16 + 8
    assert _count(runs[False][0]) == 5 * (16 + 8)
    assert int(runs[True][0].optimizer.iterations) == int(runs[False][0].optimizer.iterations) == 20


def test_memmap_cache_on_disk_matches_and_is_cleaned_up(tmp_path):
    x, y = tiny_data(n=16)
    val = tiny_data(n=8, seed=1)
    plain = counting_model()
    expected = plain.fit(
        x, y, epochs=3, batch_size=4, shuffle=False, verbose=0, validation_data=val
    )
    cached = counting_model()
    history = cached.fit(
        x, y, epochs=3, batch_size=4, shuffle=False, verbose=0, validation_data=val,
        cache_features=str(tmp_path / "cache"),
    )  # fmt: skip
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(history.history["val_loss"], expected.history["val_loss"], rtol=1e-5)
    assert _count(cached) == 24
    assert os.listdir(tmp_path / "cache") == []


@pytest.mark.xfail(
    keras.backend.backend() == "jax",
    strict=True,
    reason="the feature cache hands tf.data tensors to a JAX predict(), which refuses them",
)
def test_tf_data_input_is_cached_in_one_pass():
    x, y = tiny_data(n=16)
    plain = counting_model()
    expected = plain.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    cached = counting_model()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    history = cached.fit(dataset, epochs=3, shuffle=False, verbose=0, cache_features=True)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-5)
    assert _count(cached) == 16


def test_validation_split_and_early_stopping_work_on_the_full_model():
    x, y = tiny_data(n=16)
    plain = counting_model()
    expected = plain.fit(
        x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, validation_split=0.25
    )
    cached = counting_model()
    history = cached.fit(
        x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, validation_split=0.25,
        cache_features=True,
    )  # fmt: skip
    np.testing.assert_allclose(history.history["val_loss"], expected.history["val_loss"], rtol=1e-5)
    stopper = keras.callbacks.EarlyStopping(monitor="loss", min_delta=100.0, patience=0)
    stopped = counting_model().fit(
        x, y, epochs=10, batch_size=4, verbose=0, callbacks=[stopper], cache_features=True
    )
    assert len(stopped.history["loss"]) == 2
    assert stopper.model.name.endswith("_transfer")  # callbacks see the full model


def test_refuses_when_the_backbone_could_change():
    x, y = tiny_data(n=8)
    model = counting_model()
    model.configure("partial")
    with pytest.raises(ConfigurationError, match="these backbone weights train: \\['bn_c/beta'"):
        model.fit(x, y, verbose=0, cache_features=True)
    model.configure("feature_extraction")
    with pytest.raises(ConfigurationError, match="Received: callbacks with GradualUnfreezing"):
        model.fit(x, y, verbose=0, cache_features=True, callbacks=[GradualUnfreezing()])
    noisy = counting_model(extra_layer=keras.layers.Dropout(0.5, name="trunk_dropout"))
    with pytest.raises(
        ConfigurationError, match="act differently in training: \\['trunk_dropout'\\]"
    ):
        noisy.fit(x, y, verbose=0, cache_features=True)


def test_pooled_features_are_cached_when_every_head_reads_them():
    extractor, top = split_model(counting_model())
    assert tuple(extractor.output.shape) == (None, 6)  # conv_c channels, not 2x2x6 maps
    assert [layer.name for layer in top.layers[1:]] == ["bottleneck", "head"]


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_batch_level_callbacks_still_see_every_batch():
    x, y = tiny_data(n=16)
    counter = BatchCounter()
    counting_model().fit(
        x, y, epochs=3, batch_size=4, verbose=0, callbacks=[counter], cache_features=True
    )
    assert counter.batches == 3 * 4
