"""Bad training data stops fit() with a DataError naming the example, before or at the bad batch."""

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import DataError


def _image_model(**kwargs):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x, name="tiny"), modality="image")
    kwargs.setdefault("num_classes", 3)
    return tlkeras.build(backbone, freeze=False, **kwargs)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 3)).astype("float32"), rng.integers(0, 3, size=n)


def _fit(model, x, y, **kwargs):
    return model.fit(x, y, epochs=1, batch_size=8, verbose=0, **kwargs)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda x, y: (x, np.where(np.arange(len(y)) == 5, 3, y)), r"y\[5\]=3.*\[0, 3\)"),
        (lambda x, y: (x, np.where(np.arange(len(y)) == 2, -1, y)), r"y\[2\]=-1"),
        (lambda x, y: (x, y + 0.5), r"y\[0\]=0\.5"),
        (lambda x, y: (x, np.eye(3)[y]), r"looks one-hot.*argmax"),
        (lambda x, y: (x, y.astype(str)), r"holds strings.*LabelEncoder"),
        (lambda x, y: (x, y[:-1]), r"31 targets for 32 examples"),
        (lambda x, y: (x[..., 0], y), r"Grayscale.*shape \(32, 8, 8\)"),
        (lambda x, y: (x[..., :1], y), r"takes 3 channels.*shape \(32, 8, 8, 1\)"),
        (lambda x, y: (x[:, :4], y), r"does not fit the model's input \(None, 8, 8, 3\)"),
        (lambda x, y: (x[:0], y[:0]), r"No examples.*shape \(0, 8, 8, 3\)"),
        (lambda x, y: (np.full(x.shape[:1], "cat", dtype=object), y), r"holds strings"),
    ],
)
def test_bad_arrays_are_refused_before_training(bad, message):
    model = _image_model()
    before = [w.copy() for w in model.get_weights()]
    x, y = bad(*_data())
    with pytest.raises(DataError, match=message):
        _fit(model, x, y)
    for b, a in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(b, a)  # nothing trained on bad data


def test_nan_input_names_its_example_and_batch():
    x, y = _data()
    x[19, 3, 3, 1] = np.nan
    with pytest.raises(DataError, match=r"example 19 \(batch 2 with batch_size=8\)"):
        _fit(_image_model(), x, y)


def test_validation_data_is_checked_too():
    x, y = _data()
    with pytest.raises(DataError, match=r"validation x"):
        _fit(_image_model(), x, y, validation_data=(x[:, :4], y))


def test_multi_task_targets_are_checked_per_head():
    x, y = _data()
    model = _image_model(
        heads={"kind": "classifier", "score": "regressor"}, num_classes={"kind": 3}
    )
    with pytest.raises(DataError, match=r"y\['kind'\]\[4\]=7"):
        _fit(model, x, {"kind": np.where(np.arange(32) == 4, 7, y), "score": x.mean((1, 2, 3))})
    with pytest.raises(DataError, match=r"no head for.*'colour'"):
        _fit(model, x, {"colour": y})
    score = x.mean((1, 2, 3))
    score[30] = np.inf
    with pytest.raises(DataError, match=r"y\['score'\] holds NaN or Inf at example 30"):
        _fit(model, x, {"kind": y, "score": score})
    history = _fit(model, x, {"kind": y, "score": x.mean((1, 2, 3))})
    assert np.isfinite(history.history["loss"][0])


def test_a_nan_in_a_dataset_stops_at_its_batch():
    import tensorflow as tf

    x, y = _data()
    x[17] = np.nan  # batch 2 of 8
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(DataError, match=r"epoch 0, batch 2"):
        _image_model().fit(dataset, epochs=1, verbose=0)


def test_an_empty_dataset_is_refused():
    import tensorflow as tf

    x, y = _data()
    empty = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).take(0)
    with pytest.raises(DataError, match=r"No batches to train on"):
        _image_model().fit(empty, epochs=1, verbose=0)


def test_check_data_false_leaves_keras_alone():
    x, y = _data()
    history = _image_model().fit(x, y, epochs=1, batch_size=8, verbose=0, check_data=False)
    assert np.isfinite(history.history["loss"][0])


def test_one_hot_labels_train_under_a_loss_that_takes_them():
    x, y = _data()
    model = _image_model()
    model.compile(loss="categorical_crossentropy", metrics=["categorical_accuracy"])
    history = _fit(model, x, np.eye(3)[y])
    assert np.isfinite(history.history["loss"][0])
