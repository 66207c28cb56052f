"""Few-label node classification on real graphs: karate club and the WordNet synset graph.

    python plugins/tlkeras-gnn/examples/node_classification.py karate
    python plugins/tlkeras-gnn/examples/node_classification.py wordnet --per-class 10
    python plugins/tlkeras-gnn/examples/node_classification.py wordnet --seeds 3000  # a subgraph

Trains full-batch (the whole graph is one batch), with `sample_weight` 0 on
every node outside the few labelled ones, and reports accuracy on all
unlabelled nodes; `--no-edges` gives the same model without message passing
(a per-node MLP baseline).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from tlkeras_gnn import node_dataset  # noqa: E402
from tlkeras_gnn.datasets import few_label_split  # noqa: E402
from tlkeras_gnn.datasets import karate_club  # noqa: E402
from tlkeras_gnn.datasets import neighbourhood_sample  # noqa: E402
from tlkeras_gnn.datasets import wordnet_graph  # noqa: E402

import tlkeras  # noqa: E402


def load(args):
    if args.dataset == "karate":
        return karate_club()
    graph, labels = wordnet_graph(feature_dim=args.feature_dim)
    if args.seeds:
        graph, labels = neighbourhood_sample(graph, labels, args.seeds)
    return graph, labels


def train_and_score(graph, labels, train, args, seed, weights=None):
    keras.utils.set_random_seed(seed)
    model = tlkeras.build(
        args.backbone,
        head="node_classifier",
        num_classes=int(labels.max()) + 1,
        input_dim=graph["node_features"].shape[1],
        hidden_dim=args.hidden_dim,
        num_layers=args.layers,
        dropout=args.dropout,
        weights=weights,
        freeze=False,
    )
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    data = node_dataset(graph, labels, train).cache().repeat()
    model.fit(data, steps_per_epoch=1, epochs=args.epochs, verbose=0)
    _, accuracy = model.evaluate(node_dataset(graph, labels, 1.0 - train), verbose=0)
    return accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=["karate", "wordnet"])
    parser.add_argument("--backbone", default="gcn", choices=["gcn", "graphsage", "gin"])
    parser.add_argument("--per-class", type=int, default=1, help="labelled nodes per class")
    parser.add_argument("--seeds", type=int, default=0, help="WordNet: sample a subgraph")
    parser.add_argument("--feature-dim", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1, help="random splits / seeds")
    parser.add_argument("--no-edges", action="store_true", help="MLP baseline")
    args = parser.parse_args()
    start = time.perf_counter()
    graph, labels = load(args)
    if args.no_edges:
        graph = dict(graph, edge_index=np.zeros((2, 0), "int32"))
    scores = []
    for run in range(args.runs):
        train = few_label_split(labels, args.per_class, seed=run)
        scores.append(train_and_score(graph, labels, train, args, seed=run))
    print(
        f"{args.dataset}: {len(labels):,} nodes, {graph['edge_index'].shape[1]:,} directed edges, "
        f"{int(labels.max()) + 1} classes; {args.backbone}{' (no edges)' if args.no_edges else ''}, "
        f"{args.per_class} labels per class -> accuracy on the unlabelled nodes "
        f"{np.mean(scores):.3f} +- {np.std(scores):.3f} over {args.runs} run(s) "
        f"[{time.perf_counter() - start:.0f} s]"
    )


if __name__ == "__main__":
    main()
