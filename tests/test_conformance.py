"""tlkeras's public conformance suite over every installed backbone.

A backbone added by any installed plugin is tested here with no new test code.
"""

import pytest

import tlkeras
from tlkeras import registry
from tlkeras.testing import ALL_CHECKS
from tlkeras.testing import backbone_checks

SMALL_IMAGE = (32, 32, 3)


def _small_kwargs(name):
    kwargs = {"weights": None}
    if registry.get_entry(name).modality == "image":
        kwargs["input_shape"] = SMALL_IMAGE
    return kwargs


CASES = [
    pytest.param(name, index, id=f"{name}-{check.__name__}")
    for name in tlkeras.list_backbones()
    for index, check in enumerate(ALL_CHECKS)
]


def _expected_failures(name):
    # A backbone that declares "other" (tlkeras-audio's) has no modality's
    # pre-training objective: that check must fail for it, and says so.
    if registry.get_entry(name).metadata.modality == "other":
        return {"check_pretraining_objective_exists": "declared modality 'other'"}
    return None


@pytest.mark.parametrize("name, index", CASES)
def test_backbone_conforms(name, index):
    checks = list(backbone_checks(name, _expected_failures(name), **_small_kwargs(name)))
    checks[index]()


def test_the_example_third_party_plugin_is_installed_and_discovered():
    # .ci/run and the README's test command install examples/tlkeras-example-plugin.
    infos = {entry.name: entry for entry in tlkeras.backbone_info()}
    assert "tiny_vgg" in infos, "pip install -e examples/tlkeras-example-plugin"
    assert infos["tiny_vgg"].distribution == "tlkeras-example-plugin"
    model = tlkeras.build("tiny_vgg", num_classes=3, input_shape=(16, 16, 3))
    assert model.backbone.name == "tiny_vgg"
    assert len(model.backbone.layer_groups) == 3
