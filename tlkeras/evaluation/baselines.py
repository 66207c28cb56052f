"""Baseline rows of a comparison: what a sceptic would try first, on the same subsets.

- `logistic_regression`: scikit-learn on the raw inputs (pixels scaled per
  feature, TF-IDF of text, node features of a graph); `Ridge` for regression.
- `linear_probe`: the same on the frozen, pooled features of each pretrained
  backbone among the configurations.

Each is fitted on a run's training part, its regularisation chosen on the
same validation split (log loss, or MSE) from a fixed grid, and scored on the
same held-out examples as the networks.
"""

import time

import numpy as np

from tlkeras.errors import ConfigurationError
from tlkeras.evaluation.feature_store import held_out_name
from tlkeras.feature_cache import split_model

LOGISTIC_REGRESSION = "logistic_regression"
LINEAR_PROBE = "linear_probe"
KINDS = (LOGISTIC_REGRESSION, LINEAR_PROBE)
# Inverse regularisation of LogisticRegression (alpha of Ridge is 1 / C); the
# middle value is used where a subset has no validation split.
C_GRID = (0.01, 0.1, 1.0, 10.0)


def check_baselines(baselines):
    """`"auto"` -> both kinds; `None` -> none; else a list of known kinds."""
    if baselines is None or baselines is False:
        return ()
    if baselines == "auto":
        return KINDS
    chosen = (baselines,) if isinstance(baselines, str) else tuple(baselines)
    unknown = [b for b in chosen if b not in KINDS]
    if unknown:
        raise ConfigurationError(
            f"Unknown baseline. Received: baselines={baselines!r}; expected 'auto', None or "
            f"a list of {list(KINDS)}"
        )
    return chosen


def raw_features(x, rows=None):
    """Per-example inputs a linear model can read: strings stay strings (TF-IDF), the
    numeric arrays whose first axis is the examples are flattened and joined; `None`
    when there are none (e.g. an input that only a `dataset_fn` understands). With
    `rows`, only arrays of that many rows count (a graph's node features, not its edges)."""
    arrays = list(x.values()) if isinstance(x, dict) else [x]
    arrays = [np.asarray(a) for a in arrays]
    text = [a for a in arrays if a.dtype.kind in "OUS"]
    if text and text[0].ndim == 1:
        return text[0].astype(str)
    # A 1-D integer array indexes examples that a dataset_fn resolves (graph ids): not features.
    numeric = [a for a in arrays if a.ndim >= 2 or (a.ndim == 1 and a.dtype.kind == "f")]
    if not numeric:
        return None
    rows = len(numeric[0]) if rows is None else rows
    numeric = [a for a in numeric if len(a) == rows]
    if not numeric:
        return None
    return np.concatenate([a.reshape(rows, -1).astype("float32") for a in numeric], axis=1)


def one_blas_thread():
    """A context in which NumPy/SciPy's BLAS runs on one thread.

    These linear models are small (hundreds of rows): OpenBLAS splits each
    product over threads that mostly wait for each other, and with TensorFlow's
    threads in the same process they wait long. A 400 x 784 logistic regression
    took 7.9 s of CPU (21 s wall) on two threads and 0.13 s (0.6 s) on one, on
    a busy 2-core machine (2026-12-02).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def fit_linear(features, y, val_features, val_y, classification, seed):
    """The linear model chosen on the validation split, and its choice.

    Returns:
        `(model, dict(C=..., chosen_on=..., val_loss=...))`.
    """
    from sklearn.metrics import log_loss
    from sklearn.metrics import mean_squared_error

    if val_features is None:
        grid, chosen_on = [C_GRID[(len(C_GRID) - 1) // 2]], "fallback"
    else:
        grid, chosen_on = C_GRID, "validation"
    best = None
    for c in grid:
        model = _pipeline(features, c, classification, seed).fit(features, y)
        if val_features is None:
            loss = np.nan
        elif classification:
            scores = model.predict_proba(val_features)
            loss = log_loss(val_y, scores, labels=model.classes_)
        else:
            loss = mean_squared_error(val_y, model.predict(val_features))
        if best is None or loss < best[1]:
            best = (model, loss, c)
    model, loss, c = best
    return model, dict(C=c, chosen_on=chosen_on, val_loss=float(loss))


def predictions(model, features, num_classes, classification):
    """Class scores `(n, num_classes)` (columns of classes absent from training stay 0)."""
    if not classification:
        return model.predict(features)
    scores = np.zeros((len(features), num_classes), "float32")
    scores[:, model.classes_] = model.predict_proba(features)
    return scores


def _pipeline(features, c, classification, seed):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    first = TfidfVectorizer() if features.dtype.kind in "OUS" else StandardScaler()
    if classification:
        last = LogisticRegression(C=c, max_iter=2000, random_state=int(seed))
    else:
        last = Ridge(alpha=1.0 / c)
    return make_pipeline(first, last)


class BaselineRuns:
    """Fits the baselines on a run's training part, chosen on its validation part.

    Args:
        kinds: baseline kinds (see `check_baselines`).
        configs: the comparison's configurations; each pretrained one
            (weights not `None`) gives its backbone a linear probe.
        run_config: the comparison's `runner.Runner` (builds the backbones
            and feeds them the data the way the configurations see it).
        train_data: the whole `(x, y)` training pool.
        select: `select(indices)` of `training_sets.selector`.
        transductive: `x` is one whole input (a graph), rows are its nodes.
        classification: integer class labels.
        num_classes: classes of the scores, for classification.
    """

    def __init__(
        self,
        kinds,
        configs,
        run_config,
        train_data,
        select,
        transductive,
        classification,
        num_classes,
    ):
        self.run_config = run_config
        self.x, self.y = train_data
        self.select = select
        self.transductive = transductive
        self.classification = classification
        self.num_classes = num_classes
        self.raw = None
        self.probes = {}
        self.features = {}
        self.rows = len(self.y) if transductive else None
        if LOGISTIC_REGRESSION in kinds and raw_features(self._sample(), self.rows) is not None:
            self.raw = LOGISTIC_REGRESSION
        if LINEAR_PROBE in kinds and run_config.build_fn is None:
            self.probes = _pretrained(configs, run_config.build_kwargs)

    def _sample(self):
        return self.x if self.transductive else self.select(np.arange(min(2, len(self.y))))[0]

    def names(self):
        return ([self.raw] if self.raw else []) + list(self.probes)

    def run(self, name, train_idx, val_idx, evaluation, fold, seed):
        start = time.perf_counter()
        train, val, test = self._features(name, train_idx, val_idx, evaluation, fold, seed)
        with one_blas_thread():
            model, choice = fit_linear(
                train,
                _labels(self.y, train_idx),
                None if val is None else val,
                None if val is None else _labels(self.y, val_idx),
                self.classification,
                seed,
            )
            scores = predictions(model, test, self.num_classes, self.classification)
        return dict(
            predictions=scores,
            history={},
            tuned=dict(
                values=dict(C=choice["C"]),
                trials=1 if choice["chosen_on"] == "fallback" else len(C_GRID),
                chosen_on=choice["chosen_on"],
                val_loss=choice["val_loss"],
            ),
            steps_run=np.nan,
            epochs_run=np.nan,
            steps_to_95pct_of_final=np.nan,
            train_loss_plateau=None,
            wall_time=time.perf_counter() - start,
        )

    def _features(self, name, train_idx, val_idx, evaluation, fold, seed):
        """`(train, validation or None, held-out)` feature rows of this baseline."""
        if self.transductive:
            # Scores for every node; compare() keeps those at the held-out rows.
            rows = self._rows(name, np.arange(len(self.y)))
            val = rows[val_idx] if len(val_idx) else None
            return rows[train_idx], val, rows
        val = self._rows(name, val_idx) if len(val_idx) else None
        if name == self.raw:
            test = raw_features(evaluation[0])
        else:
            held_out = held_out_name(seed, fold)
            test = _flat(
                self.run_config.store.held_out(self._extractor(name), held_out, evaluation)
            )
        return self._rows(name, train_idx), val, test

    def _rows(self, name, indices):
        """Features of training-pool examples; a backbone's are computed once per example,
        in the comparison's feature store (shared with its frozen configurations)."""
        if name == self.raw:
            source = self.x if self.transductive else self.select(indices)[0]
            rows = raw_features(source, self.rows)
            return rows[indices] if self.transductive else rows
        if self.transductive:
            cache = self.features.setdefault(name, {})
            if "all" not in cache:
                data = self.select(indices)
                cache["all"] = _flat(
                    self._extractor(name).predict(**self.run_config.feed(*data), verbose=0)
                )
            return cache["all"][indices]
        return _flat(self.run_config.store.rows(self._extractor(name), indices))

    def _extractor(self, name):
        """The frozen pretrained backbone behind probe `name`, pooled."""
        probe = self.probes[name]
        if "extractor" not in probe:
            model = self.run_config._build({**self.run_config.build_kwargs, **probe["build"]})
            probe["extractor"] = split_model(model)[0]
        return probe["extractor"]


def _pretrained(configs, build_kwargs):
    """One probe per distinct pretrained backbone among the configurations."""
    from tlkeras.evaluation.runner import split_config

    found = {}
    for name, config in configs.items():
        build, _, _ = split_config(name, {k: v for k, v in config.items() if k != "learning_rate"})
        merged = {**build_kwargs, **build}
        if merged.get("weights", "default") is None or "backbone" not in merged:
            continue
        identity = repr((merged["backbone"], merged.get("weights"), merged.get("input_shape")))
        found.setdefault(
            identity, (name, {k: merged[k] for k in ("backbone", "weights") if k in merged})
        )
    probes = {}
    for name, build in found.values():
        label = LINEAR_PROBE if len(found) == 1 else f"{LINEAR_PROBE}[{name}]"
        probes[label] = dict(build=build)
    return probes


def _flat(features):
    features = np.asarray(features)
    return features.reshape(len(features), -1)


def _labels(y, indices):
    return np.asarray(y)[indices]
