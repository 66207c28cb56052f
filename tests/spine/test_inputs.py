"""Every input kind a Keras user has goes into fit(), evaluate() and predict() (tlkeras.inputs)."""

import keras
import numpy as np
import pandas as pd
import pytest
from folder_data import write_image_folders
from tiny import tiny_cnn

import tlkeras
from tlkeras.errors import DataError
from tlkeras.inputs import examples

TEXTS = ["a puppy barked at the man", "shares dropped after the report", "the dog ran home"]
LABELS = [0, 1, 0]
# Each kind of texts, with the labels in the kind a user of it would have.
KINDS = {
    "list": (lambda t: list(t), list),
    "tuple": (lambda t: tuple(t), tuple),
    "str_array": (lambda t: np.array(t), np.array),
    "bytes_array": (lambda t: np.array([s.encode() for s in t]), np.array),
    "object_array": (lambda t: np.array(t, dtype=object), np.array),
    "series": (lambda t: pd.Series(t, index=[7, 3, 5]), lambda y: pd.Series(y, index=[7, 3, 5])),
    "dataframe_column": (lambda t: pd.DataFrame({"text": t})["text"], pd.Series),
    "one_column_dataframe": (lambda t: pd.DataFrame({"text": t}), pd.Series),
}


@pytest.fixture(scope="module")
def text_model():
    keras.utils.set_random_seed(0)
    return tlkeras.build("word_vectors", num_classes=2, dim=8, sequence_length=8)


def _head_kernel(model):
    return keras.ops.convert_to_numpy(model.get_layer("head").trainable_weights[0]).copy()


@pytest.mark.tensorflow_only(
    "raw strings go through the tf.text / tf.strings tokenizer inside the model"
)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_predict_evaluate_and_fit_take_every_kind_of_texts(text_model, kind):
    make_x, make_y = KINDS[kind]
    x, y = make_x(TEXTS), make_y(LABELS)
    reference = np.array(TEXTS, dtype=object)
    expected = text_model.predict(reference, verbose=0)
    np.testing.assert_allclose(text_model.predict(x, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(
        text_model.evaluate(x, y, verbose=0),
        text_model.evaluate(reference, np.array(LABELS), verbose=0),
        rtol=1e-6,
    )
    before = _head_kernel(text_model)
    text_model.fit(x, y, epochs=1, validation_data=(x, y), verbose=0)
    assert not np.array_equal(before, _head_kernel(text_model))
    assert text_model.predict_on_batch(x).shape == (3, 2)


@pytest.mark.tensorflow_only(
    "raw strings go through the tf.text / tf.strings tokenizer inside the model"
)
def test_a_keras_hub_transformer_takes_a_list_and_a_str_array():
    backbone = tlkeras.get_backbone(
        "bert",
        weights=None,
        sequence_length=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
    )
    model = tlkeras.build(backbone, num_classes=2)
    expected = model.predict(np.array(TEXTS, dtype=object), verbose=0)
    np.testing.assert_allclose(model.predict(TEXTS, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(np.array(TEXTS), verbose=0), expected, rtol=1e-6)


def test_bad_text_inputs_name_what_was_received(text_model):
    with pytest.raises(DataError, match=r"Pass a list: \[x\]. Received: x='a puppy'"):
        text_model.predict("a puppy", verbose=0)
    with pytest.raises(DataError, match=r"missing value at example 1.*Received: x\[1\]=(None|nan)"):
        text_model.fit(pd.Series(["a dog", None, "a cat"]), [0, 1, 0], verbose=0)
    frame = pd.DataFrame({"title": TEXTS, "body": TEXTS})
    with pytest.raises(DataError, match=r"pass one column, e.g. x\['title'\].*columns \['title'"):
        text_model.predict(frame, verbose=0)


@pytest.mark.tensorflow_only(
    "raw strings go through the tf.text / tf.strings tokenizer inside the model"
)
def test_domain_adaptation_takes_lists_of_texts():
    keras.utils.set_random_seed(0)
    task = tlkeras.build("word_vectors", num_classes=2, dim=8, sequence_length=8, bottleneck=4)
    dann = tlkeras.domain.DomainAdaptationModel(task, method="dann")
    dann.compile()
    before = _head_kernel(task)
    dann.fit(x={"source": TEXTS, "target": list(reversed(TEXTS))}, y=LABELS, verbose=0)
    pairs = tlkeras.domain.pair_datasets(
        (pd.Series(TEXTS), LABELS), np.array(TEXTS), batch_size=2, seed=0
    )
    dann.fit(pairs, verbose=0)
    assert not np.array_equal(before, _head_kernel(task))
    assert dann.predict(TEXTS, verbose=0).shape == (3, 2)
    assert np.isfinite(dann.evaluate(tuple(TEXTS), LABELS, verbose=0)[0])


def _write_texts(root, per_class=4):
    for label, words in (("neg", "dropped fell bad"), ("pos", "good rose won")):
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            (root / label / f"{index}.txt").write_text(f"{words} {index}")


@pytest.mark.tensorflow_only(
    "raw strings go through the tf.text / tf.strings tokenizer inside the model"
)
def test_directory_datasets_go_straight_into_fit(tmp_path):
    write_image_folders(tmp_path / "images", per_class=4)
    images = keras.utils.image_dataset_from_directory(
        tmp_path / "images", image_size=(16, 16), batch_size=4, seed=0
    )
    model = tlkeras.build(tiny_cnn(), num_classes=len(images.class_names))
    before = _head_kernel(model)
    model.fit(images, epochs=1, verbose=0)
    assert not np.array_equal(before, _head_kernel(model))

    _write_texts(tmp_path / "texts")
    texts = keras.utils.text_dataset_from_directory(tmp_path / "texts", batch_size=4, seed=0)
    model = tlkeras.build("word_vectors", num_classes=2, dim=8, sequence_length=8)
    before = _head_kernel(model)
    model.fit(texts, epochs=1, verbose=0)
    assert not np.array_equal(before, _head_kernel(model))


@pytest.mark.tensorflow_only(
    "raw strings go through the tf.text / tf.strings tokenizer inside the model"
)
def test_tfds_supervised_dataset_goes_into_fit_and_examples():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):
        reviews = tfds.load("imdb_reviews", split="train", as_supervised=True)
    model = tlkeras.build("word_vectors", num_classes=2, dim=8, sequence_length=8)
    before = _head_kernel(model)
    model.fit(reviews.batch(3), epochs=1, verbose=0)
    assert not np.array_equal(before, _head_kernel(model))
    x, y = examples(reviews, "reviews")
    assert x.dtype == object and isinstance(x[0], str) and len(x) == len(y) == 6
    assert model.predict(x, verbose=0).shape == (6, 2)


def test_examples_reads_batched_and_unbatched_datasets_in_order(tmp_path):
    import tensorflow as tf

    write_image_folders(tmp_path, per_class=3)
    batched = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(16, 16), batch_size=4, shuffle=False
    )
    x, y = examples(batched, "train_data")
    assert x.shape == (6, 16, 16, 3) and y.tolist() == [0, 0, 0, 1, 1, 1]
    x2, y2 = examples(batched.unbatch(), "train_data")
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    texts, labels = examples((pd.Series(TEXTS), pd.Series(LABELS)), "train_data")
    assert texts.tolist() == TEXTS and labels.tolist() == LABELS
    with pytest.raises(DataError, match=r"as_supervised=True.*Received: train_data with"):
        examples(tf.data.Dataset.from_tensor_slices({"text": TEXTS}), "train_data")
    with pytest.raises(DataError, match=r"infinite.*Received: train_data="):
        examples(batched.repeat(), "train_data")
