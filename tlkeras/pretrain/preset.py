"""Preset folders: a backbone's config, weights and preprocessing, written atomically."""

import copy
import json
import os

import keras

from tlkeras.backbones.backbone import Backbone
from tlkeras.errors import ConfigurationError
from tlkeras.saving import replacing_directory

PRESET_FORMAT = "tlkeras.preset"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
PREPROCESSING_FILE = "preprocessing.json"


def save_preset(backbone, path, *, name=None, overwrite=False):
    """Saves a backbone as a preset folder: `config.json`, `model.weights.h5`, `preprocessing.json`.

    The folder is written under a temporary name beside `path` and renamed
    into place, so a reader never sees a half-written preset. `config.json`
    holds the backbone's Keras config, its name and modality, and the
    `pretraining_info` of `tlkeras.pretrain` (objective, settings,
    per-epoch history); `preprocessing.json` what the inputs must look like
    (for images: shape and pixel range; the normalisation is inside the
    backbone's graph).

    Args:
        backbone: a `tlkeras.Backbone`.
        path: the preset folder to create.
        name: the name it registers under. Defaults to `None` (the folder's name).
        overwrite: replace an existing folder. Defaults to `False`.

    Returns:
        The absolute path of the preset folder.

    Example:

    ```python
    tlkeras.save_preset(backbone, "presets/my_simclr_fmnist")
    ```
    """
    if not isinstance(backbone, Backbone):
        raise ConfigurationError(
            f"save_preset saves a tlkeras.Backbone. Received: {type(backbone).__name__}"
        )
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise ConfigurationError(
            f"The preset folder exists. Received: path={path!r}; pass overwrite=True to replace it."
        )
    config = {
        "format": PRESET_FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name or os.path.basename(path),
        "modality": backbone.modality,
        "backbone": keras.saving.serialize_keras_object(backbone),
        "weights": WEIGHTS_FILE,
        "preprocessing": PREPROCESSING_FILE,
        "pretraining": _plain(getattr(backbone, "pretraining_info", None)),
    }
    with replacing_directory(path) as staging:
        backbone.save_weights(os.path.join(staging, WEIGHTS_FILE))
        _write_json(os.path.join(staging, CONFIG_FILE), config)
        _write_json(os.path.join(staging, PREPROCESSING_FILE), _preprocessing(backbone))
    return path


def load_preset(path, *, input_shape=None, weights="auto"):
    """Loads a backbone from a preset folder written by `save_preset`.

    Args:
        path: the preset folder.
        input_shape: a new input shape (e.g. another image size for a
            convolutional backbone); the weights must still fit. Defaults
            to `None` (the saved shape).
        weights: `"auto"` loads the preset's weights; `None` keeps the
            random initialisation (the same architecture from scratch).
            Defaults to `"auto"`.

    Returns:
        A `tlkeras.Backbone` whose `weights_source` is the folder (or `None`).

    Example:

    ```python
    backbone = tlkeras.load_preset("presets/my_simclr_fmnist")
    ```
    """
    if weights not in ("auto", None):
        raise ConfigurationError(
            f"Unknown weights for a preset backbone. Received: weights={weights!r}; "
            "expected 'auto' (the preset's) or None (random initialisation)."
        )
    config = read_preset_config(path)
    backbone_config = config["backbone"]
    if input_shape is not None:
        backbone_config = _with_input_shape(backbone_config, tuple(input_shape), path)
    backbone = keras.saving.deserialize_keras_object(backbone_config)
    backbone.weights_source = None
    if weights == "auto":
        backbone.load_weights(os.path.join(os.fspath(path), config["weights"]))
        backbone.weights_source = os.path.abspath(os.fspath(path))
    return backbone


def read_preset_config(path):
    """The `config.json` of a preset folder, checked to be a tlkeras preset."""
    config_path = os.path.join(os.fspath(path), CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise ConfigurationError(
            f"Not a preset folder: {config_path!r} is missing. Received: path={os.fspath(path)!r}"
        )
    with open(config_path) as f:
        config = json.load(f)
    if config.get("format") != PRESET_FORMAT:
        raise ConfigurationError(
            f"Not a tlkeras preset. Received: format={config.get('format')!r} in "
            f"{config_path!r}; expected {PRESET_FORMAT!r}."
        )
    return config


def _preprocessing(backbone):
    shape = [d for d in backbone.input_shape[1:]] if backbone.modality == "image" else None
    return {
        "modality": backbone.modality,
        "input_shape": shape,
        "value_range": [0, 255] if backbone.modality == "image" else None,
        "normalization": "inside the backbone graph",
    }


def _with_input_shape(backbone_config, input_shape, path):
    config = copy.deepcopy(backbone_config)
    inputs = [layer for layer in config["config"]["layers"] if layer["class_name"] == "InputLayer"]
    if len(inputs) != 1:
        raise ConfigurationError(
            f"input_shape applies to single-input backbones; the preset {os.fspath(path)!r} has "
            f"{len(inputs)} inputs. Received: input_shape={input_shape!r}"
        )
    inputs[0]["config"]["batch_shape"] = [None, *input_shape]
    return config


def _write_json(path, content):
    with open(path, "w") as f:
        json.dump(content, f, indent=2, sort_keys=True)


def _plain(value):
    """Tracked Keras containers as plain dicts and lists, for JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
