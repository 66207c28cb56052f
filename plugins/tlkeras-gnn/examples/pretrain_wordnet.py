"""Graph pre-training on WordNet: attribute masking, then few-label fine-tuning vs scratch.

    python plugins/tlkeras-gnn/examples/pretrain_wordnet.py                 # full graph
    python plugins/tlkeras-gnn/examples/pretrain_wordnet.py --seeds 3000    # a subgraph

Pre-training sees the graph without labels (Hu et al. 2020: self-supervised
attribute masking); then, for each label budget and seed, the same
architecture trains from the pretrained weights (fine-tuned, or frozen with
only the head training) and from scratch, with the same epochs and
optimizer, and is scored on every unlabelled node.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from node_classification import load  # noqa: E402
from tlkeras_gnn import AttributeMasking  # noqa: E402
from tlkeras_gnn import node_dataset  # noqa: E402
from tlkeras_gnn.datasets import few_label_split  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.builder import get_backbone  # noqa: E402


def pretrain(graph, args, path):
    keras.utils.set_random_seed(0)
    backbone = get_backbone(args.backbone, weights=None, **_architecture(graph, args))
    pretrainer = AttributeMasking(backbone, mask_rate=args.mask_rate, seed=0)
    pretrainer.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    unlabelled = node_dataset(graph, np.zeros(len(graph["node_features"]))).map(lambda x, y: x)
    history = pretrainer.fit(
        unlabelled.cache().repeat(), steps_per_epoch=1, epochs=args.pretrain_epochs, verbose=0
    )
    backbone.save_weights(path)
    return history.history["loss"]


def _architecture(graph, args):
    return dict(
        input_dim=graph["node_features"].shape[1],
        hidden_dim=args.hidden_dim,
        num_layers=args.layers,
        dropout=args.dropout,
    )


def fine_tune(graph, labels, train, args, seed, weights, freeze):
    keras.utils.set_random_seed(seed)
    model = tlkeras.build(
        args.backbone,
        head="node_classifier",
        num_classes=int(labels.max()) + 1,
        weights=weights,
        freeze=freeze,
        **_architecture(graph, args),
    )
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    data = node_dataset(graph, labels, train).cache().repeat()
    model.fit(data, steps_per_epoch=1, epochs=args.epochs, verbose=0)
    return model.evaluate(node_dataset(graph, labels, 1.0 - train), verbose=0)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="wordnet", choices=["wordnet", "karate"])
    parser.add_argument("--backbone", default="gcn", choices=["gcn", "graphsage", "gin"])
    parser.add_argument("--seeds", type=int, default=0, help="sample a subgraph around N seeds")
    parser.add_argument("--feature-dim", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--mask-rate", type=float, default=0.15)
    parser.add_argument("--pretrain-epochs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--per-class", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    graph, labels = load(args)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"{args.backbone}.weights.h5")
        losses = pretrain(graph, args, path)
        print(
            f"{args.dataset}: {len(labels):,} nodes, {graph['edge_index'].shape[1]:,} directed "
            f"edges; attribute masking loss {losses[0]:.3f} -> {losses[-1]:.3f} "
            f"in {args.pretrain_epochs} epochs [{time.perf_counter() - start:.0f} s]"
        )
        configs = {
            "scratch": (None, False),
            "pretrained, fine-tuned": (path, False),
            "pretrained, frozen (head only)": (path, True),
        }
        print(f"\n| labels per class | {' | '.join(configs)} |")
        print("|---|" + "---|" * len(configs))
        for per_class in args.per_class:
            cells = []
            for weights, freeze in configs.values():
                scores = [
                    fine_tune(
                        graph,
                        labels,
                        few_label_split(labels, per_class, seed=run),
                        args,
                        run,
                        weights,
                        freeze,
                    )
                    for run in range(args.runs)
                ]
                cells.append(f"{np.mean(scores):.3f} +- {np.std(scores):.3f}")
            print(f"| {per_class} | {' | '.join(cells)} |", flush=True)
    print(
        f"\n{args.runs} seeds (label split + init) per cell; {args.backbone}, {args.layers} "
        f"layers x {args.hidden_dim}, {args.epochs} epochs [{time.perf_counter() - start:.0f} s]"
    )


if __name__ == "__main__":
    main()
