"""The plugin tests itself with tlkeras's public conformance suite: a few lines."""

import pytest

import tlkeras
from tlkeras.testing import backbone_checks


@pytest.mark.parametrize(
    "check", backbone_checks("tiny_vgg", input_shape=(16, 16, 3)), ids=lambda c: c.__name__
)
def test_tiny_vgg_conforms(check):
    check()


def test_tiny_vgg_is_discovered_from_this_distribution():
    entry = {e.name: e for e in tlkeras.backbone_info()}["tiny_vgg"]
    assert entry.distribution == "tlkeras-example-plugin"
