"""compare() takes the inputs fit() takes: lists of texts, pandas columns, tf.data datasets."""

import keras
import pandas as pd
import pytest
from eval_helpers import TINY
from folder_data import write_image_folders

import tlkeras

WORDS = {0: "dog cat puppy barked", 1: "shares market dropped price"}


def _texts(count):
    labels = [i % 2 for i in range(count)]
    return [f"{WORDS[label]} {i}" for i, label in enumerate(labels)], labels


@pytest.mark.tensorflow_only(
    "raw strings go through the tf.text / tf.strings tokenizer inside the model"
)
def test_compare_takes_a_list_of_texts_and_pandas_columns():
    texts, labels = _texts(12)
    frame = pd.DataFrame({"text": texts, "label": labels})
    results = tlkeras.compare(
        {"frozen": dict(freeze=True), "full": dict(freeze=False)},
        (texts[:8], labels[:8]),
        (frame["text"][8:], frame["label"][8:]),
        backbone="word_vectors",
        dim=8,
        sequence_length=8,
        epochs=1,
        batch_size=4,
    )
    # The two configurations, beside compare()'s baseline rows.
    assert {"frozen", "full"} <= set(results["config"])
    # Every text reached compare(): a stratified validation split is held out of the 8.
    assert (results["n_train"] + results["n_val"] == 8).all() and results["value"].notna().all()


def test_compare_takes_image_dataset_from_directory(tmp_path):
    write_image_folders(tmp_path / "train", per_class=6)
    write_image_folders(tmp_path / "test", per_class=2)
    train, test = (
        keras.utils.image_dataset_from_directory(tmp_path / split, image_size=(16, 16))
        for split in ("train", "test")
    )
    results = tlkeras.compare(
        {"scratch": {}},
        train,
        test,
        backbone=TINY,
        fractions=(0.5, 1.0),
        epochs=1,
        batch_size=4,
    )
    # The 12 training images were read from the folders (validation held out of each subset).
    totals = results["n_train"] + results["n_val"]
    assert sorted(totals.unique()) == [6, 12]


@pytest.mark.tensorflow_only(
    "raw strings go through the tf.text / tf.strings tokenizer inside the model"
)
def test_compare_takes_a_tfds_supervised_dataset():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=8):
        train = tfds.load("imdb_reviews", split="train", as_supervised=True)
        test = tfds.load("imdb_reviews", split="test", as_supervised=True)
    results = tlkeras.compare(
        {"words": {}},
        train,
        test,
        backbone="word_vectors",
        dim=8,
        sequence_length=8,
        epochs=1,
        batch_size=4,
    )
    assert (results["n_train"] + results["n_val"] == 8).all()
