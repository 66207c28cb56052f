"""The plugin tests itself with tlkeras's public conformance suite: a few lines."""

import subprocess
import sys

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


def test_tiny_vgg_metadata_is_read_without_importing_the_plugin():
    code = (
        "import sys; from tlkeras import registry; m = registry.get_entry('tiny_vgg').metadata; "
        "print(m.modality, m.input_shape, 'tlkeras_example_plugin' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["image", "(32,", "32,", "3)", "False"]
