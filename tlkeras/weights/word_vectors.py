"""Pre-trained word vectors (word2vec / GloVe) read from text or binary files."""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlkeras.errors import WeightsError

# What `keras.layers.TextVectorization(standardize="lower_and_strip_punctuation")`
# does to a text, so coverage counts the tokens the backbone will look up.
_PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']")


def split_words(text):
    """Lower-cases, strips punctuation and splits on whitespace (the backbone's tokenizer)."""
    return _PUNCTUATION.sub("", text.lower()).split()


@dataclass
class WordVectors:
    """Words and their vectors, in file order (most frequent first in the usual files).

    Attributes:
        words: list of `n` words.
        vectors: float32 array of shape `(n, dim)`.
    """

    words: list
    vectors: np.ndarray

    @property
    def dim(self):
        return int(self.vectors.shape[1])

    def __len__(self):
        return len(self.words)

    def coverage(self, texts):
        """How much of `texts` these vectors cover, after the backbone's word splitting.

        Returns:
            A dict: `tokens` (fraction of running words with a vector),
            `types` (fraction of distinct words), `missing` (the 10 most
            frequent words with no vector).
        """
        known = set(self.words)
        counts = {}
        for text in texts:
            for word in split_words(text):
                counts[word] = counts.get(word, 0) + 1
        total = sum(counts.values())
        if not total:
            return {"tokens": 0.0, "types": 0.0, "missing": []}
        covered = sum(n for w, n in counts.items() if w in known)
        missing = sorted((w for w in counts if w not in known), key=lambda w: -counts[w])
        return {
            "tokens": covered / total,
            "types": sum(w in known for w in counts) / len(counts),
            "missing": missing[:10],
        }

    def to_matrix(self, vocabulary, seed=0):
        """Rows for `vocabulary`; words with no vector get random rows of the same scale.

        Returns:
            `(matrix, found)`: a float32 `(len(vocabulary), dim)` array and the
            number of vocabulary words that had a vector.
        """
        index = {word: i for i, word in enumerate(self.words)}
        scale = float(self.vectors.std()) or 1.0
        rng = np.random.default_rng(seed)
        matrix = rng.normal(0.0, scale, size=(len(vocabulary), self.dim)).astype("float32")
        found = 0
        for row, word in enumerate(vocabulary):
            if word in index:
                matrix[row] = self.vectors[index[word]]
                found += 1
        return matrix, found


def load_word_vectors(path, binary=None, limit=None):
    """Reads a word2vec (text or binary) or GloVe (text, no header) file.

    Args:
        path: the file.
        binary: `True` for word2vec's binary format. Defaults to `None`:
            binary when the name ends in `.bin`.
        limit: read at most this many words (files list frequent words first).
            Defaults to `None` (all).

    Returns:
        A `WordVectors`.

    Example:

    ```python
    vectors = load_word_vectors("glove.6B.100d.txt", limit=50_000)
    vectors.coverage(["the first sentence", "a second one"])
    ```
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"No word-vector file at that path. Received: path={str(path)!r}")
    if binary is None:
        binary = path.suffix == ".bin"
    words, rows = (_read_binary if binary else _read_text)(path, limit)
    if not words:
        raise WeightsError(f"The word-vector file holds no vectors. Received: path={str(path)!r}")
    return WordVectors(words=words, vectors=np.asarray(rows, dtype="float32"))


def _read_text(path, limit):
    words, rows, dim = [], [], None
    with open(path, encoding="utf-8", errors="replace") as file:
        for line_number, line in enumerate(file, start=1):
            parts = line.rstrip().split(" ")
            if line_number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec's "count dim" header; GloVe has none
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise WeightsError(
                    f"Line {line_number} of {str(path)!r} has {len(parts) - 1} numbers; "
                    f"the first vector has {dim}. Received: path={str(path)!r}"
                )
            words.append(parts[0])
            rows.append(_text_row(parts, line_number, path))
            if limit is not None and len(words) >= limit:
                break
    return words, rows


def _text_row(parts, line_number, path):
    try:
        return np.asarray(parts[1:], dtype="float32")
    except ValueError:
        bad = next((p for p in parts[1:] if not _is_float(p)), parts[1])
        raise WeightsError(
            f"Line {line_number} of {str(path)!r} holds a value that is not a number: "
            f"{bad[:40]!r} (word {parts[0][:40]!r}). Received: path={str(path)!r}"
        ) from None


def _is_float(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


# A word in word2vec's binary format ends at a space; longer ones are not words.
_MAX_WORD_BYTES = 1000


def check_binary_header(header, path, file_size, limit=None):
    """`(count, dim)` from a word2vec binary header line, checked against the file's size.

    Refuses a header that is not two non-negative integers, or that declares
    more bytes than the file holds (each vector takes at least `4 * dim + 2`
    bytes: a one-byte word, a space, the floats), before anything is
    allocated for it.

    Args:
        header: the first line, as bytes.
        path: the file, for the error message.
        file_size: the file's size in bytes.
        limit: the most vectors that will be read, or `None` for all.

    Returns:
        `(count, dim)`, `count` already capped by `limit`.
    """
    fields = header.split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields):
        raise WeightsError(
            "Not a word2vec binary file: the first line must be 'count dim', two non-negative "
            f"integers. Received: header={header[:80]!r}, path={str(path)!r}"
        )
    count, dim = int(fields[0]), int(fields[1])
    count = count if limit is None else min(count, limit)
    needed = count * (4 * dim + 2) + len(header)
    if dim == 0 or needed > file_size:
        raise WeightsError(
            f"The header of {str(path)!r} declares {count} vectors of {dim} dims, at least "
            f"{needed} bytes, but the file holds {file_size} bytes. "
            f"Received: header={header[:80]!r}, path={str(path)!r}"
        )
    return count, dim


def _read_binary(path, limit):
    with open(path, "rb") as file:
        header = file.readline(200)
        count, dim = check_binary_header(header, path, path.stat().st_size, limit)
        words, rows = [], []
        for _ in range(count):
            word = bytearray()
            while (char := file.read(1)) not in (b" ", b""):
                if char != b"\n":  # some writers end each vector with a newline
                    word.extend(char)
                if len(word) > _MAX_WORD_BYTES:
                    raise WeightsError(
                        f"Word {len(words) + 1} of {str(path)!r} runs past {_MAX_WORD_BYTES} "
                        f"bytes with no space: not a word2vec binary file. "
                        f"Received: path={str(path)!r}"
                    )
            data = file.read(4 * dim)
            if len(data) != 4 * dim:
                raise WeightsError(
                    f"{str(path)!r} ends after {len(words)} of {count} vectors. "
                    f"Received: path={str(path)!r}"
                )
            words.append(word.decode("utf-8", errors="replace"))
            rows.append(np.frombuffer(data, dtype="<f4"))
    return words, rows


def save_word_vectors(vectors, path, binary=False):
    """Writes `vectors` in word2vec's text (with header) or binary format."""
    path = Path(path)
    with open(path, "wb") as file:
        file.write(f"{len(vectors)} {vectors.dim}\n".encode())
        for word, row in zip(vectors.words, vectors.vectors, strict=True):
            if binary:
                file.write(word.encode() + b" " + row.astype("<f4").tobytes() + b"\n")
            else:
                numbers = " ".join(f"{v:.6g}" for v in row)
                file.write(f"{word} {numbers}\n".encode())
    return path
