"""Training subsets for learning curves (fractions, k shots) and k-fold splits.

Subsets of one seed are nested: the 1% subset is part of the 5% subset, so a
learning curve measures more data, not different data.
"""

import numpy as np

from tlkeras.errors import ConfigurationError


def _class_orders(y, pool, seed, stratify):
    """Pool indices in a seeded random order, one list per class (or one list)."""
    rng = np.random.default_rng(seed)
    pool = np.asarray(pool)
    if not stratify:
        return [rng.permutation(pool)]
    labels = np.asarray(y)[pool]
    return [rng.permutation(pool[labels == label]) for label in np.unique(labels)]


def subset_indices(y, pool=None, *, fraction=None, shots=None, seed=0, stratify=True):
    """Indices of a seeded, class-stratified subset of `pool`.

    Args:
        y: labels (or targets) of the whole training set.
        pool: indices of `y` to draw from. Defaults to `None` (all of `y`).
        fraction: share of each class to keep, in `(0, 1]` (at least one
            example per class).
        shots: examples per class to keep (k-shot).
        seed: seed of the random order; one seed gives nested subsets.
            Defaults to `0`.
        stratify: keep class proportions (classification labels). Defaults
            to `True`.

    Returns:
        A sorted int array of indices into `y`.

    Example:

    ```python
    y = np.repeat(np.arange(10), 100)
    small = subset_indices(y, fraction=0.05, seed=0)  # 5 per class
    large = subset_indices(y, fraction=0.25, seed=0)
    set(small) <= set(large)  # True
    ```
    """
    pool = np.arange(len(y)) if pool is None else np.asarray(pool)
    if (fraction is None) == (shots is None):
        raise ConfigurationError(
            f"Pass exactly one of fraction and shots. Received: fraction={fraction!r}, shots={shots!r}"
        )
    if fraction is not None and not 0.0 < float(fraction) <= 1.0:
        raise ConfigurationError(f"fraction must be in (0, 1]. Received: fraction={fraction!r}")
    if shots is not None and (isinstance(shots, bool) or int(shots) != shots or shots < 1):
        raise ConfigurationError(f"shots must be a positive int. Received: shots={shots!r}")
    if shots is not None and not stratify:
        raise ConfigurationError(
            f"shots (k examples per class) need class labels. Received: shots={shots!r} "
            "with regression targets."
        )
    chosen = []
    for order in _class_orders(y, pool, seed, stratify):
        if shots is not None:
            if shots > len(order):
                raise ConfigurationError(
                    f"A class has only {len(order)} training examples. Received: shots={shots!r}"
                )
            count = int(shots)
        else:
            count = max(1, int(round(float(fraction) * len(order))))
        chosen.append(order[:count])
    return np.sort(np.concatenate(chosen))


def validation_indices(y, indices, validation_split, seed=0, stratify=True):
    """Splits `indices` into `(train, validation)`, stratified, seeded.

    Each class keeps at least one training example and, when it has two or
    more, gives at least one to validation (stratified); a class with one
    example gives none.
    """
    if not validation_split:
        return np.asarray(indices), np.asarray([], dtype="int64")
    if not 0.0 < float(validation_split) < 1.0:
        raise ConfigurationError(
            f"validation_split must be in [0, 1). Received: validation_split={validation_split!r}"
        )
    train, validation = [], []
    for order in _class_orders(y, indices, seed + 1, stratify):
        count = min(max(1, int(round(validation_split * len(order)))), len(order) - 1)
        validation.append(order[:count])
        train.append(order[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(validation))


def kfold_indices(y, n_splits, seed=0, stratify=True):
    """K-fold splits: a list of `(train_indices, test_indices)`, folds partitioning `y`.

    Uses scikit-learn's `StratifiedKFold` (or `KFold` when `stratify=False`)
    with shuffling seeded by `seed`.

    Args:
        y: labels (or targets).
        n_splits: number of folds, at least 2.
        seed: shuffling seed. Defaults to `0`.
        stratify: keep class proportions in each fold. Defaults to `True`.
    """
    from sklearn.model_selection import KFold
    from sklearn.model_selection import StratifiedKFold

    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 2:
        raise ConfigurationError(f"cv must be an int >= 2. Received: cv={n_splits!r}")
    splitter_class = StratifiedKFold if stratify else KFold
    splitter = splitter_class(n_splits=n_splits, shuffle=True, random_state=seed)
    y = np.asarray(y)
    try:
        return [(train, test) for train, test in splitter.split(np.zeros(len(y)), y)]
    except ValueError as error:
        raise ConfigurationError(
            f"Cannot make {n_splits} folds: {error} Received: cv={n_splits!r}"
        ) from error
