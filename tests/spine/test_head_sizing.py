"""num_classes may be left out: the classifier head is sized by the first fit()."""

import keras
import numpy as np
import pytest
from tiny import tiny_cnn

import tlkeras
from tlkeras.errors import ConfigurationError

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 255, (24, 16, 16, 3)).astype("float32")
LABELS = np.arange(24) % 4  # classes 0..3


def head_of(model):
    (head,) = model.heads.values()
    return head


def test_predict_before_the_first_fit_says_the_head_is_not_sized():
    model = tlkeras.build(tiny_cnn(), head="classify")
    assert model.output.shape == (None, None)
    with pytest.raises(ConfigurationError, match="not sized yet.*fit\\(\\).*num_classes=N"):
        model.predict(X, verbose=0)


@pytest.mark.parametrize(
    "labels, classes",
    [
        (LABELS, 4),  # integer ids: max + 1
        (LABELS[:, None], 4),  # (n, 1) ids
        (np.eye(6, dtype="float32")[LABELS], 6),  # one-hot: the width, unused columns too
    ],
)
def test_first_fit_sizes_the_head_from_the_labels(labels, classes):
    model = tlkeras.build(tiny_cnn(), head="classify")
    if labels.ndim == 2 and labels.shape[1] > 1:  # the "auto" loss takes class ids
        model.compile(loss="categorical_crossentropy", metrics=["categorical_accuracy"])
    model.fit(X, labels, epochs=1, verbose=0)
    assert head_of(model).num_classes == classes
    assert model.predict(X, verbose=0).shape == (24, classes)


def test_class_names_size_the_head_when_building():
    model = tlkeras.build(tiny_cnn(), class_names=["cat", "dog", "owl"])
    assert head_of(model).num_classes == 3
    assert model.predict(X, verbose=0).shape == (24, 3)
    with pytest.raises(ConfigurationError, match="Received: num_classes=2"):
        tlkeras.build(tiny_cnn(), num_classes=2, class_names=["cat", "dog", "owl"])


def test_tf_data_labels_size_the_head():
    import tensorflow as tf

    ids = tf.data.Dataset.from_tensor_slices((X, LABELS)).batch(8)
    model = tlkeras.build(tiny_cnn())
    model.fit(ids, epochs=1, verbose=0)
    assert head_of(model).num_classes == 4

    one_hot = tf.data.Dataset.from_tensor_slices((X, np.eye(5)[LABELS])).batch(8)
    model = tlkeras.build(tiny_cnn())
    model.compile(loss="categorical_crossentropy", metrics=["categorical_accuracy"])
    model.fit(one_hot, epochs=1, verbose=0)
    assert head_of(model).num_classes == 5  # from the element spec, not the values


def test_image_dataset_from_directory_class_names_size_the_head(tmp_path):
    for name in ("ant", "bee", "cow"):
        (tmp_path / name).mkdir()
        for i in range(2):
            keras.utils.save_img(tmp_path / name / f"{i}.png", X[i])
    dataset = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(16, 16), batch_size=4, verbose=False
    )
    model = tlkeras.build(tiny_cnn())
    model.fit(dataset, epochs=1, verbose=0)
    assert head_of(model).num_classes == 3


def test_save_and_load_round_trip_before_and_after_sizing(tmp_path):
    model = tlkeras.build(tiny_cnn(), bottleneck=4)
    model.save(tmp_path / "unsized.keras")
    unsized = keras.models.load_model(tmp_path / "unsized.keras")
    assert not head_of(unsized).sized
    unsized.fit(X, LABELS, epochs=1, verbose=0)  # a reloaded unsized model still sizes itself
    assert head_of(unsized).num_classes == 4

    model.fit(X, LABELS, epochs=1, verbose=0)
    model.save(tmp_path / "sized.keras")
    loaded = keras.models.load_model(tmp_path / "sized.keras")
    assert head_of(loaded).num_classes == 4
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    loaded.fit(X, LABELS, epochs=1, verbose=0)  # compiled with the "auto" defaults


def test_multi_task_heads_are_sized_from_their_own_labels():
    model = tlkeras.build(
        tiny_cnn(),
        heads={"species": "classifier", "size": "classifier", "age": "regressor"},
        num_classes={"size": 2},
    )
    y = {"species": LABELS, "size": LABELS % 2, "age": RNG.normal(size=24)}
    model.fit(X, y, epochs=1, verbose=0)
    assert model.heads["species"].num_classes == 4
    assert model.heads["size"].num_classes == 2
    assert model.predict(X, verbose=0)["species"].shape == (24, 4)


def test_unreadable_labels_and_unsizable_heads_name_what_to_pass():
    model = tlkeras.build(tiny_cnn())
    with pytest.raises(ConfigurationError, match="Received: y with shape"):
        model.fit(X, np.zeros((24, 2, 2)), epochs=1, verbose=0)
    with pytest.raises(ConfigurationError, match="Received: y with minimum -1"):
        model.fit(X, LABELS - 1, epochs=1, verbose=0)
    with pytest.raises(ConfigurationError, match="domain_adaptation"):
        tlkeras.build(tiny_cnn(), bottleneck=4, domain_adaptation="dann")
