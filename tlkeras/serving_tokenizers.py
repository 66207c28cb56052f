"""BERT-family tokenization in core TensorFlow ops, for artifacts that load without TF Text.

keras-hub's `WordPieceTokenizer` runs TensorFlow Text ops (`RegexSplitWithOffsets`,
`CaseFoldUTF8`, `NormalizeUTF8`, `FastWordpieceTokenizeWithOffsets`) that a
process with TensorFlow only cannot load. `WordPiecePacker` does the same
tokenization and packing with core ops (`tf.strings`, `tf.lookup`, ragged ops,
`tf.while_loop`), step for step:

1. CJK ideographs get spaces around them (the same RE2 pattern).
2. `strip_accents`: NFD, then `\\p{Mn}` marks removed. NFD is a per-character
   table computed at export time with TF Text's own `normalize_utf8`.
3. Split: whitespace and control characters separate words, punctuation and
   CJK characters are words of their own (the same RE2 patterns, matched on
   each character).
4. `lowercase`: NFKC case folding, a per-character table computed at export
   time with TF Text's own `case_fold_utf8`.
5. WordPiece: greedy longest-match-first against the vocabulary, `##`
   continuations, the unknown token for a word that cannot be matched or
   that is longer than 100 bytes.
6. Packing: start token, pieces truncated to `sequence_length - 2`, end
   token, padding, padding mask (as `tlkeras.layers.TokenPacker`).

TF Text's ops read a string only up to its first NUL character; so does this.

Known difference: keras-hub case-folds a whole word, so NFKC composes a base
letter and a following combining mark (`"e\\u0301"` -> `"é"`); the table
folds character by character and leaves such decomposed text uncomposed.
Text in the usual composed form (NFC) tokenizes identically.
"""

import contextlib
import functools

import keras
import numpy as np

from tlkeras.layers.token_packer import TokenPacker

# keras-hub's RE2 patterns (word_piece_tokenizer.py), restated: matched here per character.
_WHITESPACE = r"\s|\p{Cc}|\p{Cf}"
_PUNCTUATION = r"[!-/]|[:-@]|[\[-`]|[{-~]|[\p{P}]"
_CJK = (
    r"[\x{4E00}-\x{9FFF}]|[\x{3400}-\x{4DBF}]|[\x{20000}-\x{2A6DF}]|[\x{2A700}-\x{2B73F}]"
    r"|[\x{2B740}-\x{2B81F}]|[\x{2B820}-\x{2CEAF}]|[\x{F900}-\x{FAFF}]|[\x{2F800}-\x{2FA1F}]"
)
# TF Text's FastWordpieceTokenizer maps a word longer than this many bytes to the unknown token.
MAX_BYTES_PER_WORD = 100
# Never a mapping result (no character maps to a string holding NUL then SOH).
_MISSING = "\x00\x01"


@keras.saving.register_keras_serializable(package="tlkeras")
class WordPiecePacker(keras.layers.Layer):
    """Strings -> BERT WordPiece token ids and padding mask, in core TensorFlow ops.

    Export-time twin of a `TokenPacker` over a keras-hub `WordPieceTokenizer`
    (`BertTokenizer`, `DistilBertTokenizer`): same ids, same mask, but its
    graph holds no TensorFlow Text op, so a SavedModel using it loads with
    `tf.saved_model.load` alone. Build it with `from_tokenizer`.

    Args:
        vocabulary: list of WordPiece tokens; a token's index is its id.
        sequence_length: tokens per example, start and end tokens included.
        lowercase: NFKC-casefold each word. Defaults to `False`.
        strip_accents: NFD, then drop nonspacing marks. Defaults to `False`.
        split: split on whitespace and punctuation. Defaults to `True`.
        split_on_cjk: CJK ideographs are words of their own. Defaults to `True`.
        suffix_indicator: prefix of continuation pieces. Defaults to `"##"`.
        oov_token: the unknown token. Defaults to `"[UNK]"`.
        start_token, end_token, pad_token: the packer's special tokens.
            Default to `"[CLS]"`, `"[SEP]"`, `"[PAD]"`.

    Example:

    ```python
    packer = WordPiecePacker.from_tokenizer(backbone.tokenizer, 128)
    token_ids, padding_mask = packer(tf.constant(["Hello world"]))
    ```
    """

    def __init__(
        self,
        vocabulary,
        sequence_length,
        lowercase=False,
        strip_accents=False,
        split=True,
        split_on_cjk=True,
        suffix_indicator="##",
        oov_token="[UNK]",
        start_token="[CLS]",
        end_token="[SEP]",
        pad_token="[PAD]",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary)
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.split = split
        self.split_on_cjk = split_on_cjk
        self.suffix_indicator = suffix_indicator
        self.oov_token = oov_token
        self.start_token, self.end_token, self.pad_token = start_token, end_token, pad_token
        ids = {}
        for index, token in enumerate(self.vocabulary):
            ids.setdefault(token, index)  # each token is there once; a repeat keeps its first id
        missing = [t for t in (oov_token, start_token, end_token, pad_token) if t not in ids]
        if missing or not split:
            raise ValueError(
                "WordPiecePacker needs split=True and its special tokens in the vocabulary. "
                f"Received: split={split!r}, tokens missing from the vocabulary: {missing}"
            )
        self._special_ids = [ids[t] for t in (oov_token, start_token, end_token, pad_token)]
        self._vocabulary_table = _table(list(ids), list(ids.values()), -1)
        # The longest piece in characters: no longer candidate can match.
        self._max_piece_chars = max(len(_piece_body(t, suffix_indicator)) for t in ids)
        if strip_accents:
            self._accent_table = _table(*_per_character("NFD", lowercase), _MISSING)
        if lowercase:
            self._casefold_table = _table(*_per_character("casefold"), _MISSING)
        self.built = True

    @classmethod
    def from_tokenizer(cls, tokenizer, sequence_length, **kwargs):
        """The packer that reproduces `tokenizer` (a keras-hub `WordPieceTokenizer`)."""
        if getattr(tokenizer, "special_tokens_in_strings", False):
            raise ValueError(
                "WordPiecePacker does not match special tokens written inside the text. "
                "Received: a tokenizer with special_tokens_in_strings=True"
            )
        return cls(
            tokenizer.get_vocabulary(),
            sequence_length,
            lowercase=tokenizer.lowercase,
            strip_accents=tokenizer.strip_accents,
            split=tokenizer.split,
            split_on_cjk=tokenizer.split_on_cjk,
            suffix_indicator=tokenizer.suffix_indicator,
            oov_token=tokenizer.oov_token,
            start_token=tokenizer.id_to_token(tokenizer.start_token_id),
            end_token=tokenizer.id_to_token(tokenizer.end_token_id),
            pad_token=tokenizer.id_to_token(tokenizer.pad_token_id),
            **kwargs,
        )

    def call(self, inputs):
        import tensorflow as tf

        texts = tf.reshape(tf.convert_to_tensor(inputs, dtype=tf.string), [-1])
        pieces = self.tokenize(texts)[:, : self.sequence_length - 2]
        unk_id, start_id, end_id, pad_id = self._special_ids
        edge = tf.ones_like(texts, dtype=tf.int32)[:, None]
        packed = tf.concat([edge * start_id, tf.cast(pieces, tf.int32), edge * end_id], axis=1)
        shape = [None, self.sequence_length]
        token_ids = packed.to_tensor(default_value=pad_id, shape=shape)
        padding_mask = tf.ones_like(packed, dtype=tf.bool).to_tensor(False, shape=shape)
        return token_ids, padding_mask

    def tokenize(self, texts):
        """A rank-1 string tensor -> ragged WordPiece ids `(batch, None)`, no special tokens."""
        import tensorflow as tf

        # TF Text's ops read a string up to its first NUL, as C strings end.
        texts = tf.strings.regex_replace(texts, r"(?s)\x00.*", "")
        if self.split_on_cjk:
            texts = tf.strings.regex_replace(texts, _CJK, r" \0 ")
        if self.strip_accents:
            texts = _map_characters(
                tf, tf.strings.unicode_split(texts, "UTF-8"), self._accent_table
            )
            texts = tf.strings.regex_replace(tf.strings.reduce_join(texts, axis=1), r"\p{Mn}", "")
        words = self._split(tf.strings.unicode_split(texts, "UTF-8"))
        pieces = self._word_pieces(words.flat_values)
        return tf.RaggedTensor.from_row_splits(pieces, words.row_splits).merge_dims(1, 2)

    def _split(self, characters):
        """Ragged characters -> ragged words (case-folded), as keras-hub's regex_split."""
        import tensorflow as tf

        flat = characters.flat_values
        keep_pattern = f"{_PUNCTUATION}|{_CJK}" if self.split_on_cjk else _PUNCTUATION
        keep = tf.strings.regex_full_match(flat, keep_pattern)
        delimiter = keep | tf.strings.regex_full_match(flat, _WHITESPACE)
        rows = characters.value_rowids()
        first = rows != tf.concat([[-1], rows], axis=0)[:-1]  # [:-1] keeps an empty batch empty
        after_delimiter = tf.concat([[True], delimiter], axis=0)[:-1]
        kept = keep | ~delimiter
        starts = kept & (keep | after_delimiter | first)
        word_of = tf.cumsum(tf.cast(starts, tf.int64)) - 1
        if self.lowercase:  # after the split: a folded character never splits a word
            flat = _map_characters(tf, flat, self._casefold_table)
        words = tf.strings.unsorted_segment_join(
            tf.boolean_mask(flat, kept),
            tf.boolean_mask(word_of, kept),
            num_segments=tf.reduce_sum(tf.cast(starts, tf.int64)),
        )
        return tf.RaggedTensor.from_value_rowids(
            words, tf.boolean_mask(rows, starts), nrows=characters.nrows()
        )

    def _word_pieces(self, words):
        """Words -> ragged ids: greedy longest-match-first, one piece per loop step."""
        import tensorflow as tf

        unk_id = self._special_ids[0]
        lengths = tf.strings.length(words, unit="UTF8_CHAR")
        too_long = tf.strings.length(words) > MAX_BYTES_PER_WORD
        widths = tf.range(self._max_piece_chars, 0, -1)  # longest candidate first
        grid = tf.stack([tf.shape(words)[0], self._max_piece_chars])
        tiled_words = tf.broadcast_to(words[:, None], grid)
        tiled_widths = tf.broadcast_to(widths[None, :], grid)

        def step(i, start, unknown, done, found):
            begin = start[:, None] + tf.zeros_like(tiled_widths)  # a static (?, widths) shape
            body = tf.strings.substr(tiled_words, begin, tiled_widths, unit="UTF8_CHAR")
            prefix = tf.where(begin > 0, self.suffix_indicator, "")
            ids = self._vocabulary_table.lookup(tf.strings.join([prefix, body]))
            fits = (ids >= 0) & (tiled_widths <= (lengths - start)[:, None])
            best = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
            matched = ~done & tf.reduce_any(fits, axis=1)
            unknown = unknown | (~done & ~matched)
            piece = tf.where(matched, tf.gather(ids, best, batch_dims=1), -1)
            start = tf.where(matched, start + tf.gather(widths, best), start)
            done = done | ~matched | (start >= lengths)
            return i + 1, start, unknown, done, found.write(i, piece)

        _, _, unknown, _, found = tf.while_loop(
            lambda i, start, unknown, done, found: ~tf.reduce_all(done),
            step,
            (
                tf.constant(0),
                tf.zeros_like(lengths),
                too_long,
                too_long | (lengths == 0),
                tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None]),
            ),
            maximum_iterations=MAX_BYTES_PER_WORD + 1,
        )
        pieces = tf.transpose(found.stack())
        pieces = tf.reshape(pieces, [tf.shape(words)[0], -1])  # (words, steps), even with 0 steps
        # An unknown word is one unknown token, whatever pieces it matched before failing.
        pieces = tf.concat(
            [tf.where(unknown, unk_id, -1)[:, None], tf.where(unknown[:, None], -1, pieces)], axis=1
        )
        return tf.ragged.boolean_mask(pieces, pieces >= 0)

    def compute_output_spec(self, inputs):
        shape = (inputs.shape[0], self.sequence_length)
        return keras.KerasTensor(shape, dtype="int32"), keras.KerasTensor(shape, dtype="bool")

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary=self.vocabulary,
            sequence_length=self.sequence_length,
            lowercase=self.lowercase,
            strip_accents=self.strip_accents,
            split=self.split,
            split_on_cjk=self.split_on_cjk,
            suffix_indicator=self.suffix_indicator,
            oov_token=self.oov_token,
            start_token=self.start_token,
            end_token=self.end_token,
            pad_token=self.pad_token,
        )
        return config


def _piece_body(token, suffix_indicator):
    return token[len(suffix_indicator) :] if token.startswith(suffix_indicator) else token


def _table(keys, values, default):
    import tensorflow as tf

    initializer = tf.lookup.KeyValueTensorInitializer(
        tf.constant(keys, tf.string), tf.constant(values)
    )
    return tf.lookup.StaticHashTable(initializer, default_value=default)


def _map_characters(tf, characters, table):
    """Each character -> its table entry, or itself where the table has none."""
    mapped = table.lookup(characters)
    return tf.where(mapped == _MISSING, characters, mapped)


@functools.lru_cache(maxsize=3)
def _per_character(kind, compose=False):
    """(characters, images) for every code point that `kind` changes.

    `"NFD"`: decomposed, nonspacing marks removed, and with `compose`
    recomposed (NFC), as keras-hub's later case folding would.
    `"casefold"`: NFKC case folding.

    Computed with TF Text's own ops, the ones keras-hub runs, so the table
    agrees with them character by character (same Unicode version).
    """
    import tensorflow as tf
    import tensorflow_text

    points = np.array([c for c in range(0x110000) if not 0xD800 <= c < 0xE000], np.int32)
    ragged = tf.RaggedTensor.from_row_lengths(points, np.ones(len(points), np.int64))
    characters = tf.strings.unicode_encode(ragged, "UTF-8")
    if kind == "NFD":
        images = tensorflow_text.normalize_utf8(characters, "NFD")
        images = tf.strings.regex_replace(images, r"\p{Mn}", "")
        if compose:  # NFKC folding recomposes what is left (Hangul jamo, a few Indic vowels)
            images = tensorflow_text.normalize_utf8(images, "NFC")
    else:
        images = tensorflow_text.case_fold_utf8(characters)
    characters, images = characters.numpy(), images.numpy()
    changed = characters != images
    return characters[changed].tolist(), images[changed].tolist()


def is_word_piece(tokenizer):
    """Whether `tokenizer` is a keras-hub WordPiece tokenizer (BERT, DistilBERT, ...)."""
    return any(cls.__name__ == "WordPieceTokenizer" for cls in type(tokenizer).__mro__)


@contextlib.contextmanager
def core_tensorflow_tokenizers(model):
    """Within the block, every WordPiece `TokenPacker` in `model` runs as a `WordPiecePacker`.

    Yields `(replacements, others)`: the `WordPiecePacker` layers to track in
    the export archive, and the packers left on TF Text (byte-level BPE:
    RoBERTa, GPT-2). The model is restored on exit.
    """
    packers = _token_packers(model)
    replacements, others = [], []
    for packer in packers:
        if is_word_piece(packer.tokenizer):
            twin = WordPiecePacker.from_tokenizer(
                packer.tokenizer, packer.sequence_length, name=f"{packer.name}_core"
            )
            packer.call = twin.call  # an instance attribute: Layer.__call__ runs it
            replacements.append(twin)
        else:
            others.append(packer)
    try:
        yield replacements, others
    finally:
        for packer in packers:
            packer.__dict__.pop("call", None)


def needs_tensorflow_text(model):
    """Whether an export of `model` still holds TF Text ops (a non-WordPiece tokenizer)."""
    return any(not is_word_piece(packer.tokenizer) for packer in _token_packers(model))


def _token_packers(model):
    layers = model._flatten_layers(include_self=False, recursive=True)
    return [layer for layer in layers if isinstance(layer, TokenPacker)]
