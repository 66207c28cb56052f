"""Word vectors: text/binary/GloVe files, coverage, OOV rows, the word_vectors backbone."""

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.errors import WeightsError
from tlkeras.text import WordVectors
from tlkeras.text import load_word_vectors
from tlkeras.text import save_word_vectors

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran"]


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    return WordVectors(
        words=list(WORDS), vectors=rng.normal(size=(len(WORDS), 6)).astype("float32")
    )


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_files_round_trip(tmp_path, vectors, binary):
    path = save_word_vectors(vectors, tmp_path / ("v.bin" if binary else "v.txt"), binary=binary)
    loaded = load_word_vectors(path)
    assert loaded.words == WORDS
    np.testing.assert_allclose(loaded.vectors, vectors.vectors, rtol=1e-5)


def test_glove_file_without_header_and_limit(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 0.2 0.3\ncat 1 2 3\nsat -1 0 1\n")
    loaded = load_word_vectors(path, limit=2)
    assert loaded.words == ["the", "cat"]
    np.testing.assert_allclose(loaded.vectors[1], [1, 2, 3])


def test_ragged_file_and_missing_file_name_the_path(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("the 0.1 0.2\ncat 1 2 3\n")
    with pytest.raises(WeightsError, match="Line 2"):
        load_word_vectors(path)
    with pytest.raises(WeightsError, match="Received: path="):
        load_word_vectors(tmp_path / "missing.txt")


def test_coverage_counts_tokens_and_types(vectors):
    report = vectors.coverage(["The cat sat.", "The zebra sat on the quagga!"])
    # 9 running words, 7 known; 7 distinct words, 5 known.
    assert report["tokens"] == pytest.approx(7 / 9)
    assert report["types"] == pytest.approx(4 / 6)
    assert set(report["missing"]) == {"zebra", "quagga"}


def test_backbone_rows_are_the_vectors_and_oov_is_shared(tmp_path, vectors):
    path = save_word_vectors(vectors, tmp_path / "v.txt")
    backbone = tlkeras.get_backbone(
        "word_vectors", weights=str(path), vocabulary=["cat", "dog", "unicorn"]
    )
    assert backbone.vocabulary_coverage == pytest.approx(2 / 3)
    assert backbone.weights_source == str(path)
    features = keras.ops.convert_to_numpy(backbone(np.array(["Cat, dog! zebra"], dtype=object)))
    np.testing.assert_allclose(features[0, 0], vectors.vectors[1], rtol=1e-5)  # cat
    np.testing.assert_allclose(features[0, 1], vectors.vectors[5], rtol=1e-5)  # dog
    np.testing.assert_allclose(features[0, 2], 0.0)  # zebra: the out-of-vocabulary row


def test_frozen_vectors_stay_put_while_the_encoder_trains(vectors):
    backbone = tlkeras.get_backbone("word_vectors", weights=vectors, encoder="bilstm")
    model = tlkeras.build(backbone, num_classes=2, freeze=1)
    embedding = backbone.get_layer("embedding").embeddings
    lstm = backbone.get_layer("encoder").trainable_weights[0]
    before = [keras.ops.convert_to_numpy(v).copy() for v in (embedding, lstm)]
    x = np.array(["the cat sat", "the dog ran on the mat"], dtype=object)
    model.fit(x, np.array([0, 1]), epochs=2, verbose=0)
    assert np.array_equal(before[0], keras.ops.convert_to_numpy(embedding))
    assert not np.array_equal(before[1], keras.ops.convert_to_numpy(lstm))


def test_mean_pooling_reads_real_words_only(vectors):
    backbone = tlkeras.get_backbone("word_vectors", weights=vectors, sequence_length=12)
    model = tlkeras.build(backbone, head="regressor", compile=False)
    pooled = keras.Model(model.inputs, model.get_layer("pool").output)
    got = keras.ops.convert_to_numpy(pooled(np.array(["cat sat"], dtype=object)))
    np.testing.assert_allclose(got[0], vectors.vectors[[1, 2]].mean(0), rtol=1e-5)


def test_unknown_encoder_is_named():
    with pytest.raises(ConfigurationError, match="Received: encoder='cnn'"):
        tlkeras.get_backbone("word_vectors", encoder="cnn")
