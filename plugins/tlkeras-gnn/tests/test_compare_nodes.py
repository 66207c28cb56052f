"""tlkeras.compare(transductive=True) on one graph: labelled nodes chosen by masks, never sliced."""

import numpy as np
import pytest
from tlkeras_gnn import node_dataset_fn
from tlkeras_gnn.datasets import karate_club

import tlkeras
from tlkeras.errors import ConfigurationError

# Karate club nodes held out for testing: 8 of each club (node 0 leads one club, 33 the other).
TEST_NODES = np.array([2, 3, 7, 11, 12, 13, 17, 21, 8, 9, 14, 15, 18, 20, 22, 23])
UNLABELLED = np.array([5, 26])  # y = -1: in the graph, never trained on nor scored


def _compare(dataset_fn, **kwargs):
    graph, labels = karate_club()
    labels = labels.astype("int64")
    labels[UNLABELLED] = -1
    arguments = dict(
        backbone="gcn",
        head="node_classifier",
        input_dim=34,
        hidden_dim=16,
        num_layers=2,
        shots=(2, 4),
        seeds=(0,),
        epochs=40,
        # This test is about the transductive masks: one configuration at its own
        # rate, as before compare() tuned rates and added baseline rows.
        tune=None,
        baselines=None,
        early_stopping=None,
    )
    arguments.update(kwargs)
    return tlkeras.compare(
        {"gcn": dict(weights=None, freeze=False, learning_rate=0.02)},
        (graph, labels),
        TEST_NODES,
        transductive=True,
        dataset_fn=dataset_fn,
        **arguments,
    )


def test_compare_trains_on_masked_nodes_of_the_whole_graph_and_scores_the_test_nodes():
    masks = []

    def recording_dataset_fn(x, y, training=False, seed=None, sample_weight=None):
        assert len(x["node_features"]) == 34, "the graph is never sliced"
        masks.append((training, np.asarray(sample_weight).copy()))
        return node_dataset_fn(x, y, training, seed, sample_weight)

    results = _compare(recording_dataset_fn, validation_split=0.25)
    accuracy = results[results["metric"] == "accuracy"].set_index("shots")["value"]
    # Two labelled nodes per club already place most members, four nearly all (chance: 0.5).
    assert accuracy[2] >= 0.65 and accuracy[4] >= 0.85, accuracy
    # validation_split=0.25 moves one node of each club to validation (the
    # stratified split gives every class with 2+ examples one validation node).
    assert results.set_index("shots")["n_train"].to_dict() == {2: 2, 4: 6}
    assert results.set_index("shots")["n_val"].to_dict() == {2: 2, 4: 2}
    assert results.attrs["settings"]["transductive"] is True
    assert results.attrs["settings"]["n_test"] == len(TEST_NODES)
    assert results.attrs["settings"]["n_train_pool"] == 34 - len(UNLABELLED) - len(TEST_NODES)
    trained = [set(np.flatnonzero(m)) for training, m in masks if training]
    others = [set(np.flatnonzero(m)) for training, m in masks if not training]
    assert [len(t) for t in trained] == [2, 6]
    for chosen in trained:
        assert not chosen & (set(TEST_NODES) | set(UNLABELLED))
    validations = [m for m in others if len(m) == 2]  # one held-out node per club
    assert validations
    for validation in validations:
        assert not validation & (set(TEST_NODES) | set(UNLABELLED))
    # One seed's labelled subsets are nested: the 2-shot nodes stay in the 4-shot set.
    assert trained[0] <= trained[1] | set().union(*validations)
    assert set(TEST_NODES) in others


def test_transductive_compare_names_bad_test_nodes():
    with pytest.raises(ConfigurationError, match="Received: test_data of shape \\(2, 2\\)"):
        tlkeras.compare(
            {"gcn": {}},
            karate_club(),
            np.array([[0, 1], [2, 3]]),
            transductive=True,
            backbone="gcn",
        )
    with pytest.raises(ConfigurationError, match="Received: test_data"):
        tlkeras.compare(
            {"gcn": {}}, karate_club(), np.array([0, 99]), transductive=True, backbone="gcn"
        )
