"""tlkeras's public conformance suite over every backbone this plugin registers."""

import keras
import pytest

import tlkeras
from tlkeras.testing import backbone_checks

GNN_BACKBONES = ("gcn", "graphsage", "gin")


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(check, id=f"{name}-{check.__name__}")
        for name in GNN_BACKBONES
        for check in backbone_checks(name, weights=None, input_dim=5, hidden_dim=8)
    ],
)
def test_gnn_backbone_conforms(check):
    # The checks draw random weights: a fixed seed keeps the outcome independent of the tests
    # that ran before (a GIN this small can start with every ReLU of a layer dead, and then
    # no gradient reaches the layers below it in the one step the freezing check takes).
    keras.utils.set_random_seed(0)
    check()


def test_backbones_are_discovered_from_this_distribution_as_graph_backbones():
    infos = {entry.name: entry for entry in tlkeras.backbone_info()}
    for name in GNN_BACKBONES:
        assert infos[name].distribution == "tlkeras-gnn"
    assert tlkeras.list_backbones(modality="graph") == sorted(GNN_BACKBONES)


def test_one_layer_group_per_message_passing_layer():
    backbone = tlkeras.build("gcn", head="node_classifier", num_classes=2, num_layers=4).backbone
    assert [group[0].name for group in backbone.layer_groups] == [f"gcn_conv_{i}" for i in range(4)]


def test_importing_tlkeras_does_not_import_the_plugin():
    import subprocess
    import sys

    code = "import sys, tlkeras; print('tlkeras_gnn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr[-2000:]
