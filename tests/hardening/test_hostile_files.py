"""Broken, truncated and hostile files: a clear error naming the file, nothing executed, nothing lost.

(PyTorch checkpoints that try to run code, and the verified package-index
fetch, are tested in tests/weights.)
"""

import json
import os
import zipfile

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import UnsafeCheckpointError
from tlkeras.errors import WeightsError


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="x")
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, hidden, name="mlp"))
    return tlkeras.build(backbone, num_classes=3, freeze=False)


def _truncate(path, keep=0.5):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])


def test_save_and_load_round_trip(tmp_path):
    model = _tiny_model()
    path = tlkeras.save_model(model, tmp_path / "model.keras")
    loaded = tlkeras.load_model(path)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_crash_while_saving_keeps_the_previous_file(tmp_path, monkeypatch):
    model = _tiny_model()
    path = tmp_path / "model.keras"
    tlkeras.save_model(model, path)
    before = path.read_bytes()

    def crash_half_way(filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(before[: len(before) // 2])
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(model, "save", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        tlkeras.save_model(model, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.keras"]  # no temporary left behind
    tlkeras.load_model(path)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.95])
def test_truncated_model_file_names_its_path(tmp_path, keep):
    path = tlkeras.save_model(_tiny_model(), tmp_path / "model.keras")
    _truncate(path, keep)
    with pytest.raises(WeightsError, match=r"Received: path='.*model\.keras'"):
        tlkeras.load_model(path)


def test_missing_and_foreign_files_are_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="No model file"):
        tlkeras.load_model(tmp_path / "absent.keras")
    text = tmp_path / "notes.keras"
    text.write_text("not a zip")
    with pytest.raises(WeightsError, match="Not a .keras model file"):
        tlkeras.load_model(text)


def test_a_lambda_layer_is_refused_unless_safe_mode_is_off(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(UnsafeCheckpointError, match="safe_mode=False"):
        tlkeras.load_model(path)
    loaded = tlkeras.load_model(path, safe_mode=False)  # the user wrote it: allowed
    np.testing.assert_allclose(loaded.predict(np.ones((1, 3)), verbose=0), 2.0)


def test_a_config_that_names_os_system_runs_nothing(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tlkeras.save_model(_tiny_model(), tmp_path / "model.keras")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    # A layer whose "class" is os.system, called with a shell command.
    config["config"]["layers"][1] = {
        "module": "os",
        "class_name": "system",
        "config": f"touch {sentinel}",
        "registered_name": None,
    }
    members["config.json"] = json.dumps(config).encode()
    crafted = tmp_path / "crafted.keras"
    with zipfile.ZipFile(crafted, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(WeightsError, match="crafted.keras"):
        tlkeras.load_model(crafted)
    assert not sentinel.exists()


def test_truncated_weights_file_names_its_path(tmp_path):
    backbone = tlkeras.get_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "trunk.weights.h5"
    backbone.save_weights(path)
    tlkeras.build("mobilenet_v2", num_classes=2, weights=str(path), input_shape=(32, 32, 3))
    _truncate(path)
    with pytest.raises(WeightsError, match=r"trunk\.weights\.h5"):
        tlkeras.build("mobilenet_v2", num_classes=2, weights=str(path), input_shape=(32, 32, 3))


def test_weights_of_another_architecture_name_the_file(tmp_path):
    other = _tiny_model()
    path = tmp_path / "mlp.weights.h5"
    other.save_weights(path)
    with pytest.raises(WeightsError, match=r"mlp\.weights\.h5"):
        tlkeras.build("mobilenet_v2", num_classes=2, weights=str(path), input_shape=(32, 32, 3))


def test_broken_preset_folder_names_itself(tmp_path):
    preset = tmp_path / "my_preset"
    preset.mkdir()
    (preset / "config.json").write_text('{"class_name": "EfficientNetBackbone", "config": ')
    with pytest.raises(WeightsError, match="my_preset"):
        tlkeras.build("efficientnet_lite0", num_classes=2, weights=str(preset))
