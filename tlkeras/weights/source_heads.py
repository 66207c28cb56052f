"""The ImageNet classifiers that ship with offline backbone weights, as plain arrays.

Source-label transferability scores (LEEP, NCE) need the pretrained model's
own predictions over its source classes. Where the converted weights keep
the 1000-class ImageNet layer, it is a `Dense` on the globally averaged
backbone features, so one forward pass of the backbone gives both the
features and, through `source_probabilities`, the source predictions.
"""

import numpy as np

from tlkeras.errors import WeightsError

# Architectures whose offline ImageNet weights keep their classifier, and why
# the others have none (shown in reports).
SOURCE_HEADS = (
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "mobilenet_v1",
    "mobilenet_v2",
)


def imagenet_classifier(architecture):
    """Returns the ImageNet-1k classifier of an architecture's offline weights.

    Args:
        architecture: one of `SOURCE_HEADS`.

    Returns:
        `(kernel, bias)`: float32 arrays of shapes `(features, 1000)` and
        `(1000,)`, applied to the globally averaged backbone features
        (logits = `features @ kernel + bias`).

    Raises:
        WeightsError: no classifier ships with that architecture's weights.

    Example:

    ```python
    kernel, bias = imagenet_classifier("mobilenet_v2")
    probabilities = source_probabilities(pooled_features, kernel, bias)
    ```
    """
    if architecture.startswith("efficientnet_lite") and architecture in SOURCE_HEADS:
        from tlkeras.weights.imagenet import efficientnet_lite0_imagenet
        from tlkeras.weights.imagenet import efficientnet_lite_imagenet

        preset = (
            efficientnet_lite0_imagenet()
            if architecture == "efficientnet_lite0"
            else efficientnet_lite_imagenet(architecture)
        )
        kernel, bias = _preset_classifier(preset)
    elif architecture == "mobilenet_v1":
        # slim's 1001-class logits without class 0 ("background", which has no
        # ImageNet images): the same 1000 classes and indices as the others.
        from tlkeras.weights import mobilenet_v1 as slim

        model = slim.mobilenet_v1(include_top=True)
        model.load_weights(slim.mobilenet_v1_imagenet(include_top=True))
        kernel, bias = model.get_layer("predictions").get_weights()
    elif architecture == "mobilenet_v2":
        from tlkeras.weights.imagenet import mobilenet_v2_imagenet
        from tlkeras.weights.mobilenet_v2 import mobilenet_v2

        model = mobilenet_v2(include_top=True)
        model.load_weights(mobilenet_v2_imagenet(include_top=True))
        kernel, bias = model.get_layer("predictions").get_weights()
    else:
        raise WeightsError(
            "No ImageNet classifier ships with the offline weights of this architecture; "
            f"those that have one: {list(SOURCE_HEADS)}. Received: architecture={architecture!r}"
        )
    return np.asarray(kernel, "float32"), np.asarray(bias, "float32")


def _preset_classifier(preset):
    # Read from the preset's task weights, not by building the classifier:
    # keras-hub's saved config drops the Lite2 head width, so it cannot rebuild it.
    import h5py

    with h5py.File(f"{preset}/task.weights.h5", "r") as f:
        return f["layers/dense/vars/0"][()], f["layers/dense/vars/1"][()]


def source_probabilities(features, kernel, bias):
    """Softmax of `features @ kernel + bias`, computed stably in float64.

    Args:
        features: `(n, features)` pooled backbone features.
        kernel: `(features, classes)` classifier kernel.
        bias: `(classes,)` classifier bias.

    Returns:
        `(n, classes)` probabilities.
    """
    logits = np.asarray(features, "float64") @ kernel + bias
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)
