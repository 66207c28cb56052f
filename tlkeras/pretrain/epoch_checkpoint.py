"""EpochCheckpoint: the pre-training state written atomically after every epoch."""

import json
import os

import keras

WEIGHTS_FILE = "checkpoint.weights.h5"
STATE_FILE = "state.json"


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the model's weights and optimizer state, and the epoch count, after each epoch.

    Each file is written next to its final name and renamed over it, so an
    interruption leaves either the previous complete checkpoint or the new
    one. `state.json` holds the number of finished epochs, the history so far
    and `metadata` (the run's settings, checked on resume).

    Args:
        directory: the checkpoint folder (created if missing).
        metadata: a JSON-serialisable dict stored with every checkpoint.
        history: the per-epoch logs of earlier runs, `{name: [values]}`.
            Defaults to `None`.
    """

    def __init__(self, directory, metadata, history=None):
        super().__init__()
        self.directory = str(directory)
        self.metadata = dict(metadata)
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        os.makedirs(self.directory, exist_ok=True)
        weights = os.path.join(self.directory, WEIGHTS_FILE)
        partial = os.path.join(self.directory, "partial." + WEIGHTS_FILE)
        self.model.save_weights(partial)
        os.replace(partial, weights)
        state = {"epoch": epoch + 1, "history": self.history, "metadata": self.metadata}
        write_json_atomically(os.path.join(self.directory, STATE_FILE), state)


def read_state(directory):
    """The `state.json` of a checkpoint folder, or `None` when there is none."""
    path = os.path.join(str(directory), STATE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_json_atomically(path, content):
    partial = path + ".partial"
    with open(partial, "w") as f:
        json.dump(content, f, indent=2, sort_keys=True)
    os.replace(partial, path)
