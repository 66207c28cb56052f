"""Graph-level contrastive pre-training, then few-label graph classification vs scratch.

    python plugins/tlkeras-gnn/examples/pretrain_graphcl.py

Synthetic NetworkX graphs of three generators with matched size and density
(Erdos-Renyi, Barabasi-Albert, Watts-Strogatz; node features one-hot of the
capped degree). `GraphContrastive` pre-trains a GIN backbone on unlabelled
graphs; then, for each seed, the same architecture trains a graph classifier
on `--per-class` labelled graphs per class from the pretrained weights
(fine-tuned) and from scratch, with the same epochs and optimizer, and is
scored on held-out graphs.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
from tlkeras_gnn import GraphContrastive  # noqa: E402
from tlkeras_gnn import from_networkx  # noqa: E402
from tlkeras_gnn import graph_dataset  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.builder import get_backbone  # noqa: E402

FEATURE_DIM = 10


def make_graphs(count, seed):
    """`count` graphs of 12-30 nodes and their generator labels (0 ER, 1 BA, 2 WS)."""
    rng = np.random.default_rng(seed)
    graphs, labels = [], []
    for i in range(count):
        n, label, s = int(rng.integers(12, 31)), i % 3, int(rng.integers(1 << 30))
        if label == 0:
            graph = nx.gnp_random_graph(n, 4.0 / (n - 1), seed=s)
        elif label == 1:
            graph = nx.barabasi_albert_graph(n, 2, seed=s)
        else:
            graph = nx.watts_strogatz_graph(n, 4, 0.2, seed=s)
        degree = np.minimum([d for _, d in graph.degree()], FEATURE_DIM - 1)
        graphs.append(from_networkx(graph, np.eye(FEATURE_DIM, dtype="float32")[degree]))
        labels.append(label)
    return graphs, np.asarray(labels)


def build(weights):
    return tlkeras.build(
        "gin",
        head="graph_classifier",
        num_classes=3,
        input_dim=FEATURE_DIM,
        hidden_dim=32,
        weights=weights,
        freeze=False,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--unlabelled", type=int, default=600)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--per-class", type=int, default=5)
    parser.add_argument("--finetune-epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    unlabelled, _ = make_graphs(args.unlabelled, seed=1)
    pool, pool_labels = make_graphs(300, seed=2)
    test, test_labels = make_graphs(300, seed=3)
    test_data = graph_dataset(test, test_labels, batch_size=100)

    keras.utils.set_random_seed(0)
    backbone = get_backbone("gin", input_dim=FEATURE_DIM, hidden_dim=32, weights=None)
    pretrainer = GraphContrastive(backbone, projection_dim=32, seed=0)
    pretrainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    start = time.perf_counter()
    data = graph_dataset(unlabelled, batch_size=64, shuffle=True, seed=0)
    loss = pretrainer.fit(data, epochs=args.pretrain_epochs, verbose=0).history["loss"]
    print(
        f"pre-training: {args.unlabelled} unlabelled graphs, {args.pretrain_epochs} epochs, "
        f"NT-Xent {loss[0]:.3f} -> {loss[-1]:.3f}, {time.perf_counter() - start:.0f} s"
    )
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "gin_graphcl.weights.h5")
    backbone.save_weights(path)

    results = {"graphcl": [], "scratch": []}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        chosen = np.concatenate(
            [
                rng.choice(np.flatnonzero(pool_labels == c), args.per_class, replace=False)
                for c in range(3)
            ]
        )
        train = graph_dataset(
            [pool[i] for i in chosen], pool_labels[chosen], batch_size=len(chosen)
        )
        for name, weights in [("graphcl", path), ("scratch", None)]:
            keras.utils.set_random_seed(100 + seed)
            model = build(weights)
            model.compile(
                optimizer=keras.optimizers.Adam(1e-2),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            model.fit(train, epochs=args.finetune_epochs, verbose=0)
            accuracy = model.evaluate(test_data, verbose=0, return_dict=True)["accuracy"]
            results[name].append(accuracy)
            print(f"seed {seed} {name:8s} test accuracy {accuracy:.3f}")
    for name, scores in results.items():
        print(f"{name:8s} {np.mean(scores):.3f} +- {np.std(scores):.3f} over {args.seeds} seeds")


if __name__ == "__main__":
    main()
