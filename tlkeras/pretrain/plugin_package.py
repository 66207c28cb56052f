"""`write_plugin_package`: a preset folder as a pip-installable tlkeras backbone plugin."""

import json
import os
import re
import shutil

from tlkeras.errors import ConfigurationError
from tlkeras.pretrain.preset import read_preset_config
from tlkeras.registry import METADATA_FILE
from tlkeras.saving import replacing_directory

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "{version}"
description = "The tlkeras backbone {name!r}, pre-trained with tlkeras.pretrain."
dependencies = ["tlkeras"]

[project.entry-points."tlkeras.backbones"]
{name} = "{module}:backbone"

[tool.setuptools]
packages = ["{module}"]

[tool.setuptools.package-data]
{module} = ["preset/*", "tlkeras_backbones.toml"]
"""

# Read by `tlkeras list` without importing the package (see tlkeras.registry).
_METADATA = """[{name}]
modality = "{modality}"
{input_shape}"""

_MODULE = '''\
"""The tlkeras backbone {name!r} (a preset folder shipped as package data)."""

import os

PRESET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preset")


def backbone(input_shape=None, weights="auto"):
    """The pre-trained backbone; `weights=None` gives the architecture from scratch."""
    from tlkeras.pretrain.preset import load_preset

    return load_preset(PRESET, input_shape=input_shape, weights=weights)


backbone.modality = {modality!r}
'''


def write_plugin_package(preset, destination, *, name=None, version="0.1.0", overwrite=False):
    """Writes an installable plugin that registers a preset under a backbone name.

    The package ships the preset folder as package data and declares it in
    the `tlkeras.backbones` entry-point group, so after `pip install
    DESTINATION` every new process finds it: `tlkeras.build(name, ...)`,
    `tlkeras list`, `tlkeras.compare(backbone=name)`.

    Args:
        preset: a folder written by `tlkeras.save_preset`.
        destination: the package folder to create (written under a temporary
            name and renamed into place).
        name: the backbone name, a Python identifier. Defaults to `None` (the
            name in the preset).
        version: the package version. Defaults to `"0.1.0"`.
        overwrite: replace an existing folder. Defaults to `False`.

    Returns:
        The absolute path of the package folder.

    Example:

    ```python
    write_plugin_package("presets/my_simclr_fmnist", "dist/tlkeras-preset-my-simclr-fmnist")
    # then: pip install dist/tlkeras-preset-my-simclr-fmnist
    ```
    """
    config = read_preset_config(preset)
    name = name or config["name"]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigurationError(
            f"A plugin backbone name must be a Python identifier. Received: name={name!r}"
        )
    destination = os.path.abspath(os.fspath(destination))
    if os.path.exists(destination) and not overwrite:
        raise ConfigurationError(
            f"The package folder exists. Received: destination={destination!r}; "
            "pass overwrite=True to replace it."
        )
    module = f"tlkeras_preset_{name.lower()}"
    with replacing_directory(destination) as staging:
        shutil.copytree(os.fspath(preset), os.path.join(staging, module, "preset"))
        fields = dict(
            name=name,
            module=module,
            version=version,
            distribution=f"tlkeras-preset-{name.lower().replace('_', '-')}",
            modality=config["modality"],
        )
        with open(os.path.join(staging, "pyproject.toml"), "w") as f:
            f.write(_PYPROJECT.format(**fields))
        with open(os.path.join(staging, module, "__init__.py"), "w") as f:
            f.write(_MODULE.format(**fields))
        with open(os.path.join(staging, module, METADATA_FILE), "w") as f:
            f.write(_METADATA.format(input_shape=_input_shape_line(preset, config), **fields))
    return destination


def _input_shape_line(preset, config):
    path = os.path.join(os.fspath(preset), config.get("preprocessing", ""))
    if not os.path.isfile(path):
        return ""
    with open(path) as f:
        shape = json.load(f).get("input_shape")
    # A string, for TOML has no null: "(None, None, 3)".
    return "" if shape is None else f'input_shape = "{tuple(shape)}"\n'
