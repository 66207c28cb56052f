import keras
import numpy as np
import pytest
import tensorflow as tf

from tlkeras.layers import GradientReversal


def _gradient(layer, x, upstream):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(layer(x) * upstream)
    return tape.gradient(y, x).numpy()


@pytest.mark.tensorflow_only("checks the gradient with tf.GradientTape")
@pytest.mark.parametrize("factor", [0.0, 0.3, 1.0, 2.5])
def test_gradient_is_minus_factor_times_identity_gradient(factor):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype("float32")
    upstream = rng.normal(size=(4, 3)).astype("float32")
    layer = GradientReversal(factor)
    identity = keras.layers.Identity()

    assert np.array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    np.testing.assert_allclose(
        _gradient(layer, x, upstream), -factor * _gradient(identity, x, upstream), rtol=1e-6
    )


@pytest.mark.tensorflow_only("counts tf.function traces")
def test_factor_change_takes_effect_in_a_traced_function_without_retracing():
    layer = GradientReversal(1.0)
    x = tf.ones((2, 2))
    traces = []

    @tf.function
    def gradient(x):
        traces.append(1)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x))
        return tape.gradient(y, x)

    assert np.allclose(gradient(x), -1.0)
    layer.factor = 0.25
    assert np.allclose(gradient(x), -0.25)
    assert len(traces) == 1


def test_round_trips_through_config_and_keras_file(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1)(GradientReversal(0.4, name="grl")(inputs))
    model = keras.Model(inputs, outputs)
    model.get_layer("grl").factor = 0.7
    path = tmp_path / "grl.keras"
    model.save(path)

    restored = keras.models.load_model(path)

    assert restored.get_layer("grl").factor == pytest.approx(0.7)
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("factor", [-1.0, float("nan"), "big", True])
def test_rejects_bad_factor_naming_it(factor):
    with pytest.raises(ValueError, match="Received: factor="):
        GradientReversal(factor)
