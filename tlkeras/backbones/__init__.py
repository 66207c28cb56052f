"""The Backbone contract and tlkeras's first-party backbones.

First-party factories are registered through the `tlkeras.backbones`
entry-point group in tlkeras's own pyproject.toml, exactly like a third
party's; importing this package does not import them.
"""

from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.backbone import derive_layer_groups

__all__ = ["Backbone", "derive_layer_groups"]
