"""torchvision's MobileNetV2 ImageNet weights on `keras.applications.MobileNetV2`.

The two implementations share one architecture, layer for layer, except that
torchvision's BatchNormalization uses `epsilon=1e-5` where Keras uses `1e-3`.
`mobilenet_v2()` therefore builds the Keras model and then sets every
BatchNormalization layer's epsilon to 1e-5; the value lives in each layer's
config, so it survives `.keras` saving and `clone_model`. A `.weights.h5`
file stores no epsilon: load the converted weights into a model built by
`mobilenet_v2()`, not into a plain `keras.applications.MobileNetV2`.

Keras pads stride-2 convolutions asymmetrically on even input sizes (TF's
"SAME"), torchvision symmetrically: outputs agree exactly at odd sizes
(e.g. 225) and give the same predictions at 224.
"""

import numpy as np

from tlkeras.errors import WeightsError

TORCHVISION_BATCH_NORM_EPSILON = 1e-5
# torchvision's ImageNet normalisation, applied to RGB values scaled to [0, 1].
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)


def mobilenet_v2(
    input_shape=None,
    include_top=True,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="mobilenetv2_1.00",
):
    """Builds `keras.applications.MobileNetV2` with torchvision's BN epsilon.

    The model expects RGB images normalised as torchvision does:
    `(x / 255 - TORCHVISION_MEAN) / TORCHVISION_STD` for `x` in [0, 255].

    Args:
        input_shape: `(height, width, 3)`. Defaults to `None`, which means
            `(224, 224, 3)` with the top and `(None, None, 3)` without.
        include_top: whether to add the pooling and the 1000-class `Dense`
            layer named `"predictions"`. Defaults to `True`.
        pooling: `None`, `"avg"` or `"max"`, the pooling applied when
            `include_top=False`. Defaults to `None`.
        classes: number of classes of the top. Defaults to `1000`.
        classifier_activation: activation of the top; `None` returns logits.
            Defaults to `"softmax"`.
        name: the model name. Defaults to `"mobilenetv2_1.00"`.

    Returns:
        A randomly initialised `keras.Model`; load
        `mobilenet_v2_imagenet(include_top)` into it with `load_weights`.

    Example:

    ```python
    model = mobilenet_v2(include_top=False, pooling="avg")
    model.load_weights(mobilenet_v2_imagenet(include_top=False))
    ```
    """
    import keras

    model = keras.applications.MobileNetV2(
        input_shape=input_shape,
        include_top=include_top,
        weights=None,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
    )
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # Read at call time, so changing it after construction is
            # enough, and `get_config` reports the new value.
            layer.epsilon = TORCHVISION_BATCH_NORM_EPSILON
    return model


def _torchvision_layer_names():
    """(Keras layer, torchvision module) pairs, input to output."""
    pairs = [
        ("Conv1", "features.0.0"),
        ("bn_Conv1", "features.0.1"),
        # Block 0 has no expansion conv in either implementation.
        ("expanded_conv_depthwise", "features.1.conv.0.0"),
        ("expanded_conv_depthwise_BN", "features.1.conv.0.1"),
        ("expanded_conv_project", "features.1.conv.1"),
        ("expanded_conv_project_BN", "features.1.conv.2"),
    ]
    for block in range(1, 17):
        keras_name, torch_name = f"block_{block}", f"features.{block + 1}.conv"
        pairs += [
            (f"{keras_name}_expand", f"{torch_name}.0.0"),
            (f"{keras_name}_expand_BN", f"{torch_name}.0.1"),
            (f"{keras_name}_depthwise", f"{torch_name}.1.0"),
            (f"{keras_name}_depthwise_BN", f"{torch_name}.1.1"),
            (f"{keras_name}_project", f"{torch_name}.2"),
            (f"{keras_name}_project_BN", f"{torch_name}.3"),
        ]
    pairs += [("Conv_1", "features.18.0"), ("Conv_1_bn", "features.18.1")]
    return pairs + [("predictions", "classifier.1")]


def _keras_arrays(layer, state, prefix):
    """The torch arrays under `prefix`, laid out as `layer.get_weights()`."""
    import keras

    if isinstance(layer, keras.layers.DepthwiseConv2D):
        # (C, 1, H, W) -> (H, W, C, 1)
        return [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
    if isinstance(layer, keras.layers.Conv2D):
        # (O, I, H, W) -> (H, W, I, O)
        return [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
    if isinstance(layer, keras.layers.BatchNormalization):
        suffixes = ("weight", "bias", "running_mean", "running_var")
        return [state[f"{prefix}.{s}"] for s in suffixes]
    if isinstance(layer, keras.layers.Dense):
        return [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
    raise TypeError(f"no torchvision mapping for {type(layer).__name__}")


def load_torchvision_mobilenet_v2(model, state):
    """Copies a torchvision `mobilenet_v2` state dict into a Keras model.

    Every Keras layer that holds weights must receive exactly one torchvision
    module of the same shape, and every torchvision tensor (except
    `num_batches_tracked` and, without a top, the classifier) must be used,
    so a checkpoint for another architecture fails loudly instead of
    loading partly.

    Args:
        model: a model returned by `mobilenet_v2()`.
        state: dict of torchvision names to NumPy arrays, as returned by
            `load_torch_checkpoint`.

    Raises:
        WeightsError: a tensor is missing, unused, or has the wrong shape.
    """
    pairs = _torchvision_layer_names()
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    pairs = [(k, t) for k, t in pairs if k in layers]
    if len(pairs) != len(layers):
        mapped = {k for k, _ in pairs}
        raise WeightsError(
            "The model has layers that torchvision's MobileNetV2 does not: "
            f"{sorted(set(layers) - mapped)}. Build it with `mobilenet_v2()`. "
            f"Received: model={model.name!r}"
        )
    used = set()
    for keras_name, torch_name in pairs:
        layer = layers[keras_name]
        try:
            arrays = _keras_arrays(layer, state, torch_name)
        except KeyError as e:
            raise WeightsError(
                f"The checkpoint has no tensor {e.args[0]!r} for Keras layer "
                f"{keras_name!r}: it is not a torchvision mobilenet_v2 state "
                f"dict. Received keys like: {list(state)[:5]}"
            ) from None
        expected = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise WeightsError(
                f"Shape mismatch for Keras layer {keras_name!r}: it needs "
                f"{expected}, the checkpoint's {torch_name!r} gives "
                f"{[a.shape for a in arrays]}. Received: model={model.name!r}"
            )
        layer.set_weights([np.asarray(a, dtype="float32") for a in arrays])
        used.update(k for k in state if k.startswith(f"{torch_name}."))
    ignored = {k for k in state if k.endswith("num_batches_tracked")}
    if "predictions" not in layers:
        ignored |= {k for k in state if k.startswith("classifier.")}
    unused = set(state) - used - ignored
    if unused:
        raise WeightsError(
            "The checkpoint has tensors that no Keras layer received, so it "
            "is not a torchvision mobilenet_v2 state dict. Received unused "
            f"keys: {sorted(unused)[:10]}"
        )
