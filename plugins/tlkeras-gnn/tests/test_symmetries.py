"""Permutation equivariance (nodes), invariance (graphs), and batching changes nothing."""

import keras
import numpy as np
import pytest
from tlkeras_gnn import GraphClassifierHead
from tlkeras_gnn import GraphReadout
from tlkeras_gnn import batch_graphs
from tlkeras_gnn import unbatch_graphs

import tlkeras

ATOL = 1e-5


def _model(name, head="graph_classifier", **kwargs):
    keras.utils.set_random_seed(0)
    return tlkeras.build(name, head=head, num_classes=3, input_dim=4, hidden_dim=8, **kwargs)


def _permute(graph, seed=1):
    n = len(graph["node_features"])
    order = np.random.default_rng(seed).permutation(n)  # new position i holds old node order[i]
    new_index = np.argsort(order)
    edges = new_index[graph["edge_index"]]
    edges = edges[:, np.random.default_rng(seed).permutation(edges.shape[1])]
    return {"node_features": graph["node_features"][order], "edge_index": edges}, order


def _graphs(model, count=3):
    return unbatch_graphs(model.backbone.example_inputs(batch_size=count, seed=7))


@pytest.mark.parametrize("name", ["gcn", "graphsage", "gin"])
def test_node_embeddings_are_permutation_equivariant(name):
    backbone = _model(name).backbone
    graph = _graphs(_model(name), 1)[0]
    permuted, order = _permute(graph)
    original = backbone(batch_graphs([graph]))
    moved = backbone(batch_graphs([permuted]))
    np.testing.assert_allclose(np.asarray(moved), np.asarray(original)[order], atol=ATOL)


@pytest.mark.parametrize("name", ["gcn", "graphsage", "gin"])
@pytest.mark.parametrize("readout", ["sum", "mean", "max", "attention"])
def test_graph_outputs_are_permutation_invariant(name, readout):
    model = tlkeras.build(name, head=_graph_head(readout), input_dim=4, hidden_dim=8, compile=False)
    graphs = _graphs(model)
    permuted = [_permute(g, seed=i)[0] for i, g in enumerate(graphs)]
    np.testing.assert_allclose(
        np.asarray(model(batch_graphs(permuted))),
        np.asarray(model(batch_graphs(graphs))),
        atol=ATOL,
    )


def _graph_head(readout):
    return GraphClassifierHead(3, readout=readout, name="head")


@pytest.mark.parametrize("name", ["gcn", "graphsage", "gin"])
def test_a_batch_gives_the_outputs_of_its_graphs_one_by_one(name):
    model = _model(name)
    graphs = _graphs(model, 4)
    together = np.asarray(model(batch_graphs(graphs)))
    alone = np.concatenate([np.asarray(model(batch_graphs([g]))) for g in graphs])
    np.testing.assert_allclose(together, alone, atol=ATOL)
    nodes_together = np.asarray(model.backbone(batch_graphs(graphs)))
    nodes_alone = np.concatenate([np.asarray(model.backbone(batch_graphs([g]))) for g in graphs])
    np.testing.assert_allclose(nodes_together, nodes_alone, atol=ATOL)


def test_max_readout_of_negative_embeddings_is_not_the_empty_segment_fill():
    embeddings = np.array([[-2.0], [-1.0], [-5.0]], "float32")
    pooled = GraphReadout("max")(embeddings, np.array([0, 0, 1], "int32"))
    np.testing.assert_allclose(np.asarray(pooled), [[-1.0], [-5.0]])


def test_mean_and_sum_readouts_match_numpy():
    embeddings = np.arange(10, dtype="float32").reshape(5, 2)
    ids = np.array([0, 1, 0, 1, 1], "int32")
    np.testing.assert_allclose(np.asarray(GraphReadout("sum")(embeddings, ids)), [[4, 6], [16, 19]])
    np.testing.assert_allclose(
        np.asarray(GraphReadout("mean")(embeddings, ids)), [[2, 3], [16 / 3, 19 / 3]], rtol=1e-6
    )
