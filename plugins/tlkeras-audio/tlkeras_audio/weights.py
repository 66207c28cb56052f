"""speech_embedding's pretrained weights: fetched, converted and cached offline.

The weights come from `embedding_model.tflite` in the `wyoming-openwakeword`
wheel on PyPI (Apache-2.0), downloaded with pip and pinned by SHA-256
through `tlkeras.weights.fetch_wheel`. The first use converts them into a
native Keras `.weights.h5` file in the tlkeras cache; later uses read that
file and need neither the network nor a TFLite interpreter.
"""

from pathlib import Path

from tlkeras.errors import WeightsError
from tlkeras.weights import cache_dir
from tlkeras.weights import fetch_wheel
from tlkeras.weights.cache import atomic_path
from tlkeras.weights.cache import cache_lock

WHEEL_PROJECT = "wyoming-openwakeword"
WHEEL_VERSION = "1.8.2"
WHEEL_SHA256 = "f1dd9f2d7558592db30147802b72e31651f4f85890d065f532e8fc2baf3165c2"
MODELS_FOLDER = Path("wyoming_openwakeword") / "models"


def openwakeword_models(wheel_file=None):
    """Returns the folder of the wheel's `.tflite` models, fetching the wheel if needed.

    Args:
        wheel_file: a local copy of `wyoming_openwakeword-1.8.2-py3-none-any.whl`
            for machines without a package index. Defaults to `None` (pip).

    Returns:
        A `pathlib.Path` holding `embedding_model.tflite` and `melspectrogram.tflite`.
    """
    root = fetch_wheel(WHEEL_PROJECT, WHEEL_VERSION, sha256=WHEEL_SHA256, wheel_file=wheel_file)
    folder = root / MODELS_FOLDER
    for name in ("embedding_model.tflite", "melspectrogram.tflite"):
        if not (folder / name).is_file():
            raise WeightsError(
                f"The {WHEEL_PROJECT} {WHEEL_VERSION} wheel holds no {name}. Received: folder={folder}"
            )
    return folder


def speech_embedding_weights_file(wheel_file=None):
    """Returns the cached `.weights.h5` of the pretrained speech_embedding, converting once.

    Args:
        wheel_file: see `openwakeword_models`. Defaults to `None`.

    Returns:
        A `pathlib.Path` to a native Keras weights file for
        `speech_embedding(weights=None)` models (any `pooling`).
    """
    target = cache_dir() / "audio" / f"speech_embedding-{WHEEL_SHA256[:12]}.weights.h5"
    if target.is_file():
        return target
    with cache_lock(target):
        if target.is_file():
            return target
        # Imported here: the conversion needs the backbone module, which needs
        # this one for the default weights.
        from tlkeras_audio.backbones import speech_embedding
        from tlkeras_audio.speech_embedding import load_tflite_weights

        backbone = speech_embedding(weights=None)
        conv_layers = [
            layer for layer in backbone.layers if layer.name.startswith("embedding_conv")
        ]
        tflite = openwakeword_models(wheel_file) / "embedding_model.tflite"
        load_tflite_weights(conv_layers, tflite)
        with atomic_path(target) as tmp:
            backbone.save_weights(tmp)
    return target


MUSICNN_PROJECT = "musicnn"
MUSICNN_VERSION = "0.1.0"
MUSICNN_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"


def musicnn_checkpoint_folder(dataset="MTT", wheel_file=None):
    """Returns the folder of musicnn's `<dataset>_vgg` TF1 checkpoint, fetching the wheel if needed."""
    root = fetch_wheel(
        MUSICNN_PROJECT, MUSICNN_VERSION, sha256=MUSICNN_SHA256, wheel_file=wheel_file
    )
    folder = root / "musicnn" / f"{dataset}_vgg"
    if not (folder / ".index").is_file():
        raise WeightsError(
            f"The musicnn {MUSICNN_VERSION} wheel holds no {dataset}_vgg checkpoint. "
            f"Received: folder={folder}"
        )
    return folder


def musicnn_weights_file(dataset="MTT", wheel_file=None):
    """Returns the cached `.weights.h5` of musicnn's `<dataset>_vgg`, converting once.

    Args:
        dataset: `"MTT"` or `"MSD"`. Defaults to `"MTT"`.
        wheel_file: a local copy of the `musicnn` wheel. Defaults to `None` (pip).
    """
    target = cache_dir() / "audio" / f"musicnn_{dataset}_vgg-{MUSICNN_SHA256[:12]}.weights.h5"
    if target.is_file():
        return target
    with cache_lock(target):
        if target.is_file():
            return target
        from tlkeras_audio.backbones import musicnn_vgg
        from tlkeras_audio.musicnn import load_checkpoint_weights

        backbone = musicnn_vgg(weights=None)
        load_checkpoint_weights(backbone, musicnn_checkpoint_folder(dataset, wheel_file))
        with atomic_path(target) as tmp:
            backbone.save_weights(tmp)
    return target
