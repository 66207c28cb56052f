"""GNN throughput on CPU: graphs/s for batches of 10k-node graphs, and memory vs edges.

Question: does the disjoint-union batch scale? A batch of `--graphs` random
graphs of `--nodes` nodes each runs through a GNN backbone (forward, and one
training step with a graph classifier); each average degree runs in its own
process so that its peak resident memory is its own. If memory grows with
edges and not with nodes squared, the working memory (peak minus the process
before the first step) grows in proportion to the edge count.

Run (needs `pip install -e plugins/tlkeras-gnn`):

    python bench/gnn_throughput.py                      # gin, 4 graphs x 10k nodes, degrees 8 and 32
    python bench/gnn_throughput.py --backbone gcn --degrees 4 16 64
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # a CPU benchmark


def random_graphs(count, nodes, degree, feature_dim, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    edges = nodes * degree // 2  # undirected; stored both ways -> nodes * degree directed
    graphs = []
    for _ in range(count):
        pairs = rng.integers(0, nodes, size=(2, edges)).astype("int32")
        graphs.append(
            {
                "node_features": rng.normal(size=(nodes, feature_dim)).astype("float32"),
                "edge_index": np.concatenate([pairs, pairs[::-1]], axis=1),
            }
        )
    return graphs


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def current_rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(args):
    import numpy as np
    from tlkeras_gnn import batch_graphs

    import tlkeras

    batch = batch_graphs(random_graphs(args.graphs, args.nodes, args.degree, args.feature_dim))
    labels = np.arange(args.graphs) % 2
    model = tlkeras.build(
        args.backbone,
        head="graph_classifier",
        num_classes=2,
        input_dim=args.feature_dim,
        hidden_dim=args.hidden_dim,
        num_layers=args.layers,
    )
    forward = _compiled_forward(model)
    before = current_rss_mb()
    forward(batch)  # trace and warm up
    start = time.perf_counter()
    for _ in range(args.steps):
        np.asarray(forward(batch))
    forward_s = (time.perf_counter() - start) / args.steps

    def batches(count):
        return ((batch, labels) for _ in range(count))

    model.fit(batches(1), steps_per_epoch=1, epochs=1, verbose=0)  # trace
    start = time.perf_counter()
    model.fit(batches(args.steps), steps_per_epoch=args.steps, epochs=1, verbose=0)
    train_s = (time.perf_counter() - start) / args.steps
    print(
        json.dumps(
            {
                "degree": args.degree,
                "nodes": int(batch["node_features"].shape[0]),
                "edges": int(batch["edge_index"].shape[1]),
                "forward_graphs_per_s": args.graphs / forward_s,
                "train_graphs_per_s": args.graphs / train_s,
                "working_memory_mb": peak_rss_mb() - before,
            }
        )
    )


def _compiled_forward(model):
    # Eager calls would time Python dispatch per op; fit() compiles its step the same way.
    import keras

    if keras.backend.backend() != "tensorflow":
        return model
    import tensorflow as tf

    return tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="gin", choices=["gcn", "graphsage", "gin"])
    parser.add_argument("--graphs", type=int, default=4, help="graphs per batch")
    parser.add_argument("--nodes", type=int, default=10_000, help="nodes per graph")
    parser.add_argument("--degrees", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--feature-dim", type=int, default=32)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--degree", type=int, help=argparse.SUPPRESS)  # worker mode
    args = parser.parse_args()
    if args.degree is not None:
        return worker(args)
    rows = []
    for degree in args.degrees:
        command = [sys.executable, __file__, *sys.argv[1:], "--degree", str(degree)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    print(
        f"{args.backbone}, {args.layers} layers x {args.hidden_dim}, batch of {args.graphs} graphs "
        f"x {args.nodes} nodes, CPU ({os.cpu_count()} cores visible)"
    )
    print("| avg degree | nodes | edges | forward graphs/s | train graphs/s | working memory MB |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['degree']} | {row['nodes']:,} | {row['edges']:,} | "
            f"{row['forward_graphs_per_s']:.2f} | {row['train_graphs_per_s']:.2f} | "
            f"{row['working_memory_mb']:.0f} |"
        )
    # Linear in edges <=> a constant cost per added edge between consecutive sizes.
    slopes = [
        (b["working_memory_mb"] - a["working_memory_mb"]) * 2**20 / (b["edges"] - a["edges"])
        for a, b in zip(rows, rows[1:], strict=False)
    ]
    print(
        "working memory per added edge: "
        + ", ".join(f"{slope:.0f} B" for slope in slopes)
        + f"; a dense float32 adjacency of this batch would take "
        f"{rows[0]['nodes'] ** 2 * 4 / 2**30:.1f} GiB"
    )


if __name__ == "__main__":
    main()
