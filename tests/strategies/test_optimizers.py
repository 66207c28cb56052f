import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from strategy_helpers import snapshot
from strategy_helpers import tiny_data
from strategy_helpers import tiny_model

import tlkeras
from tlkeras.callbacks import GradualUnfreezing
from tlkeras.callbacks import LearningRateLogger
from tlkeras.errors import ConfigurationError
from tlkeras.optimizers import LayerwiseOptimizer
from tlkeras.optimizers import SlantedTriangular
from tlkeras.optimizers import group_multipliers
from tlkeras.optimizers import layerwise


def _numpy(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


def test_decay_divides_each_lower_backbone_group():
    model = tiny_model()
    assert group_multipliers(model, decay=2.0) == [0.125, 0.25, 0.5, 1.0, 1.0]
    assert group_multipliers(model, multipliers=[1, 2, 3, 4, 5]) == [1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.tensorflow_only("computes the reference gradient with tf.GradientTape")
@pytest.mark.parametrize("weight_decay", [None, 0.1])
def test_sgd_update_of_each_group_is_its_rate_times_its_gradient(weight_decay):
    model = tiny_model()
    rate, factors = 0.1, group_multipliers(model, decay=2.0)
    sgd = keras.optimizers.SGD(rate, weight_decay=weight_decay)
    model.compile(
        optimizer=layerwise(sgd, model, decay=2.0), loss="sparse_categorical_crossentropy"
    )
    x, y = tiny_data(n=8)
    groups = [[v for layer in g for v in layer.trainable_weights] for g in model.layer_groups]
    before = [snapshot(vs) for vs in groups]
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
        loss = keras.ops.mean(loss)
    flat = [v for vs in groups for v in vs]
    gradients = iter(_numpy(tape.gradient(loss, flat)))
    model.train_on_batch(x, y)
    for variables, old, factor in zip(groups, before, factors, strict=True):
        for variable, value in zip(variables, old, strict=True):
            gradient = next(gradients)
            expected = value - rate * factor * gradient
            if weight_decay:
                expected = expected - rate * factor * weight_decay * value
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(variable), expected, rtol=1e-5, atol=1e-7
            )


def test_schedule_is_shared_and_logged_per_group():
    model = tiny_model()
    model.freeze(2)
    schedule = SlantedTriangular(1e-2, total_steps=6, cut_fraction=0.5)
    optimizer = layerwise(keras.optimizers.Adam(schedule), model, decay=2.0)
    model.compile(optimizer=optimizer)
    x, y = tiny_data()
    history = model.fit(
        x, y, epochs=3, batch_size=8, verbose=0, callbacks=[LearningRateLogger()]
    )  # fmt: skip
    steps = np.array([2, 4, 6])
    expected = [float(schedule(s)) for s in steps]
    np.testing.assert_allclose(history.history["lr"], expected, rtol=1e-6)
    np.testing.assert_allclose(history.history["lr_group_2"], np.array(expected) * 0.5, rtol=1e-6)
    np.testing.assert_allclose(history.history["lr_group_4"], expected, rtol=1e-6)
    assert history.history["lr_group_0"] == [0.0, 0.0, 0.0]  # frozen
    assert int(optimizer.iterations) == 6


def test_works_with_gradual_unfreezing_and_keras_lr_callbacks():
    model = tiny_model()
    model.freeze()
    model.compile(optimizer=layerwise(keras.optimizers.SGD(0.1), model, decay=2.0))
    x, y = tiny_data()
    history = model.fit(
        x,
        y,
        epochs=2,
        batch_size=8,
        verbose=0,
        callbacks=[
            GradualUnfreezing(schedule={0: 2, 1: 3}),
            keras.callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1)),
            LearningRateLogger(),
        ],
    )
    assert history.history["lr_group_2"] == [0.0, pytest.approx(0.025)]
    assert history.history["lr_group_3"] == [pytest.approx(0.1), pytest.approx(0.05)]


def test_keras_file_round_trip_keeps_factors_and_optimizer_state(tmp_path):
    model = tiny_model()
    model.compile(optimizer=layerwise(keras.optimizers.Adam(1e-2), model, decay=2.0))
    x, y = tiny_data()
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, LayerwiseOptimizer)
    assert loaded.optimizer.multipliers == model.optimizer.multipliers
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-6, atol=1e-7
        )


def test_slanted_triangular_rises_then_falls():
    schedule = SlantedTriangular(1.0, total_steps=100, cut_fraction=0.1, ratio=32)
    values = [float(schedule(step)) for step in (0, 5, 10, 55, 100, 200)]
    np.testing.assert_allclose(
        values, [1 / 32, (1 + 0.5 * 31) / 32, 1.0, (1 + 0.5 * 31) / 32, 1 / 32, 1 / 32], rtol=1e-6
    )
    assert (
        SlantedTriangular.from_config(schedule.get_config()).get_config() == schedule.get_config()
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"decay": 0.5}, "Received: decay=0.5"),
        ({"decay": "2.6"}, "Received: decay='2.6'"),
        ({"multipliers": [1.0, 1.0]}, r"Received: len\(multipliers\)=2"),
        ({"multipliers": [1.0, 1.0, -1.0, 1.0, 1.0]}, r"Received: multipliers\[2\]=-1.0"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        layerwise("sgd", tiny_model(), **kwargs)


def test_bad_schedule_and_model_are_refused():
    with pytest.raises(ConfigurationError, match="Received: total_steps=0"):
        SlantedTriangular(1e-3, total_steps=0)
    with pytest.raises(ConfigurationError, match="Received: cut_fraction=1.5"):
        SlantedTriangular(1e-3, total_steps=10, cut_fraction=1.5)
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ConfigurationError, match="Received: model of type Sequential"):
        layerwise("sgd", plain)
    assert tlkeras.optimizers.layerwise is layerwise
