"""Graph batches as one disjoint union: node features, an edge list, node -> graph ids.

A batch of graphs is one big graph whose components are the examples, so a
GNN layer runs once per batch with gathers and segment sums over the edge list.
Memory grows with nodes + edges; there is never a dense N x N adjacency.

A batch is a dict of four arrays:

- `"node_features"`: float32 `(num_nodes, feature_dim)`, the graphs' nodes one
  after the other.
- `"edge_index"`: int32 `(2, num_edges)`: row 0 the sender (source) node, row 1
  the receiver (target) node, both indices into the batch's nodes.
- `"graph_ids"`: int32 `(num_nodes,)`: which graph of the batch each node is in,
  `0 .. num_graphs - 1`.
- `"graph_sizes"`: int32 `(num_graphs,)`: nodes per graph. Its length is the
  number of graphs as a *shape*, which a compiled step can use as a static
  segment count (a jitted JAX step cannot read it from the values of
  `graph_ids`).
"""

import numpy as np

NODE_FEATURES = "node_features"
EDGE_INDEX = "edge_index"
GRAPH_IDS = "graph_ids"
GRAPH_SIZES = "graph_sizes"


def from_networkx(graph, node_features=None):
    """Converts a NetworkX graph to a single-graph dict (nodes in `graph.nodes` order).

    An undirected graph gets each edge in both directions, so that messages
    flow both ways; a directed graph keeps its direction.

    Args:
        graph: a `networkx.Graph` or `networkx.DiGraph`.
        node_features: the name of a node attribute holding a vector (or a
            number), an array `(num_nodes, feature_dim)`, or `None` for one
            constant feature per node. Defaults to `None`.

    Returns:
        A dict with `"node_features"` `(n, f)` float32 and `"edge_index"`
        `(2, e)` int32.

    Example:

    ```python
    graph = from_networkx(networkx.karate_club_graph())
    graph["edge_index"].shape  # (2, 156)
    ```
    """
    nodes = list(graph.nodes)
    position = {node: i for i, node in enumerate(nodes)}
    if node_features is None:
        features = np.ones((len(nodes), 1), "float32")
    elif isinstance(node_features, str):
        missing = [n for n in nodes if node_features not in graph.nodes[n]]
        if missing:
            raise ValueError(
                f"Some nodes lack the attribute {node_features!r}. Received: "
                f"node_features={node_features!r}; first nodes without it: {missing[:5]}"
            )
        features = np.stack([np.atleast_1d(graph.nodes[n][node_features]) for n in nodes]).astype(
            "float32"
        )
    else:
        features = np.asarray(node_features, "float32")
    edges = [(position[u], position[v]) for u, v in graph.edges]
    edge_index = np.asarray(edges, "int32").reshape(-1, 2).T
    if not graph.is_directed():
        edge_index = np.concatenate([edge_index, edge_index[::-1]], axis=1)
    return {NODE_FEATURES: features, EDGE_INDEX: _check_graph(features, edge_index)}


def batch_graphs(graphs):
    """Merges graphs into one disjoint-union batch (see the module docstring).

    Args:
        graphs: a list of dicts with `"node_features"` `(n_i, f)` and
            `"edge_index"` `(2, e_i)` (as from `from_networkx`).

    Returns:
        A dict with `"node_features"`, `"edge_index"`, `"graph_ids"` and
        `"graph_sizes"`.

    Example:

    ```python
    batch = batch_graphs([from_networkx(g) for g in graphs])
    embeddings = backbone(batch)  # (total nodes, hidden_dim)
    ```
    """
    if not graphs:
        raise ValueError(f"batch_graphs needs at least one graph. Received: graphs={graphs!r}")
    features = [np.asarray(g[NODE_FEATURES], "float32") for g in graphs]
    edges = [np.asarray(g[EDGE_INDEX], "int32").reshape(2, -1) for g in graphs]
    for f, e in zip(features, edges, strict=True):
        _check_graph(f, e)
    sizes = np.array([len(f) for f in features])
    # Each graph's node indices move past the nodes of the graphs before it.
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype("int32")
    return {
        NODE_FEATURES: np.concatenate(features),
        EDGE_INDEX: np.concatenate([e + o for e, o in zip(edges, offsets, strict=True)], axis=1),
        GRAPH_IDS: np.repeat(np.arange(len(graphs), dtype="int32"), sizes),
        GRAPH_SIZES: sizes.astype("int32"),
    }


def unbatch_graphs(batch):
    """Splits a disjoint-union batch back into single-graph dicts (inverse of `batch_graphs`).

    Assumes the batch's nodes are grouped by graph in order, as `batch_graphs`
    and `graph_dataset` lay them out.
    """
    graph_ids = np.asarray(batch[GRAPH_IDS])
    edge_index = np.asarray(batch[EDGE_INDEX])
    num_graphs = int(graph_ids.max()) + 1 if len(graph_ids) else 0
    starts = np.searchsorted(graph_ids, np.arange(num_graphs + 1))
    edge_graph = graph_ids[edge_index[0]]
    return [
        {
            NODE_FEATURES: np.asarray(batch[NODE_FEATURES])[starts[g] : starts[g + 1]],
            EDGE_INDEX: edge_index[:, edge_graph == g] - starts[g],
        }
        for g in range(num_graphs)
    ]


def graph_dataset(graphs, labels=None, batch_size=32, shuffle=False, seed=None):
    """A `tf.data.Dataset` of disjoint-union batches, batched inside the pipeline.

    The graphs are stored once as ragged tensors; `ragged_batch` groups them
    and a vectorised map shifts edge indices and writes graph ids, so a batch
    costs O(nodes + edges) and no Python loop runs per graph.

    Args:
        graphs: a list of single-graph dicts (see `from_networkx`).
        labels: `None`, one label per graph (an array `(num_graphs, ...)`), or
            one array of node labels per graph (a list of `(n_i, ...)` arrays),
            concatenated in each batch to match the nodes. Defaults to `None`.
        batch_size: graphs per batch. Defaults to `32`.
        shuffle: reshuffle the graphs each epoch. Defaults to `False`.
        seed: shuffle seed. Defaults to `None`.

    Returns:
        A dataset of batch dicts, or of `(batch, labels)` pairs.

    Example:

    ```python
    train = graph_dataset(graphs, labels, batch_size=64, shuffle=True)
    model = tlkeras.build("gin", head="graph_classifier", num_classes=2, input_dim=7)
    model.fit(train, epochs=10)
    ```
    """
    import tensorflow as tf  # the pipeline needs tf.data; the layers do not

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1. Received: batch_size={batch_size!r}")
    if not graphs:
        raise ValueError(f"graph_dataset needs at least one graph. Received: graphs={graphs!r}")
    features = [np.asarray(g[NODE_FEATURES], "float32") for g in graphs]
    edges = [np.asarray(g[EDGE_INDEX], "int32").reshape(2, -1).T for g in graphs]
    elements = {
        NODE_FEATURES: tf.RaggedTensor.from_row_lengths(
            np.concatenate(features), [len(f) for f in features]
        ),
        EDGE_INDEX: tf.RaggedTensor.from_row_lengths(
            np.concatenate(edges), [len(e) for e in edges]
        ),
    }
    node_labels = labels is not None and _is_per_node(labels, features)
    if labels is not None:
        if node_labels:
            elements["labels"] = tf.RaggedTensor.from_row_lengths(
                np.concatenate(labels), [len(y) for y in labels]
            )
        else:
            labels = np.asarray(labels)
            if len(labels) != len(graphs):
                raise ValueError(
                    f"Expected one label per graph ({len(graphs)}) or one array of node "
                    f"labels per graph. Received: labels of length {len(labels)}"
                )
            elements["labels"] = labels
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        dataset = dataset.shuffle(len(graphs), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.ragged_batch(batch_size)

    def merge(element):
        nodes, edge_rows = element[NODE_FEATURES], element[EDGE_INDEX]
        offsets = tf.cast(nodes.row_starts(), "int32")
        edge_offsets = tf.gather(offsets, edge_rows.value_rowids())
        batch = {
            NODE_FEATURES: nodes.flat_values,
            EDGE_INDEX: tf.transpose(edge_rows.flat_values + edge_offsets[:, None]),
            GRAPH_IDS: tf.cast(nodes.value_rowids(), "int32"),
            GRAPH_SIZES: tf.cast(nodes.row_lengths(), "int32"),
        }
        if "labels" not in element:
            return batch
        y = element["labels"]
        return batch, (y.flat_values if node_labels else y)

    return dataset.map(merge, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _is_per_node(labels, features):
    """Node labels are one array per graph, as long as that graph has nodes."""
    if isinstance(labels, np.ndarray) and labels.dtype != object:
        return False  # a regular array holds one label (or label vector) per graph
    return len(labels) == len(features) and all(
        np.ndim(y) >= 1 and len(y) == len(f) for y, f in zip(labels, features, strict=True)
    )


def _check_graph(features, edge_index):
    if features.ndim != 2:
        raise ValueError(
            f"node_features must be (num_nodes, feature_dim). Received: shape {features.shape}"
        )
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be (2, num_edges). Received: shape {edge_index.shape}")
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= len(features)):
        raise ValueError(
            f"edge_index refers to nodes outside 0..{len(features) - 1}. Received: "
            f"min {edge_index.min()}, max {edge_index.max()}"
        )
    return edge_index


def node_dataset(graph, labels, sample_weight=None):
    """A one-batch `tf.data.Dataset` for full-graph (transductive) node tasks.

    Every step sees the whole graph; `sample_weight` 0 hides a node's label
    from the loss and the metrics, which is how a few-label (semi-supervised)
    split trains and is evaluated.

    Args:
        graph: a single-graph dict (see `from_networkx`) or a batch dict.
        labels: one label per node, `(num_nodes, ...)`.
        sample_weight: optional `(num_nodes,)` weights, e.g. a 0/1 train mask.
            Defaults to `None`.

    Returns:
        A dataset with one `(batch, labels[, sample_weight])` element.

    Example:

    ```python
    model.fit(node_dataset(graph, labels, train_mask).repeat(), steps_per_epoch=1, epochs=100)
    model.evaluate(node_dataset(graph, labels, test_mask))
    ```
    """
    import tensorflow as tf

    batch = graph if GRAPH_IDS in graph else batch_graphs([graph])
    labels = np.asarray(labels)
    if len(labels) != len(batch[NODE_FEATURES]):
        raise ValueError(
            f"Expected one label per node ({len(batch[NODE_FEATURES])}). "
            f"Received: labels of length {len(labels)}"
        )
    element = (batch, labels) if sample_weight is None else (batch, labels, sample_weight)
    return tf.data.Dataset.from_tensors(element)


def graph_dataset_fn(graphs, batch_size=32):
    """A `dataset_fn` for `tlkeras.compare()` whose `x` is indices into `graphs`.

    compare() slices `x` by example, which a list of graphs of different sizes
    is not; an int array of graph indices is. The returned function turns the
    indices (and labels) compare() chose into a `graph_dataset`, shuffled
    with the run's seed when training.

    Args:
        graphs: a list of single-graph dicts (see `from_networkx`).
        batch_size: graphs per batch. Defaults to `32`.

    Returns:
        `dataset_fn(x, y, training=False, seed=None)`.

    Example:

    ```python
    results = tlkeras.compare(
        configs, (np.arange(len(train_graphs)), train_labels),
        (np.arange(len(train_graphs), len(graphs)), test_labels),
        dataset_fn=graph_dataset_fn(train_graphs + test_graphs), backbone="gin",
        head="graph_classifier", input_dim=10, shots=(2, 5), epochs=60,
    )
    ```
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1. Received: batch_size={batch_size!r}")

    def dataset_fn(x, y, training=False, seed=None):
        chosen = [graphs[int(i)] for i in np.asarray(x).ravel()]
        return graph_dataset(chosen, y, batch_size=batch_size, shuffle=training, seed=seed)

    return dataset_fn


def node_dataset_fn(x, y, training=False, seed=None, sample_weight=None):
    """`dataset_fn` for `tlkeras.compare(..., transductive=True)` on one graph.

    compare() chooses the labelled, validation and test nodes as 0/1 masks
    over the nodes and passes the whole graph with each mask; this gives the
    full graph as one batch (`node_dataset`), so one epoch is one full-batch
    step. `training` and `seed` change nothing: a single batch has no order
    to shuffle.

    Args:
        x: a single-graph dict (or batch dict).
        y: one label per node.
        training: whether the dataset is for `fit`. Defaults to `False`.
        seed: the run's seed. Defaults to `None`.
        sample_weight: the `(num_nodes,)` mask of the nodes this set uses.
            Defaults to `None`.

    Example:

    ```python
    results = tlkeras.compare(
        {"scratch": dict(weights=None), "pretrained": dict(weights=path, freeze=False)},
        (graph, labels), test_nodes, transductive=True, dataset_fn=node_dataset_fn,
        backbone="gcn", head="node_classifier", input_dim=64, shots=(2, 10), epochs=100,
    )
    ```
    """
    return node_dataset(x, y, sample_weight)


def induced_subgraph(graph, nodes):
    """The subgraph on `nodes` (sorted, unique) with the edges among them, renumbered.

    Example:

    ```python
    sub = induced_subgraph(graph, np.arange(1000))
    ```
    """
    nodes = np.unique(np.asarray(nodes))
    position = np.full(len(graph[NODE_FEATURES]), -1, "int64")
    position[nodes] = np.arange(len(nodes))
    edges = position[np.asarray(graph[EDGE_INDEX])]
    return {
        NODE_FEATURES: np.asarray(graph[NODE_FEATURES])[nodes],
        EDGE_INDEX: edges[:, (edges >= 0).all(axis=0)].astype("int32"),
    }
