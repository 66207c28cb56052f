"""Features of frozen extractors, computed once per example for a whole comparison.

A frozen pretrained backbone gives an example the same features in every run:
for each learning rate of the grid, each training-set size (the subsets are
nested) and each seed, and for the linear-probe baseline too. The store keys
them by the extractor's fingerprint (structure and weights), so two
configurations share them exactly when their extractors compute the same thing.
"""

import numpy as np

from tlkeras.feature_cache import fingerprint


def held_out_name(seed, fold):
    """The store's name of a run's held-out set: the test set, or one seed's cv fold."""
    return "test" if fold is None else f"seed {seed} fold {fold}"


class FeatureStore:
    """Rows of extractor features by example id, and of held-out sets by key.

    Args:
        select: `select(indices)` returning `(x, y)` of training-pool examples.
        feed: `feed(x, y)` returning `predict()` keyword arguments for them
            (the comparison's `dataset_fn` or arrays, without targets).
    """

    def __init__(self, select, feed):
        self.select = select
        self.feed = feed
        self._rows = {}
        self._held_out = {}
        self._keys = {}

    def rows(self, extractor, indices):
        """Features `(len(indices), ...)` of these training-pool examples."""
        cache = self._rows.setdefault(self._key(extractor), {})
        missing = np.asarray([i for i in indices if int(i) not in cache], dtype="int64")
        if missing.size:
            computed = self._extract(extractor, self.select(missing))
            for index, row in zip(missing, computed, strict=True):
                cache[int(index)] = row
        return np.stack([cache[int(i)] for i in indices])

    def held_out(self, extractor, name, data):
        """Features of a held-out set, computed once per extractor and `name`."""
        key = (self._key(extractor), name)
        if key not in self._held_out:
            self._held_out[key] = self._extract(extractor, data)
        return self._held_out[key]

    def _key(self, extractor):
        # Hashing the weights costs milliseconds; an extractor is asked many times.
        if id(extractor) not in self._keys:
            self._keys[id(extractor)] = (extractor, fingerprint(extractor))
        return self._keys[id(extractor)][1]

    def _extract(self, extractor, data):
        return np.asarray(extractor.predict(**self.feed(*data), verbose=0))
