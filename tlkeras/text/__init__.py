"""Text transfer: word vectors, masked-language-model continued pre-training.

- `load_word_vectors` / `save_word_vectors`: word2vec (text, binary) and GloVe
  files as `WordVectors`, with `coverage(texts)`; the `"word_vectors"`
  backbone turns them into a Keras `Embedding`.
- `continue_pretraining`: domain-adaptive masked-LM pre-training of a BERT
  backbone on unlabeled text, before `tlkeras.build` fine-tunes it.
"""

from tlkeras.text.masked_lm import continue_pretraining
from tlkeras.text.word_vectors import WordVectors
from tlkeras.text.word_vectors import load_word_vectors
from tlkeras.text.word_vectors import save_word_vectors
from tlkeras.text.word_vectors import split_words

__all__ = [
    "WordVectors",
    "continue_pretraining",
    "load_word_vectors",
    "save_word_vectors",
    "split_words",
]
