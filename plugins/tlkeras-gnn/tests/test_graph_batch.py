"""The disjoint-union batch format and its tf.data pipeline."""

import networkx as nx
import numpy as np
import pytest
from tlkeras_gnn import batch_graphs
from tlkeras_gnn import from_networkx
from tlkeras_gnn import graph_dataset
from tlkeras_gnn import graph_dataset_fn
from tlkeras_gnn import unbatch_graphs


def _graphs():
    return [
        from_networkx(nx.path_graph(3), node_features=np.arange(3.0)[:, None]),
        from_networkx(nx.cycle_graph(4), node_features=np.arange(4.0)[:, None] + 10),
        from_networkx(nx.star_graph(2), node_features=np.arange(3.0)[:, None] + 20),
    ]


def test_from_networkx_adds_both_directions_of_undirected_edges():
    graph = from_networkx(nx.path_graph(3))
    assert sorted(map(tuple, graph["edge_index"].T)) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert graph["node_features"].shape == (3, 1)
    directed = from_networkx(nx.DiGraph([(0, 1)]))
    assert directed["edge_index"].tolist() == [[0], [1]]


def test_from_networkx_reads_a_node_attribute_and_names_a_missing_one():
    graph = nx.Graph([(0, 1)])
    graph.nodes[0]["x"] = [1.0, 2.0]
    with pytest.raises(ValueError, match="'x'.*\\[1\\]"):
        from_networkx(graph, node_features="x")
    graph.nodes[1]["x"] = [3.0, 4.0]
    np.testing.assert_array_equal(from_networkx(graph, "x")["node_features"], [[1, 2], [3, 4]])


def test_batch_is_a_disjoint_union_and_unbatch_inverts_it():
    graphs = _graphs()
    batch = batch_graphs(graphs)
    assert batch["graph_ids"].tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    # Edges stay inside their graph: sender and receiver share a graph id.
    ids = batch["graph_ids"][batch["edge_index"]]
    np.testing.assert_array_equal(ids[0], ids[1])
    for original, back in zip(graphs, unbatch_graphs(batch), strict=True):
        np.testing.assert_array_equal(original["node_features"], back["node_features"])
        np.testing.assert_array_equal(original["edge_index"], back["edge_index"])


def test_tf_data_pipeline_gives_the_same_batches_as_batch_graphs():
    graphs = _graphs()
    batches = list(graph_dataset(graphs, labels=[0, 1, 0], batch_size=2).as_numpy_iterator())
    assert [b[1].tolist() for b in batches] == [[0, 1], [0]]
    for (batch, _), expected in zip(batches, [graphs[:2], graphs[2:]], strict=True):
        reference = batch_graphs(expected)
        for key in ("node_features", "edge_index", "graph_ids"):
            np.testing.assert_array_equal(batch[key], reference[key])


def test_tf_data_pipeline_concatenates_node_labels():
    graphs = _graphs()
    node_labels = [np.full(len(g["node_features"]), i) for i, g in enumerate(graphs)]
    (batch, labels), *_ = graph_dataset(graphs, node_labels, batch_size=3).as_numpy_iterator()
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]


def test_bad_inputs_name_the_value():
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        graph_dataset(_graphs(), batch_size=0)
    with pytest.raises(ValueError, match="labels of length 2"):
        graph_dataset(_graphs(), labels=[0, 1])
    with pytest.raises(ValueError, match="max 5"):
        batch_graphs([{"node_features": np.zeros((2, 1)), "edge_index": [[0], [5]]}])


def test_graph_dataset_fn_batches_the_graphs_compare_chose_by_index():
    graphs = _graphs()
    dataset_fn = graph_dataset_fn(graphs, batch_size=2)
    (batch, labels), *_ = dataset_fn(np.array([2, 0]), np.array([5, 6])).as_numpy_iterator()
    reference = batch_graphs([graphs[2], graphs[0]])
    for key in ("node_features", "edge_index", "graph_ids", "graph_sizes"):
        np.testing.assert_array_equal(batch[key], reference[key])
    assert labels.tolist() == [5, 6]
    whole = graph_dataset_fn(graphs, batch_size=3)
    orders = {
        tuple(labels)
        for seed in range(8)
        for _, labels in whole(
            np.arange(3), np.arange(3), training=True, seed=seed
        ).as_numpy_iterator()
    }
    assert len(orders) > 1, "training batches are shuffled by the run's seed"
