"""ResumableTraining: atomic checkpoints that let a killed fit() go on where it stopped."""

import json
import os
import re
import shutil
from pathlib import Path

import keras
import numpy as np

from tlkeras.errors import ConfigurationError
from tlkeras.errors import WeightsError
from tlkeras.weights.cache import atomic_directory

WEIGHTS_FILE = "model.weights.h5"
SEEDS_FILE = "seeds.npz"
STATE_FILE = "state.json"
CHECKPOINT_NAME = re.compile(r"^epoch-(\d{5,})-batch-(\d{6,})$")
FORMAT = 1


class ResumableTraining(keras.callbacks.Callback):
    """Checkpoints a `fit()` atomically so that a killed run resumes where it stopped.

    Like `keras.callbacks.BackupAndRestore`, but nothing is ever half-written:
    each checkpoint is a folder `epoch-EEEEE-batch-BBBBBB` (the model's weights
    with the optimizer's state, the state of its seed generators, so dropout
    draws the same masks, and a `state.json`) built under a temporary
    name, fsynced, and renamed into `folder`. The newest `keep` checkpoints
    stay, so a crash at any instant leaves at least one complete one.

    When `fit()` starts and `folder` holds a checkpoint, the weights, the
    optimizer's slots and step counter (also those of a
    `tlkeras.optimizers.LayerwiseOptimizer`'s inner optimizer) and the epoch
    are restored, and training goes on from there. Callbacks whose state is a
    function of the epoch resume with it: `GradualUnfreezing` re-derives its
    stage; `DomainAdversarialSchedule` its λ ramp, and λ itself is a model
    variable (restored). With `save_freq=N`, a checkpoint taken mid-epoch
    resumes mid-epoch: the batches already trained on are read and skipped.

    The resumed run ends with the same weights as an uninterrupted one only
    if it sees the same batches in the same order: pass `shuffle=False`, a
    `tf.data.Dataset` shuffled with a fixed `seed` and
    `reshuffle_each_iteration=False`, or an order that is a function of
    `(seed, epoch)` streamed from `initial_epoch` (docs/resuming.md). Keras'
    default `shuffle=True` reshuffles with a random state that a new process
    does not recreate.
    Metrics logged for a resumed epoch cover only the batches run after the
    restart.

    Args:
        folder: where checkpoints live; one training run per folder.
        save_freq: `"epoch"`, or an int N to also checkpoint every N batches.
            Defaults to `"epoch"`.
        keep: how many checkpoints to keep, newest first; an int >= 2 so
            that the previous good one survives a crash during the next.
            Defaults to `2`.
        delete_checkpoint: remove the checkpoints when `fit()` completes, so
            that a later `fit()` with the same folder starts afresh. Defaults
            to `True`.

    Example:

    ```python
    model.fit(x, y, epochs=20, shuffle=False,
              callbacks=[tlkeras.callbacks.ResumableTraining("runs/a")])
    # killed at epoch 7; the same call again trains epochs 7..19 only
    ```
    """

    def __init__(self, folder, save_freq="epoch", keep=2, delete_checkpoint=True):
        super().__init__()
        if not isinstance(folder, (str, os.PathLike)) or not str(folder):
            raise ConfigurationError(
                f"folder must be a non-empty path. Received: folder={folder!r}"
            )
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ConfigurationError(
                f"save_freq must be 'epoch' or an int >= 1. Received: save_freq={save_freq!r}"
            )
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 2:
            raise ConfigurationError(
                "keep must be an int >= 2, so that the previous checkpoint survives a "
                f"crash while the next is written. Received: keep={keep!r}"
            )
        self.folder = Path(folder)
        self.save_freq = save_freq
        self.keep = keep
        self.delete_checkpoint = bool(delete_checkpoint)
        self._epoch = 0
        self._skip_until = 0
        self._saved_at = 0
        self._reload = None

    # === Checkpoints ===
    @property
    def initial_epoch(self):
        """The epoch the next `fit()` starts in: the newest checkpoint's, else 0.

        For a data pipeline whose order is a function of the epoch (see
        `docs/resuming.md`), built before `fit()` from this epoch on.
        """
        for path in reversed(self.checkpoints()):
            try:
                return int(json.loads((path / STATE_FILE).read_text())["epoch"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return 0

    def checkpoints(self):
        """The checkpoint folders in `folder`, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = CHECKPOINT_NAME.match(path.name)
            if match and path.is_dir():
                found.append(((int(match[1]), int(match[2])), path))
        return [path for _, path in sorted(found)]

    def _save(self, epoch, batches_done):
        target = self.folder / f"epoch-{epoch:05d}-batch-{batches_done:06d}"
        if target.exists():
            return
        with atomic_directory(target) as tmp:
            self.model.save_weights(tmp / WEIGHTS_FILE)
            # Dropout masks come from seed generators that save_weights skips.
            seeds = [keras.ops.convert_to_numpy(v) for v in _seed_states(self.model)]
            np.savez(tmp / SEEDS_FILE, *seeds)
            state = {
                "format": FORMAT,
                "epoch": epoch,
                "batches_done": batches_done,
                "variables": _signature(self.model),
            }
            (tmp / STATE_FILE).write_text(json.dumps(state))
        for old in self.checkpoints()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)

    def _restore(self):
        """Loads the newest checkpoint that loads; returns (epoch, batches, path), or None."""
        checkpoints = self.checkpoints()
        first_error = None
        for path in reversed(checkpoints):
            try:
                return self._load(path)
            except WeightsError as error:
                first_error = first_error or error
        if first_error is not None:
            raise first_error
        return None

    def _load(self, path):
        try:
            state = json.loads((path / STATE_FILE).read_text())
            epoch, batches_done = int(state["epoch"]), int(state["batches_done"])
            saved = state["variables"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise WeightsError(
                f"The checkpoint state of a resumable run is unreadable ({error}). "
                f"Received: {path / STATE_FILE}"
            ) from error
        differ = _first_difference(saved, _signature(self.model))
        if differ is not None:
            raise WeightsError(
                f"The checkpoint in {str(self.folder)!r} was saved from a different model "
                f"(first difference: {differ}); use a new folder for a new model. "
                f"Received: {path}"
            )
        self._load_weights(path)
        return epoch, batches_done, path

    def _load_weights(self, path):
        _mark_built(self.model)
        try:
            self.model.load_weights(path / WEIGHTS_FILE)
            with np.load(path / SEEDS_FILE) as seeds:
                for index, state in enumerate(_seed_states(self.model)):
                    state.assign(seeds[f"arr_{index}"])
        except Exception as error:  # h5py/Keras raise many kinds for a bad file.
            raise WeightsError(
                f"Could not load the checkpoint weights ({type(error).__name__}: {error}). "
                f"Received: {path / WEIGHTS_FILE}"
            ) from error

    # === Callback hooks ===
    def on_train_begin(self, logs=None):
        _build_optimizer(self.model)
        epoch, batches_done, path = self._restore() or (0, 0, None)
        if batches_done and batches_done >= (self.params.get("steps") or batches_done + 1):
            # Killed between an epoch's last batch and its end: the next begins.
            epoch, batches_done = epoch + 1, 0
        self._epoch, self._skip_until = epoch, batches_done
        # A mid-epoch checkpoint is loaded again once its epoch has begun:
        # epoch-derived callbacks (the λ ramp) reset their variables in
        # on_epoch_begin, and the mid-epoch values are the checkpoint's.
        self._reload = path if batches_done else None
        # Read by fit() right after on_train_begin; cleared at the first epoch.
        _runner(self.model)._initial_epoch = epoch or None

    def on_epoch_begin(self, epoch, logs=None):
        _runner(self.model)._initial_epoch = None
        self._epoch = epoch
        self._saved_at = self._skip_until

    def on_train_batch_begin(self, batch, logs=None):
        if self._reload is not None:
            self._load_weights(self._reload)
            self._reload = None
        if batch < self._skip_until:
            _skip_next_call(_runner(self.model))

    def on_train_batch_end(self, batch, logs=None):
        runner = _runner(self.model)
        skipped = runner.__dict__.pop("_tlkeras_train_function", None)
        if skipped is not None:
            runner.train_function = skipped
        done = batch + 1
        if done >= self._skip_until:
            self._skip_until = 0
        # Batch ends come in steps of steps_per_execution, not always of 1.
        # After an epoch's last batch, the epoch-end checkpoint follows.
        if (
            skipped is None
            and self.save_freq != "epoch"
            and done - self._saved_at >= self.save_freq
            and done < (self.params.get("steps") or done + 1)
        ):
            self._saved_at = done
            self._save(self._epoch, done)

    def on_epoch_end(self, epoch, logs=None):
        self._save(epoch + 1, 0)

    def on_train_end(self, logs=None):
        _runner(self.model)._initial_epoch = None
        if self.delete_checkpoint:
            for path in self.checkpoints():
                shutil.rmtree(path, ignore_errors=True)


def _runner(model):
    """The model whose fit() loop runs: the top model under a feature cache."""
    return getattr(model, "_tlkeras_runner", None) or model


def _skip_next_call(runner):
    """Makes the next train_function call read its batches without training on them."""
    train_function = runner.train_function
    steps = int(getattr(runner, "steps_per_execution", 1) or 1)

    def skip(*args):
        # TensorFlow and torch call train_function(iterator); JAX calls
        # train_function(state, iterator) and wants (logs, state) back.
        for _ in range(steps):
            next(args[-1])
        return ({}, args[0]) if len(args) == 2 else {}

    runner.__dict__["_tlkeras_train_function"] = train_function
    runner.train_function = skip


def _mark_built(model):
    # A subclassed model (DomainAdaptationModel) creates its variables in
    # __init__ but counts as built only after its first call, and Keras
    # refuses to load weights before. A model whose variables are missing
    # still fails to load, as a WeightsError.
    if not model.built:
        model.built = True


def _build_optimizer(model):
    optimizer = model.optimizer
    if optimizer is None:
        raise ConfigurationError(
            f"ResumableTraining checkpoints a compiled model. Received: model {model.name!r} "
            "with no optimizer"
        )
    if hasattr(model, "prepare_training"):
        model.prepare_training()
    elif not optimizer.built:
        optimizer.build(model.trainable_variables)


def _signature(model):
    """Path, name and shape of every variable checkpointed, to refuse another model's.

    Only names and shapes are compared, the paths are for the message: Keras
    uniquifies auto-generated names (`adam_2`, `dense_3_kernel_momentum`) per
    process, and loads by order. Optimizer slots are compared by shape alone.
    """
    own = [[v.path, v.name, list(v.shape)] for v in model.weights + _seed_states(model)]
    return own + [[v.path, None, list(v.shape)] for v in model.optimizer.variables]


def _seed_states(model):
    return [
        generator.state
        for layer in model._flatten_layers()
        for generator in getattr(layer, "_seed_generators", [])
    ]


def _first_difference(saved, ours):
    if len(saved) != len(ours):
        return f"{len(saved)} variables saved, {len(ours)} in this model"
    for a, b in zip(saved, ours, strict=True):
        if a[1:] != b[1:]:
            return f"saved {a[0]} {tuple(a[2])}, this model has {b[0]} {tuple(b[2])}"
    return None
