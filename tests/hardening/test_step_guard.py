"""The NaN guard works inside the compiled step: no per-batch callback, no update from a bad batch."""

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import DataError

BATCH = 8
BAD_BATCH = 2


def _dense_model(seed=0):
    # The case: a small Dense model, ReLU after the first Dense.
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,), name="features")
    x = keras.layers.Dense(16, activation="relu", name="first")(inputs)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x, name="mlp"), modality="other")
    return tlkeras.build(backbone, num_classes=3, freeze=False)


def _data(n=48, seed=0, bad_batch=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = rng.integers(0, 3, size=n)
    if bad_batch is not None:
        x[bad_batch * BATCH : (bad_batch + 1) * BATCH] = np.nan
    return x, y


def _dataset(x, y):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)


def _kernel(model):
    return keras.ops.convert_to_numpy(model.get_layer("mlp").get_layer("first").kernel)


def _assert_same_state(model, reference):
    """Weights and optimizer state (step count, moments) equal, and finite."""
    pairs = list(zip(model.get_weights(), reference.get_weights(), strict=True))
    pairs += [
        (keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
        for a, b in zip(model.optimizer.variables, reference.optimizer.variables, strict=True)
    ]
    for ours, theirs in pairs:
        assert np.isfinite(ours).all()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.tensorflow_only("the issue's tf.data pipeline")
def test_a_nan_batch_raises_naming_it_and_leaves_the_weights_from_before_it():
    x, y = _data(bad_batch=BAD_BATCH)
    model = _dense_model()
    with pytest.raises(DataError, match=rf"epoch 0, batch {BAD_BATCH}\b"):
        model.fit(_dataset(x, y), epochs=2, verbose=0)
    # The same model trained on the good batches before the bad one only.
    reference = _dense_model()
    reference.fit(
        _dataset(x[: BAD_BATCH * BATCH], y[: BAD_BATCH * BATCH]), epochs=1, verbose=0, shuffle=False
    )
    _assert_same_state(model, reference)


class _Batches(keras.utils.PyDataset):
    """Any backend's input pipeline: NaN inputs in one batch, as a broken loader makes them."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x) // BATCH

    def __getitem__(self, index):
        part = slice(index * BATCH, (index + 1) * BATCH)
        return self.x[part], self.y[part]


def _bottleneck_model(seed=0):
    # BatchNorm in the bottleneck: its moving statistics must survive a NaN batch too.
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,), name="features")
    x = keras.layers.Dense(16, activation="relu", name="first")(inputs)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x, name="mlp"), modality="other")
    model = tlkeras.build(backbone, num_classes=3, bottleneck=8, freeze=False, compile=False)
    model.compile(steps_per_execution=3)
    return model


def test_the_bad_step_is_skipped_inside_steps_per_execution_with_batchnorm():
    x, y = _data(bad_batch=BAD_BATCH)
    model = _bottleneck_model()
    with pytest.raises(DataError, match=rf"epoch 0, batch {BAD_BATCH}\b"):
        model.fit(_Batches(x, y), epochs=1, verbose=0, shuffle=False)
    reference = _bottleneck_model()
    reference.fit(
        _Batches(x[: BAD_BATCH * BATCH], y[: BAD_BATCH * BATCH]), epochs=1, verbose=0, shuffle=False
    )
    _assert_same_state(model, reference)
    # The record starts clean again: the model trains on good data.
    history = model.fit(_Batches(*_data(seed=1)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(model.get_weights()[0], reference.get_weights()[0])


def test_a_later_epoch_is_named():
    x, y = _data(bad_batch=BAD_BATCH)

    class LaterNaN(_Batches):
        served = 0  # times the bad batch was read: clean the first time (epoch 0)

        def __getitem__(self, index):
            if index == BAD_BATCH:
                self.served += 1
                if self.served == 1:
                    return np.nan_to_num(self.x[:BATCH]), self.y[:BATCH]
            return super().__getitem__(index)

    batches = LaterNaN(x, y)
    with pytest.raises(DataError, match=rf"epoch 1, batch {BAD_BATCH}\b"):
        _dense_model().fit(batches, epochs=3, verbose=0, shuffle=False)


def test_train_on_batch_refuses_a_nan_batch_and_keeps_the_weights():
    model = _dense_model()
    x, y = _data()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    before = model.get_weights()
    optimizer_before = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    bad = x[:BATCH].copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match=r"train_on_batch"):
        model.train_on_batch(bad, y[:BATCH])
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(optimizer_before, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))
    model.train_on_batch(x[:BATCH], y[:BATCH])  # and trains again on a good one
    assert not np.array_equal(before[0], model.get_weights()[0])


def test_check_data_false_trains_with_keras_own_step():
    x, y = _data(bad_batch=BAD_BATCH)
    model = _dense_model()
    model.fit(_Batches(x, y), epochs=1, verbose=0, shuffle=False, check_data=False)
    assert np.isnan(_kernel(model)).any()  # what the guard prevents


def test_no_per_batch_hook_is_installed_by_default(monkeypatch):
    lists = []
    original = keras.callbacks.CallbackList.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        lists.append(self)

    monkeypatch.setattr(keras.callbacks.CallbackList, "__init__", spy)
    x, y = _data()
    model = _dense_model()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    (callbacks,) = lists
    names = [type(c).__name__ for c in callbacks.callbacks]
    assert "NonFiniteLossGuard" in names
    for callback in callbacks.callbacks:
        for hook in (
            "on_batch_begin",
            "on_batch_end",
            "on_train_batch_begin",
            "on_train_batch_end",
        ):
            assert keras.src.utils.python_utils.is_default(getattr(callback, hook)), (
                f"{type(callback).__name__}.{hook} runs on the host every batch"
            )


def test_domain_adaptation_skips_a_nan_target_batch():
    from tlkeras.domain import DomainAdaptationModel

    x_source, y_source = _data(n=64, seed=1)
    x_target, _ = _data(n=64, seed=2)
    x_target[20] = np.nan  # batch 1 of 16

    def trainer(n):
        model = DomainAdaptationModel(_bottleneck_model(), method="dann", adaptation_weight=0.5)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        model.fit(
            {"source": x_source[:n], "target": x_target[:n]},
            y_source[:n],
            batch_size=16,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        return model

    bad = DomainAdaptationModel(_bottleneck_model(), method="dann", adaptation_weight=0.5)
    bad.compile(optimizer=keras.optimizers.Adam(1e-2))
    with pytest.raises(DataError, match=r"epoch 0, batch 1\b"):
        bad.fit(
            {"source": x_source, "target": x_target},
            y_source,
            batch_size=16,
            shuffle=False,
            verbose=0,
        )
    # What the failed run left behind equals a run on the good batch alone.
    reference = trainer(16)
    _assert_same_state(bad, reference)
