"""Pre-trained word vectors as a small text backbone: words -> Embedding [-> BiLSTM]."""

import os

import keras
import numpy as np

from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.transformer_backbone import example_texts
from tlkeras.errors import ConfigurationError
from tlkeras.errors import TlkerasError
from tlkeras.errors import WeightsError
from tlkeras.weights.word_vectors import WordVectors
from tlkeras.weights.word_vectors import load_word_vectors
from tlkeras.weights.word_vectors import split_words

ENCODERS = (None, "bilstm")
# weights=None with no vocabulary: a small built-in one, enough for tests and demos.
COMMON_WORDS = (
    "the of and to a in is it you that he was for on are with as i his they be at one have "
    "this from or had by not word but what some we can out other were all there when up use "
    "your how said an each she which do their time if will way about many then them write "
    "would like so these her long make thing see him two has look more day could go come did "
    "number sound no most people my over know water than call first who may down side been now "
    "find any new work part take get place made live where after back little only round man "
    "year came show every good me give our under name very through just form sentence great "
    "think say help low line differ turn cause much mean before move right boy old too same "
    "tell does set three want air well also play small end put home read hand port large spell "
    "add even land here must big high such follow act why ask men change went light kind off "
    "need house picture try us again animal point mother world near build self earth father"
).split()


@keras.saving.register_keras_serializable(package="tlkeras")
class WordVectorBackbone(Backbone):
    """Strings -> word ids -> Embedding (pre-trained rows) -> optional BiLSTM.

    The features are the word sequence `(batch, sequence_length, dim)` with
    padding masked, so `tlkeras.build` mean-pools real words (`pooling="avg"`).
    Layer groups: the embedding, then the encoder if any, so `freeze=1` keeps
    the pre-trained vectors fixed while the encoder and head train, and
    `freeze=False` fine-tunes the vectors too.

    Built by the `word_vectors` factory.

    Args:
        vocabulary_coverage: fraction of the vocabulary that had a
            pre-trained vector when built (`None` for random vectors).
        **kwargs: passed to `tlkeras.Backbone`.
    """

    def __init__(self, *args, vocabulary_coverage=None, **kwargs):
        kwargs.setdefault("modality", "text")
        super().__init__(*args, **kwargs)
        self.vocabulary_coverage = vocabulary_coverage

    @property
    def vocabulary(self):
        """The words with their own embedding row (index 0 is padding, 1 out-of-vocabulary)."""
        return self.get_layer("word_ids").get_vocabulary()

    def example_inputs(self, batch_size=2, seed=0):
        return example_texts(batch_size, seed)

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_coverage=self.vocabulary_coverage)
        return config


def word_vectors(
    weights=None,
    vocabulary=None,
    max_tokens=50_000,
    sequence_length=64,
    encoder=None,
    dim=100,
    name="word_vectors",
):
    """A word-vector backbone from a word2vec / GloVe file (or random vectors).

    Args:
        weights: a word2vec text or `.bin` file, a GloVe text file, or a
            `tlkeras.weights.WordVectors`. Defaults to `None` (random vectors).
        vocabulary: the words that get their own row. Defaults to `None`:
            the first `max_tokens` words of `weights` (the most frequent in
            the usual files), or a small built-in list with no weights. Words
            of the vocabulary without a pre-trained vector get random rows of
            the same scale (`backbone.vocabulary_coverage` says how many);
            words outside it share one out-of-vocabulary row.
        max_tokens: cap on the vocabulary taken from `weights`. Defaults to
            `50_000`.
        sequence_length: words per example (longer texts are truncated).
            Defaults to `64`.
        encoder: `None` (the vectors themselves) or `"bilstm"` (a
            bidirectional LSTM, `dim` units per direction, over them).
            Defaults to `None`.
        dim: width of random vectors (ignored with `weights`). Defaults to `100`.
        name: the backbone's name. Defaults to `"word_vectors"`.

    Example:

    ```python
    model = tlkeras.build("word_vectors", weights="vectors.txt", encoder="bilstm",
                          num_classes=45, freeze=1)
    ```
    """
    if encoder not in ENCODERS:
        raise ConfigurationError(
            f"Unknown encoder. Received: encoder={encoder!r}; expected one of {ENCODERS}."
        )
    vectors = weights
    if weights is not None and not isinstance(weights, WordVectors):
        vectors = _read_user_file(load_word_vectors, weights)
    if vocabulary is None:
        vocabulary = COMMON_WORDS if vectors is None else vectors.words[:max_tokens]
    # Keep words the tokenizer can produce, once each, in order.
    seen, words = set(), []
    for word in vocabulary:
        if split_words(word) == [word] and word not in seen:
            seen.add(word)
            words.append(word)
    if vectors is None:
        matrix, coverage = None, None
    else:
        matrix, found = vectors.to_matrix(words)
        dim, coverage = vectors.dim, found / max(1, len(words))

    # === Layers ===
    word_ids = keras.layers.TextVectorization(
        vocabulary=words,
        standardize="lower_and_strip_punctuation",
        output_sequence_length=sequence_length,
        name="word_ids",
    )
    embedding = keras.layers.Embedding(len(words) + 2, dim, mask_zero=True, name="embedding")
    # === Functional Model ===
    text = keras.Input(shape=(), dtype="string", name="text")
    x = embedding(word_ids(text))
    groups = [["embedding"]]
    if encoder == "bilstm":
        x = keras.layers.Bidirectional(
            keras.layers.LSTM(dim, return_sequences=True), name="encoder"
        )(x)
        groups.append(["encoder"])
    if matrix is not None:
        # Padding and out-of-vocabulary rows start at zero.
        embedding.set_weights([np.concatenate([np.zeros((2, dim), "float32"), matrix])])
    return WordVectorBackbone(
        inputs=text,
        outputs=x,
        layer_groups=groups,
        weights_source=None if weights is None else _describe(weights),
        vocabulary_coverage=coverage,
        name=name,
    )


word_vectors.modality = "text"


def _read_user_file(load_word_vectors, weights):
    """A bad file of the user's is a WeightsError naming it, never this plugin's fault."""
    try:
        return load_word_vectors(weights)
    except TlkerasError:
        raise
    except (OSError, ValueError, TypeError, MemoryError, UnicodeError) as error:
        raise WeightsError(
            f"Could not read the word-vector file ({type(error).__name__}: {str(error)[:300]}). "
            f"Received: weights={_describe(weights)!r}"
        ) from error


def _describe(weights):
    return os.fspath(weights) if isinstance(weights, (str, os.PathLike)) else "word_vectors"
