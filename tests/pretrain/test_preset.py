import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from pretrain_helpers import tiny_backbone

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.pretrain import write_plugin_package

NAME = "my_simclr_fmnist"


def _pretrained_looking_backbone(seed=0):
    """Every variable (BatchNorm statistics included) set to random values, plus a history."""
    backbone = tiny_backbone(seed=seed)
    rng = np.random.default_rng(seed)
    for variable in backbone.weights:
        variable.assign(rng.uniform(0.5, 1.5, size=variable.shape).astype("float32"))
    backbone.pretraining_info = {"objective": "contrastive", "history": {"loss": [4.2, 3.1]}}
    return backbone


def _features(backbone, x):
    return keras.ops.convert_to_numpy(backbone(x, training=False))


def test_a_preset_reloads_bit_identically_and_builds_by_name_in_a_new_process(tmp_path):
    backbone = _pretrained_looking_backbone()
    preset = tlkeras.save_preset(backbone, tmp_path / "presets" / NAME)
    package = write_plugin_package(preset, tmp_path / "package")
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    install += ["--no-build-isolation", "--target", str(site), package]
    subprocess.run(install, check=True, capture_output=True)
    x = np.random.default_rng(1).uniform(0, 255, size=(4, 12, 12, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import numpy as np
        import tlkeras
        x = np.load({str(tmp_path / "x.npy")!r})
        loaded = tlkeras.load_preset({preset!r})
        model = tlkeras.build({NAME!r}, head="classifier", num_classes=3)
        np.savez({str(tmp_path / "out.npz")!r},
                 loaded=np.asarray(loaded(x, training=False)),
                 built=np.asarray(model.backbone(x, training=False)),
                 weights=np.concatenate([np.ravel(w) for w in loaded.get_weights()]),
                 listed=np.array({NAME!r} in tlkeras.list_backbones()),
                 frozen=np.array(not any(v.trainable for v in model.backbone.weights)))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True)
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(out["loaded"], _features(backbone, x))
    np.testing.assert_array_equal(out["built"], _features(backbone, x))
    expected = np.concatenate([np.ravel(w) for w in backbone.get_weights()])
    np.testing.assert_array_equal(out["weights"], expected)
    assert out["listed"] and out["frozen"]  # a pretrained backbone starts frozen (linear probe)


def test_the_preset_folder_holds_config_weights_and_preprocessing(tmp_path):
    preset = tlkeras.save_preset(_pretrained_looking_backbone(), tmp_path / NAME)
    assert sorted(os.listdir(preset)) == ["config.json", "model.weights.h5", "preprocessing.json"]
    with open(os.path.join(preset, "config.json")) as f:
        config = json.load(f)
    assert (config["name"], config["modality"]) == (NAME, "image")
    assert config["pretraining"]["history"]["loss"] == [4.2, 3.1]
    with open(os.path.join(preset, "preprocessing.json")) as f:
        assert json.load(f)["input_shape"] == [12, 12, 1]


def test_saving_over_a_preset_needs_overwrite_and_leaves_no_temporary_folder(tmp_path):
    tlkeras.save_preset(_pretrained_looking_backbone(seed=0), tmp_path / NAME)
    with pytest.raises(ConfigurationError, match=r"Received: path='.*my_simclr_fmnist'"):
        tlkeras.save_preset(_pretrained_looking_backbone(seed=1), tmp_path / NAME)
    replacement = _pretrained_looking_backbone(seed=1)
    tlkeras.save_preset(replacement, tmp_path / NAME, overwrite=True)
    assert os.listdir(tmp_path) == [NAME]
    x = np.full((1, 12, 12, 1), 100.0, "float32")
    reloaded = tlkeras.load_preset(tmp_path / NAME)
    np.testing.assert_array_equal(_features(reloaded, x), _features(replacement, x))


def test_a_registered_preset_builds_pretrained_from_scratch_or_at_another_size(tmp_path):
    backbone = _pretrained_looking_backbone()
    preset = tlkeras.save_preset(backbone, tmp_path / "folder", name="ssl_tiny")
    assert tlkeras.register_preset(preset) == "ssl_tiny"
    try:
        x = np.full((2, 12, 12, 1), 50.0, "float32")
        pretrained = tlkeras.build("ssl_tiny", num_classes=3)
        np.testing.assert_array_equal(_features(pretrained.backbone, x), _features(backbone, x))
        scratch = tlkeras.build("ssl_tiny", num_classes=3, weights=None)
        assert scratch.backbone.weights_source is None
        assert not np.array_equal(_features(scratch.backbone, x), _features(backbone, x))
        larger = tlkeras.build("ssl_tiny", num_classes=3, input_shape=(20, 20, 1))
        assert tuple(larger.backbone.input_shape) == (None, 20, 20, 1)
        kernel = larger.backbone.get_layer("conv0").kernel
        np.testing.assert_array_equal(kernel, backbone.get_layer("conv0").kernel)
    finally:
        tlkeras.unregister_backbone("ssl_tiny")


def test_a_folder_that_is_not_a_preset_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match=r"Received: path='.*nowhere'"):
        tlkeras.load_preset(tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match=r"Received: weights='imagenet'"):
        tlkeras.load_preset(tmp_path, weights="imagenet")
