"""Does graph pre-training transfer? WordNet node classification with few labels, via compare().

    python bench/gnn_pretrain_transfer.py                 # 17 min on 2 CPU cores shared with other jobs
    python bench/gnn_pretrain_transfer.py --seeds 0 1 2 --num-seeds 5000

A WordNet subgraph (random synsets plus all their neighbours) is the one input
of every run. A GCN is pre-trained once by attribute masking on that graph
with no labels (Hu et al. 2020, self-supervised); then `tlkeras.compare(...,
transductive=True)` trains the same architecture from scratch, from the
pretrained weights (fine-tuned) and from the pretrained weights frozen (head
only), with the same budget, on `k` labelled nodes per class drawn by compare()
(nested across `k`, shared by every configuration of a seed), and scores each
run on one fixed held-out half of the labelled nodes. Classes with too few
nodes in the subgraph to give both a test half and `k` training nodes are
marked unlabelled (-1): their nodes stay in the graph but are never trained
on or scored.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.builder import get_backbone  # noqa: E402
from tlkeras.evaluation.splits import subset_indices  # noqa: E402

# The protocol these numbers were measured under (epochs, hand-set rates, no validation
# split); not rerun under compare()'s step budget and grid (see docs/evaluation.md).
OLD_PROTOCOL = dict(tune=None, validation_split=0.0, early_stopping=None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-seeds", type=int, default=3000, help="subgraph: N random synsets")
    parser.add_argument("--feature-dim", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--mask-rate", type=float, default=0.15)
    parser.add_argument("--pretrain-epochs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--shots", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--csv", default=None, help="also write the compare() DataFrame here")
    args = parser.parse_args()

    from tlkeras_gnn import AttributeMasking
    from tlkeras_gnn import node_dataset
    from tlkeras_gnn import node_dataset_fn
    from tlkeras_gnn.datasets import neighbourhood_sample
    from tlkeras_gnn.datasets import wordnet_graph

    start = time.perf_counter()
    graph, labels = neighbourhood_sample(
        *wordnet_graph(feature_dim=args.feature_dim), num_seeds=args.num_seeds, seed=0
    )
    labels, test_nodes, kept = _labelled_split(labels, max(args.shots))
    architecture = dict(
        input_dim=args.feature_dim,
        hidden_dim=args.hidden_dim,
        num_layers=args.layers,
        dropout=args.dropout,
    )
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "gcn_wordnet.weights.h5")
        # Self-supervised: the graph only, no labels; one pre-training shared by all seeds.
        keras.utils.set_random_seed(0)
        backbone = get_backbone("gcn", weights=None, **architecture)
        pretrainer = AttributeMasking(backbone, mask_rate=args.mask_rate, seed=0)
        pretrainer.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
        unlabelled = node_dataset(graph, np.zeros(len(labels))).map(lambda x, y: x)
        losses = pretrainer.fit(
            unlabelled.cache().repeat(), steps_per_epoch=1, epochs=args.pretrain_epochs, verbose=0
        ).history["loss"]
        backbone.save_weights(path)
        pretrain_time = time.perf_counter() - start
        print(
            f"WordNet subgraph: {len(labels):,} nodes, {graph['edge_index'].shape[1]:,} directed "
            f"edges; {len(kept)} of 45 supersenses labelled ({int(np.sum(labels >= 0)):,} nodes), "
            f"{len(test_nodes):,} test nodes. Attribute masking loss {losses[0]:.3f} -> "
            f"{losses[-1]:.3f} in {args.pretrain_epochs} epochs [{pretrain_time:.0f} s]",
            flush=True,
        )
        rate = args.learning_rate
        results = tlkeras.compare(
            {
                "scratch": dict(weights=None, freeze=False, learning_rate=rate),
                "pretrained_fine_tuned": dict(weights=path, freeze=False, learning_rate=rate),
                "pretrained_frozen": dict(weights=path, freeze=True, learning_rate=rate),
            },
            (graph, labels),
            test_nodes,
            transductive=True,
            dataset_fn=node_dataset_fn,
            backbone="gcn",
            head="node_classifier",
            num_classes=45,
            shots=args.shots,
            seeds=args.seeds,
            epochs=args.epochs,
            baselines=None,
            **OLD_PROTOCOL,
            **architecture,
        )
    if args.csv:
        results.to_csv(args.csv, index=False)
    table = (
        results[results["metric"] == "accuracy"]
        .groupby(["shots", "config"])["value"]
        .agg(["mean", "std", "count"])
    )
    print(f"\naccuracy on the {len(test_nodes):,} test nodes (mean, std over seeds):")
    print(table.round(3).to_string())
    scratch = table.xs("scratch", level="config")["mean"]
    gain = table.xs("pretrained_fine_tuned", level="config")["mean"] - scratch
    print("\nfine-tuned - scratch (points):", {int(k): round(100 * v, 1) for k, v in gain.items()})
    print(
        f"{len(args.seeds)} seeds; gcn {args.layers} x {args.hidden_dim}, {args.epochs} "
        f"full-batch epochs, Adam {rate} [{time.perf_counter() - start:.0f} s total]"
    )


def _labelled_split(labels, max_shots):
    """Labels with too-small classes unlabelled (-1), a stratified test half, the kept classes."""
    counts = np.bincount(labels, minlength=45)
    # A class needs max_shots training nodes left after giving half its nodes to the test set.
    kept = np.flatnonzero(counts >= 2 * max_shots)
    labels = np.where(np.isin(labels, kept), labels, -1)
    labelled = np.flatnonzero(labels >= 0)
    test_nodes = subset_indices(labels, labelled, fraction=0.5, seed=12345)
    return labels, test_nodes, kept


if __name__ == "__main__":
    main()
