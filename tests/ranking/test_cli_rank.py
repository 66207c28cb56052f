"""`tlkeras rank CONFIG.yaml`: config checks and one tiny run end to end."""

import keras
import pytest
import yaml

import tlkeras
from tlkeras.cli import main
from tlkeras.errors import ConfigurationError
from tlkeras.ranking.cli_rank import load_rank_config

PIXELS = "tiny_cli_pixels"
FLAT = "tiny_cli_flat"


def pixels(input_shape=(8, 8, 3), weights=None, **kwargs):
    """Every pixel as a feature."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Reshape((1, 1, -1))(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, x, name=PIXELS)


def flat(input_shape=(8, 8, 3), weights=None, **kwargs):
    """Keeps only the mean brightness: little to tell digits apart."""
    inputs = keras.Input(input_shape)
    x = keras.ops.mean(keras.layers.Rescaling(1 / 255)(inputs), axis=(1, 2, 3), keepdims=True)
    return keras.Model(inputs, keras.ops.repeat(x, 2, axis=-1), name=FLAT)


@pytest.fixture(scope="module", autouse=True)
def registered():
    tlkeras.register_backbone(PIXELS, modality="image")(pixels)
    tlkeras.register_backbone(FLAT, modality="image")(flat)
    yield
    tlkeras.unregister_backbone(PIXELS)
    tlkeras.unregister_backbone(FLAT)


def test_rank_command_writes_the_report_folder(tmp_path, capsys):
    config = dict(
        candidates=[FLAT, {PIXELS: {"weights": None}}],
        data=dict(name="digits", image_size=8),
        methods=["logme", "knn"],
        max_examples=300,
    )
    path = tmp_path / "rank.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["rank", str(path), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert f"| 1 | {PIXELS}(weights=None) |" in out
    assert (tmp_path / "run" / "figures" / "scores.png").is_file()
    assert (tmp_path / "run" / "ranking.csv").read_text().count("\n") == 3


@pytest.mark.parametrize(
    "config, match",
    [
        (
            dict(candidates=[PIXELS], data={"name": "digits"}, metods=["logme"]),
            "did you mean 'methods'",
        ),
        (dict(candidates=[], data={"name": "digits"}), "candidates"),
        (
            dict(candidates=[{PIXELS: 3}], data={"name": "digits"}),
            "expected a mapping of arguments",
        ),
        (
            dict(candidates=[PIXELS], data={"name": "digits"}, methods=["fid"]),
            "methods=\\['fid'\\]",
        ),
        (dict(candidates=[PIXELS], data={"name": "mnist"}), "data.name"),
        (dict(candidates=[PIXELS], data={"name": "digits"}, max_examples=1), "max_examples=1"),
    ],
)
def test_bad_configs_name_the_key_and_value(config, match):
    with pytest.raises(ConfigurationError, match=match):
        load_rank_config(config)


def test_a_bad_config_is_one_line_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(dict(candidates=[PIXELS], data={"name": "digits"}, seeds=[0])))
    assert main(["rank", str(path)]) == 2
    assert "tlkeras rank: error:" in capsys.readouterr().err
