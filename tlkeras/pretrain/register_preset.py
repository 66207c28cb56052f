"""`register_preset`: a preset folder as a named backbone for `tlkeras.build`."""

import os

from tlkeras.pretrain.preset import load_preset
from tlkeras.pretrain.preset import read_preset_config
from tlkeras.registry import register_backbone


def register_preset(path, name=None):
    """Registers a preset folder in this process, so `tlkeras.build(name, ...)` loads it.

    The registered factory takes `input_shape` and `weights` (`"auto"` for
    the preset's weights, `None` for the same architecture from scratch).
    For other processes, install a plugin package made with
    `write_plugin_package` (`from tlkeras.pretrain import write_plugin_package`).

    Args:
        path: a folder written by `tlkeras.save_preset`.
        name: the backbone name. Defaults to `None` (the name in the preset).

    Returns:
        The registered name.

    Example:

    ```python
    tlkeras.register_preset("presets/my_simclr_fmnist")
    model = tlkeras.build("my_simclr_fmnist", head="classifier", num_classes=10)
    ```
    """
    path = os.path.abspath(os.fspath(path))
    config = read_preset_config(path)
    name = name or config["name"]

    def preset_backbone(input_shape=None, weights="auto"):
        return load_preset(path, input_shape=input_shape, weights=weights)

    preset_backbone.__qualname__ = f"preset_backbone[{path}]"
    register_backbone(name, modality=config["modality"])(preset_backbone)
    return name
