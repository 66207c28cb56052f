"""Choosing the examples of each run: checked inputs, training-set sizes, folds, subsets.

Every configuration of a comparison trains on what these functions pick for
one seed, fold and size, so the subsets are shared by construction.
"""

import hashlib

import keras
import numpy as np

from tlkeras.errors import ConfigurationError
from tlkeras.evaluation import splits
from tlkeras.inputs import examples


def check_data(data, argument):
    # Any (x, y) fit() takes (lists of texts, pandas columns) or a finite
    # tf.data dataset (tfds, *_dataset_from_directory), as in-memory arrays.
    x, y = examples(data, argument)
    lengths = {len(a) for a in keras.tree.flatten(x)}
    if lengths != {len(y)}:
        raise ConfigurationError(
            f"{argument}: x and y need the same number of examples. Received: "
            f"x lengths {sorted(lengths)}, y length {len(y)}"
        )
    return x, y


def check_transductive(train_data, test_data):
    """`(x, y, test rows)` of a transductive comparison; `x` is whole, never sliced."""
    if not isinstance(train_data, (tuple, list)) or len(train_data) != 2:
        raise ConfigurationError(
            "train_data must be a tuple (x, y): the whole input and one label per example. "
            f"Received: train_data of type {type(train_data).__name__}"
        )
    x, y = train_data
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y < -1).any():
        raise ConfigurationError(
            "transductive=True needs one integer class per example, -1 for unlabelled. "
            f"Received: y of shape {y.shape}, dtype {y.dtype}, min {y.min() if y.size else None}"
        )
    if test_data is None:
        return x, y, None
    rows = np.asarray(test_data)
    if rows.dtype == bool and rows.shape == y.shape:
        rows = np.flatnonzero(rows)
    in_range = rows.ndim == 1 and rows.size and np.issubdtype(rows.dtype, np.integer)
    if not in_range or rows.min() < 0 or rows.max() >= len(y) or (y[rows] < 0).any():
        raise ConfigurationError(
            "With transductive=True, test_data is the held-out examples: labelled row indices of "
            f"y (0 .. {len(y) - 1}) or a boolean mask of y's length. Received: test_data of "
            f"shape {rows.shape}, dtype {rows.dtype}"
        )
    return x, y, np.unique(rows)


def is_classification(y):
    return np.issubdtype(np.asarray(y).dtype, np.integer) and np.asarray(y).ndim == 1


def sizes(fractions, shots, classification):
    sizes = [dict(fraction=float(f)) for f in fractions or ()]
    sizes += [dict(shots=int(k)) for k in shots or ()]
    if shots and not classification:
        raise ConfigurationError(f"shots need integer class labels. Received: shots={shots!r}")
    return sizes or [None]


def folds(cv, select, y_train, test_data, test_rows, seed, classification):
    """`(fold, training pool, held-out data)` for a fixed test set or each of `cv` folds."""
    # Transductively, only labelled rows (y >= 0) are drawn from or scored.
    labelled = np.arange(len(y_train)) if test_rows is None else np.flatnonzero(y_train >= 0)
    if cv is None:
        if test_rows is None:
            yield None, labelled, test_data
        else:
            yield None, np.setdiff1d(labelled, test_rows), select(test_rows)
        return
    for fold, (train_idx, test_idx) in enumerate(
        splits.kfold_indices(y_train[labelled], cv, seed=seed, stratify=classification)
    ):
        yield fold, labelled[train_idx], select(labelled[test_idx])


def selector(x, y, transductive):
    """`select(indices)`: the data of those examples, sliced, or all of `x` with a 0/1 mask."""
    if not transductive:
        return lambda indices: (take(x, indices), y[indices])

    # Unlabelled rows (-1) always have weight 0; class 0 stands in for them because
    # TensorFlow's sparse cross-entropy rejects a label outside 0 .. C - 1 even at weight 0.
    filled = np.where(y < 0, 0, y)

    def select(indices):
        mask = np.zeros(len(y), "float32")
        mask[indices] = 1.0
        return x, filled, mask

    return select


def count(data):
    return len(data[1]) if len(data) == 2 else int(np.sum(data[2]))


def training_set(y, pool, size, seed, fold, validation_split, classification):
    """The run key and the training and validation indices of one seed, fold and size."""
    subset = pool
    if size is not None:
        subset = splits.subset_indices(y, pool, seed=seed, stratify=classification, **size)
    train_idx, val_idx = splits.validation_indices(
        y, subset, validation_split, seed=seed, stratify=classification
    )
    key = dict(
        fraction=(size or {}).get("fraction", np.nan),
        shots=(size or {}).get("shots", np.nan),
        seed=int(seed),
        fold=np.nan if fold is None else fold,
    )
    return key, train_idx, val_idx


def subset_hash(train_idx, val_idx):
    """A short fingerprint of a run's training and validation example ids."""
    digest = hashlib.sha256()
    for part in (train_idx, val_idx):
        digest.update(np.asarray(part, dtype="int64").tobytes())
        digest.update(b"|")
    return digest.hexdigest()[:12]


def take(x, indices):
    return keras.tree.map_structure(lambda a: a[indices], x)
