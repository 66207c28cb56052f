"""Attribute-masking pre-training and the offline real graphs."""

import os
import tempfile

import keras
import numpy as np
import pytest
from tlkeras_gnn import AttributeMasking
from tlkeras_gnn import node_dataset
from tlkeras_gnn.datasets import SUPERSENSES
from tlkeras_gnn.datasets import few_label_split
from tlkeras_gnn.datasets import karate_club
from tlkeras_gnn.datasets import wordnet_graph

import tlkeras
from tlkeras.builder import get_backbone


def test_attribute_masking_learns_and_its_backbone_loads_through_build():
    keras.utils.set_random_seed(0)
    graph, _ = karate_club()
    backbone = get_backbone("gcn", input_dim=34, hidden_dim=16, weights=None)
    pretrainer = AttributeMasking(backbone, mask_rate=0.3, seed=0)
    pretrainer.compile(optimizer=keras.optimizers.Adam(0.01))
    data = node_dataset(graph, np.zeros(34)).map(lambda x, y: x).repeat()
    history = pretrainer.fit(data, steps_per_epoch=1, epochs=60, verbose=0).history["loss"]
    assert np.mean(history[-10:]) < np.mean(history[:10]) - 0.05
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "gcn.weights.h5")
        backbone.save_weights(path)
        model = tlkeras.build(
            "gcn", head="node_classifier", num_classes=2, input_dim=34, hidden_dim=16, weights=path
        )
    for loaded, trained in zip(model.backbone.weights, backbone.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(loaded), np.asarray(trained))
    assert model.backbone.weights_source == path
    assert model.frozen_groups == [0, 1, 2], "a pretrained backbone is frozen by freeze='auto'"


def test_attribute_masking_names_a_bad_mask_rate():
    backbone = get_backbone("gin", weights=None)
    with pytest.raises(ValueError, match="Received: mask_rate=1.5"):
        AttributeMasking(backbone, mask_rate=1.5)


WNDB_NOUN = (
    "  1 This software and database is being provided\n"
    "00001740 03 n 01 entity 0 001 ~ 00001930 n 0000 | that which exists\n"
    "00001930 03 n 01 thing 0 002 @ 00001740 n 0000 + 00002098 a 0101 | a separate entity\n"
)
WNDB_ADJ = "00002098 00 s 01 able 0 001 + 00001930 n 0101 | having the means\n"
WNDB_EMPTY = ""


def test_wordnet_reader_on_a_tiny_wndb_directory():
    with tempfile.TemporaryDirectory() as folder:
        for name, text in [("noun", WNDB_NOUN), ("verb", ""), ("adj", WNDB_ADJ), ("adv", "")]:
            with open(os.path.join(folder, f"data.{name}"), "w") as file:
                file.write(text)
        graph, labels = wordnet_graph(feature_dim=16, directory=folder)
    assert labels.tolist() == [3, 3, 0]
    assert sorted(map(tuple, graph["edge_index"].T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    np.testing.assert_array_equal(
        graph["node_features"][:, :4], [[1, 0, 0, 0]] * 2 + [[0, 0, 1, 0]]
    )


def test_wordnet_reader_names_a_missing_directory():
    with pytest.raises(FileNotFoundError, match="Received: directory='/nonexistent'"):
        wordnet_graph(directory="/nonexistent")


def test_few_label_split_takes_per_class_nodes_of_every_class():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 1)
    mask = few_label_split(labels, per_class=2, seed=0)
    assert np.bincount(labels[mask == 1]).tolist() == [2, 2, 1]


@pytest.mark.slow
def test_real_wordnet_has_117659_synsets_in_45_supersenses():
    graph, labels = wordnet_graph()
    assert graph["node_features"].shape == (117_659, 256)
    assert len(SUPERSENSES) == 45 and set(np.unique(labels)) == set(range(45))
