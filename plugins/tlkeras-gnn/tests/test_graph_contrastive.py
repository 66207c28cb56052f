"""Graph-level contrastive pre-training (GraphCL-style NT-Xent on two augmented views)."""

import os
import tempfile

import keras
import numpy as np
import pytest
from tlkeras_gnn import GraphContrastive
from tlkeras_gnn import batch_graphs
from tlkeras_gnn import graph_dataset
from tlkeras_gnn import nt_xent

import tlkeras
from tlkeras.builder import get_backbone


def synthetic_graphs(count, feature_dim=8, seed=0):
    """Rings with chords and stars of 5-12 nodes; features one-hot of the (capped) degree."""
    rng = np.random.default_rng(seed)
    graphs = []
    for i in range(count):
        n = int(rng.integers(5, 13))
        if i % 2:
            senders, receivers = np.zeros(n - 1, int), np.arange(1, n)  # star
        else:
            chords = rng.integers(0, n, size=(2, n // 3))
            senders = np.concatenate([np.arange(n), chords[0]])
            receivers = np.concatenate([(np.arange(n) + 1) % n, chords[1]])
        edges = np.stack([senders, receivers])
        edges = np.concatenate([edges, edges[::-1]], axis=1).astype("int32")
        degree = np.minimum(np.bincount(edges[1], minlength=n), feature_dim - 1)
        graphs.append(
            {"node_features": np.eye(feature_dim, dtype="float32")[degree], "edge_index": edges}
        )
    return graphs


def reference_nt_xent(z1, z2, temperature):
    """NT-Xent by its definition, one anchor at a time."""
    z = np.concatenate([z1, z2]).astype("float64")
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        others = [j for j in range(2 * n) if j != i]
        scores = np.array([z[i] @ z[j] / temperature for j in others])
        total += -(z[i] @ z[positive] / temperature) + np.log(np.sum(np.exp(scores)))
    return total / (2 * n)


def test_nt_xent_equals_the_hand_computed_value():
    # Two graphs whose views agree: each anchor sees its positive at cosine 1 and two
    # negatives at cosine 0, so with t = 0.5 its loss is -2 + log(e^0 + e^2 + e^0).
    eye = np.eye(2, dtype="float32")
    np.testing.assert_allclose(
        float(nt_xent(eye, 3.0 * eye, temperature=0.5)), np.log(1 + 2 * np.exp(-2.0)), rtol=1e-6
    )
    z1 = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, -1.0]], "float32")
    z2 = np.array([[1.0, 1.0], [-1.0, 1.0], [0.2, -0.7]], "float32")
    for temperature in (0.1, 0.5, 2.0):
        np.testing.assert_allclose(
            float(nt_xent(z1, z2, temperature=temperature)),
            reference_nt_xent(z1, z2, temperature),
            rtol=1e-5,
        )


def test_two_views_differ_and_keep_the_batch_shapes():
    graphs = synthetic_graphs(4)
    batch = batch_graphs(graphs)
    backbone = get_backbone("gin", input_dim=8, hidden_dim=16, weights=None)
    pretrainer = GraphContrastive(backbone, feature_mask_rate=0.3, edge_drop_rate=0.3, seed=1)
    view_1, view_2 = pretrainer.augment(batch), pretrainer.augment(batch)
    num_nodes, num_edges = len(batch["node_features"]), batch["edge_index"].shape[1]
    for view in (view_1, view_2):
        assert tuple(view["node_features"].shape) == (num_nodes + 1, 8)
        assert tuple(view["edge_index"].shape) == (2, num_edges)
        spare = np.asarray(view["edge_index"]) == num_nodes
        assert 0 < spare[0].sum() < num_edges and (spare[0] == spare[1]).all()
        kept = ~spare[0]
        np.testing.assert_array_equal(
            np.asarray(view["edge_index"])[:, kept], batch["edge_index"][:, kept]
        )
    assert not np.array_equal(
        np.asarray(view_1["node_features"]), np.asarray(view_2["node_features"])
    )
    assert not np.array_equal(np.asarray(view_1["edge_index"]), np.asarray(view_2["edge_index"]))
    outputs = pretrainer(batch)
    assert tuple(outputs["view_1"].shape) == (4, 64)
    assert not np.allclose(np.asarray(outputs["view_1"]), np.asarray(outputs["view_2"]))


def test_dropped_edges_do_not_reach_the_real_nodes():
    """A view with every edge dropped embeds like the graph without edges."""
    batch = batch_graphs(synthetic_graphs(3))
    backbone = get_backbone("gcn", input_dim=8, hidden_dim=16, weights=None)
    pretrainer = GraphContrastive(backbone, feature_mask_rate=0.0, edge_drop_rate=0.999999, seed=0)
    view = pretrainer.augment(batch)
    assert (np.asarray(view["edge_index"]) == len(batch["node_features"])).all()
    no_edges = {**batch, "edge_index": np.zeros((2, 0), "int32")}
    np.testing.assert_allclose(
        np.asarray(backbone(view))[:-1], np.asarray(backbone(no_edges)), rtol=1e-5, atol=1e-6
    )


def test_graph_contrastive_learns_and_its_backbone_loads_through_build():
    keras.utils.set_random_seed(0)
    backbone = get_backbone("gin", input_dim=8, hidden_dim=32, weights=None)
    before = [np.array(w) for w in backbone.weights]
    pretrainer = GraphContrastive(backbone, temperature=0.5, projection_dim=32, seed=0)
    pretrainer.compile(optimizer=keras.optimizers.Adam(0.01))
    data = graph_dataset(synthetic_graphs(32), batch_size=16, shuffle=True, seed=0)
    history = pretrainer.fit(data, epochs=15, verbose=0).history["loss"]
    assert np.mean(history[-3:]) < np.mean(history[:3]) - 0.1, history
    assert any(
        not np.allclose(b, np.asarray(a)) for b, a in zip(before, backbone.weights, strict=True)
    )
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "gin.weights.h5")
        backbone.save_weights(path)
        model = tlkeras.build(
            "gin", head="graph_classifier", num_classes=2, input_dim=8, hidden_dim=32, weights=path
        )
    for loaded, trained in zip(model.backbone.weights, backbone.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(loaded), np.asarray(trained))
    assert model.backbone.weights_source == path


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0}, "Received: temperature=0"),
        ({"edge_drop_rate": 1.0}, "Received: edge_drop_rate=1.0"),
        ({"feature_mask_rate": -0.1}, "Received: feature_mask_rate=-0.1"),
        ({"projection_dim": 0}, "Received: projection_dim=0"),
        ({"readout": "median"}, "Received: mode='median'"),
    ],
)
def test_graph_contrastive_names_a_bad_argument(kwargs, message):
    backbone = get_backbone("gin", weights=None)
    with pytest.raises(ValueError, match=message):
        GraphContrastive(backbone, **kwargs)
