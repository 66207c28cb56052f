"""Saving and loading whole models: atomic writes, safe loads, clear errors.

`keras.Model.save` writes the `.keras` zip in place, so a crash mid-write
leaves a corrupt file where the previous good one was; `tlkeras.save_model`
writes to a temporary name in the same folder and renames it over the old
file only once it is complete. `tlkeras.load_model` loads with Keras'
`safe_mode` on (no Python lambdas deserialised, no code run) and turns
the many errors of a missing, truncated or foreign file into a
`tlkeras.errors.WeightsError` that names the path.
"""

import contextlib
import os
import shutil
import tempfile
import zipfile

import keras

from tlkeras.errors import UnsafeCheckpointError
from tlkeras.errors import WeightsError
from tlkeras.weights.cache import atomic_path


def save_model(model, path):
    """Saves `model` to a `.keras` file atomically.

    Args:
        model: a Keras model (a `tlkeras.TransferModel` or any other).
        path: the destination; must end in `.keras`.

    Example:

    ```python
    tlkeras.save_model(model, "runs/flowers.keras")
    model = tlkeras.load_model("runs/flowers.keras")
    ```
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise WeightsError(f"A model file must end in '.keras'. Received: path={path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with atomic_path(path) as temporary:
        model.save(str(temporary))
    return path


def load_model(path, *, safe_mode=True, compile=True, custom_objects=None):
    """Loads a `.keras` file, refusing code and naming the file when it is broken.

    Args:
        path: a `.keras` file written by `tlkeras.save_model` or
            `keras.Model.save`.
        safe_mode: Keras' safe mode: a file whose config holds Python
            lambdas (code) is refused. Only turn it off for files you
            wrote yourself. Defaults to `True`.
        compile: restore the optimizer, loss and metrics. Defaults to `True`.
        custom_objects: passed to `keras.saving.load_model`. Defaults to `None`.

    Returns:
        The model.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"No model file at that path. Received: path={path!r}")
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        raise WeightsError(
            "Not a .keras model file (a zip archive written by tlkeras.save_model or "
            f"keras.Model.save); it may be truncated or of another format. Received: path={path!r}"
        )
    try:
        return keras.saving.load_model(
            path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
        )
    except Exception as error:  # zip, h5py, json and Keras raise many types
        message = str(error)
        if "safe_mode" in message or "arbitrary code" in message:
            raise UnsafeCheckpointError(
                f"Refused to load {path!r}: its config asks to run code ({message[:300]}). "
                "Load it with safe_mode=False only if you wrote it yourself. "
                f"Received: path={path!r}"
            ) from error
        raise WeightsError(
            f"Could not load the model file {path!r}: {type(error).__name__}: {message[:500]}. "
            f"Received: path={path!r}"
        ) from error


@contextlib.contextmanager
def replacing_directory(path):
    """Yields a staging folder that replaces the folder `path` when the block ends.

    A reader never sees half a folder: everything is written under a
    temporary name beside `path` and renamed into place; an existing `path`
    is replaced (a save, unlike `tlkeras.weights.cache.atomic_directory`,
    which keeps the first copy of a cache entry). On an exception the
    staging folder is removed and `path` is left as it was.
    """
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the folder is shared like any
        yield staging
        if os.path.exists(path):
            retired = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old.", dir=parent)
            os.rename(path, os.path.join(retired, "old"))
            os.rename(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
