"""WordPiecePacker: keras-hub's BERT tokenization and packing, in core TensorFlow ops, id for id."""

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.src.utils.tensor_utils import no_convert_scope

import tlkeras
from tlkeras.layers.token_packer import TokenPacker
from tlkeras.serving_tokenizers import MAX_BYTES_PER_WORD
from tlkeras.serving_tokenizers import WordPiecePacker
from tlkeras.serving_tokenizers import needs_tensorflow_text
from tlkeras.weights.text_presets import resolve

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world!! (1,234.56) costs $5 #tag @user a-b_c \"quoted\" 'single' `tick` ~^|",
    "Café naïve résumé Ångström São Paulo Zürich",
    "東京は日本の首都です。中文字符 한국어 テスト",
    "I ❤️ emoji 🎉🎉 and flags 🇫🇷 👍🏽",
    "ﬁne ＡＢＣ ① ẞtraße İstanbul ΣΊΣΥΦΟΣ ½",
    "a\u00a0b soft\u00adhyphen zero\u200bwidth\ttab\nnew\rline \x0bvt \x85nel",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
    "x" * MAX_BYTES_PER_WORD,
    "x" * (MAX_BYTES_PER_WORD + 1),
    "é" * (MAX_BYTES_PER_WORD // 2) + " " + "é" * (MAX_BYTES_PER_WORD // 2 + 1),
    "",
    "   \t\n  ",
    "¿Qué? ¡Sí! «guillemets» — dash… ellipsis • bullet",
    " ".join(f"word{i}" for i in range(300)),  # far beyond any sequence_length
    "before NUL\x00after it",
    "UPPER lower MiXeD 12345 3.14 e-mail@example.com https://example.com/a?b=c",
]


def keras_hub_pieces(tokenizer, texts):
    tokenizer._allow_python_workflow = False  # the TensorFlow path, as in a model
    with no_convert_scope():
        return tokenizer(tf.constant(texts)).to_list()


def assert_same_pieces(tokenizer, texts):
    core = WordPiecePacker.from_tokenizer(tokenizer, sequence_length=512)
    expected = keras_hub_pieces(tokenizer, texts)
    got = core.tokenize(tf.constant(texts)).to_list()
    mismatched = [(t, e, g) for t, e, g in zip(texts, expected, got, strict=True) if e != g]
    assert not mismatched, mismatched[:3]
    return expected


def assert_packs_alike(tokenizer, sequence_length):
    """Token ids and padding mask of `TokenPacker` and `WordPiecePacker` are equal."""
    expected = TokenPacker(tokenizer, sequence_length)(tf.constant(TEXTS))
    got = WordPiecePacker.from_tokenizer(tokenizer, sequence_length)(tf.constant(TEXTS))
    for name, e, g in zip(("token_ids", "padding_mask"), expected, got, strict=True):
        assert g.dtype == e.dtype, name
        np.testing.assert_array_equal(g.numpy(), e.numpy(), err_msg=name)
    assert expected[1].numpy().all(axis=1).any()  # some text filled the sequence


@pytest.fixture(scope="module")
def tiny():
    return tlkeras.get_backbone("bert", weights=None, sequence_length=16)


@pytest.fixture(scope="module")
def minilm_tokenizer():
    return keras_hub.models.BertTokenizer.from_preset(resolve("all-minilm-l6-v2"))


def test_tiny_vocabulary_pieces_ids_and_mask_equal_keras_hub(tiny):
    pieces = assert_same_pieces(tiny.tokenizer, TEXTS)
    assert [p for p in pieces if tiny.tokenizer.token_to_id("[UNK]") in p]  # unknowns covered
    for length in (16, 2, 40):
        assert_packs_alike(tiny.tokenizer, length)


def test_minilm_vocabulary_pieces_ids_and_mask_equal_keras_hub(minilm_tokenizer):
    pieces = assert_same_pieces(minilm_tokenizer, TEXTS)
    assert sum(map(len, pieces)) > 400
    assert_packs_alike(minilm_tokenizer, 32)


def test_accent_stripping_and_no_cjk_split_equal_keras_hub(minilm_tokenizer):
    vocabulary = minilm_tokenizer.get_vocabulary()
    for settings in ({"strip_accents": True}, {"split_on_cjk": False}, {"lowercase": False}):
        tokenizer = keras_hub.models.BertTokenizer(
            vocabulary=vocabulary, **{"lowercase": True, **settings}
        )
        assert_same_pieces(tokenizer, TEXTS)


def test_empty_batch_and_single_string():
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b"]
    )
    core = WordPiecePacker.from_tokenizer(tokenizer, 4)
    token_ids, mask = core(tf.constant([], tf.string))
    assert token_ids.shape == (0, 4) and mask.shape == (0, 4)
    token_ids, mask = core(tf.constant("ab"))
    np.testing.assert_array_equal(token_ids.numpy(), [[2, 5, 6, 3]])


def test_special_tokens_in_strings_are_refused_by_name():
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"],
        special_tokens_in_strings=True,
    )
    with pytest.raises(ValueError, match="Received: a tokenizer with special_tokens_in_strings"):
        WordPiecePacker.from_tokenizer(tokenizer, 8)


def test_only_byte_level_bpe_models_still_need_tensorflow_text(tiny):
    assert not needs_tensorflow_text(tiny)
    assert needs_tensorflow_text(tlkeras.get_backbone("roberta", weights=None, sequence_length=8))
