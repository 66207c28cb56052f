"""Text transfer: word vectors, masked-LM and next-token continued pre-training.

- `load_word_vectors` / `save_word_vectors`: word2vec (text, binary) and GloVe
  files as `WordVectors`, with `coverage(texts)` (re-exported from
  `tlkeras.weights.word_vectors`, their one home); the `"word_vectors"`
  backbone turns them into a Keras `Embedding`.
- `continue_pretraining`: domain-adaptive language-model pre-training on
  unlabeled text (masked LM for BERT-like backbones, next-token for GPT-2),
  before `tlkeras.build` fine-tunes it; `LanguageModelPretrainer` is the
  `"masked_lm"` / `"next_token"` objective of `tlkeras.pretrain`.
"""

from tlkeras.text.continued_pretraining import continue_pretraining
from tlkeras.text.language_model_pretrainer import LanguageModelPretrainer
from tlkeras.weights.word_vectors import WordVectors
from tlkeras.weights.word_vectors import load_word_vectors
from tlkeras.weights.word_vectors import save_word_vectors
from tlkeras.weights.word_vectors import split_words

__all__ = [
    "LanguageModelPretrainer",
    "WordVectors",
    "continue_pretraining",
    "load_word_vectors",
    "save_word_vectors",
    "split_words",
]
