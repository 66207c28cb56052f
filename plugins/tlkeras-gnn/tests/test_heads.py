"""Node, graph and link heads: built by name through tlkeras.build, and they learn."""

import os
import tempfile

import keras
import networkx as nx
import numpy as np
import pytest
import tensorflow as tf
from tlkeras_gnn import GraphClassifierHead
from tlkeras_gnn import GraphReadout
from tlkeras_gnn import LinkPredictorHead
from tlkeras_gnn import batch_graphs
from tlkeras_gnn import from_networkx
from tlkeras_gnn import graph_dataset
from tlkeras_gnn import link_targets
from tlkeras_gnn import negative_pairs
from tlkeras_gnn import node_dataset

import tlkeras


def _karate():
    graph = nx.karate_club_graph()
    labels = np.array([graph.nodes[n]["club"] == "Officer" for n in graph.nodes], "int32")
    return from_networkx(graph, node_features=np.eye(34)), labels


def _with_degrees(graph):
    return from_networkx(graph, node_features=[[d] for _, d in graph.degree])


def test_build_gin_graph_classifier_by_name_learns_cycles_from_paths():
    keras.utils.set_random_seed(0)
    graphs = [_with_degrees(nx.cycle_graph(n)) for n in range(4, 9)]
    graphs += [_with_degrees(nx.path_graph(n)) for n in range(4, 9)]
    labels = np.array([1] * 5 + [0] * 5)
    model = tlkeras.build("gin", head="graph_classifier", num_classes=2, input_dim=1)
    assert isinstance(model.heads["head"], GraphClassifierHead)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    dataset = graph_dataset(graphs, labels, batch_size=16)
    model.fit(dataset.repeat(), steps_per_epoch=1, epochs=200, verbose=0)
    _, accuracy = model.evaluate(dataset, verbose=0)
    assert accuracy == 1.0


def test_node_classifier_on_karate_club_with_two_labels_per_club():
    keras.utils.set_random_seed(0)
    graph, labels = _karate()
    train = np.zeros(34, "float32")
    train[[0, 1, 32, 33]] = 1.0  # the two leaders and their closest members
    model = tlkeras.build("gcn", head="node_classifier", num_classes=2, input_dim=34, hidden_dim=16)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(node_dataset(graph, labels, train).repeat(), steps_per_epoch=1, epochs=100, verbose=0)
    _, accuracy = model.evaluate(node_dataset(graph, labels, 1.0 - train), verbose=0)
    assert accuracy >= 0.85


def test_link_predictor_ranks_held_out_karate_edges_above_non_edges():
    keras.utils.set_random_seed(0)
    graph, _ = _karate()
    rng = np.random.default_rng(0)
    undirected = graph["edge_index"][:, graph["edge_index"][0] < graph["edge_index"][1]]
    held_out = rng.permutation(undirected.shape[1])[:15]
    kept = np.delete(undirected, held_out, axis=1)
    train_graph = dict(graph, edge_index=np.concatenate([kept, kept[::-1]], axis=1))
    negatives = negative_pairs(graph["edge_index"], 34, 2 * undirected.shape[1], seed=0)
    train_targets = link_targets(kept, negatives[:, : kept.shape[1]])
    test_targets = link_targets(undirected[:, held_out], negatives[:, -15:])
    model = tlkeras.build("graphsage", head="link_predictor", input_dim=34, hidden_dim=16)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    batch = batch_graphs([train_graph])
    dataset = tf.data.Dataset.from_tensors((batch, train_targets)).repeat()
    model.fit(dataset, steps_per_epoch=1, epochs=100, verbose=0)
    scores = np.asarray(LinkPredictorHead.score(model(batch), test_targets))
    auc = keras.metrics.AUC()
    auc.update_state(test_targets[:, 2], scores)
    assert float(auc.result()) > 0.75


def test_graph_heads_round_trip_through_keras_files():
    graph, labels = _karate()
    batch = batch_graphs([graph])
    for head in ("node_classifier", "graph_classifier", "link_predictor"):
        model = tlkeras.build("gin", head=head, num_classes=2, input_dim=34, hidden_dim=8)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            loaded = keras.models.load_model(path)
        np.testing.assert_allclose(np.asarray(loaded(batch)), np.asarray(model(batch)), atol=1e-6)


def test_graph_head_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="Received: mode='median'"):
        GraphReadout("median")
    with pytest.raises(ValueError, match="Received: model_inputs=None"):
        GraphClassifierHead(2)(np.zeros((3, 4), "float32"))
    with pytest.raises(ValueError, match="Received: labels of length 3"):
        node_dataset(_karate()[0], [0, 1, 0])
