"""A plugin package written from a preset declares its metadata like a hand-written one."""

import keras

import tlkeras
from tlkeras import registry
from tlkeras.pretrain import write_plugin_package

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def test_write_plugin_package_ships_modality_and_input_shape(tmp_path):
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x, name="tiny_gray"))
    preset = tlkeras.save_preset(backbone, tmp_path / "tiny_gray")
    package = write_plugin_package(preset, tmp_path / "package")
    files = list((tmp_path / "package").glob(f"*/{registry.METADATA_FILE}"))
    assert len(files) == 1
    metadata = registry.parse_metadata(tomllib.loads(files[0].read_text())["tiny_gray"])
    assert (metadata.modality, metadata.input_shape, metadata.problems) == (
        "image",
        (12, 12, 1),
        (),
    )
    assert registry.METADATA_FILE in (tmp_path / "package" / "pyproject.toml").read_text()
    assert package.endswith("package")
