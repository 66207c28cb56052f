"""Metrics by name, computed by scikit-learn and keras-hub (not re-implemented here).

A metric is a function `fn(y_true, y_pred, class_names=None)` returning a float
or a dict `{name: float}` (per-class scores). `y_pred` is what the model
predicts: class scores `(n, num_classes)` for a classifier head, values for a
regressor head, strings or token lists for sequence outputs (BLEU).
"""

import re

import numpy as np

from tlkeras.errors import ConfigurationError

CLASSIFICATION_METRICS = ("accuracy", "macro_f1")
REGRESSION_METRICS = ("mse", "mae", "r2")
_TOP_K = re.compile(r"^top_(\d+)_accuracy$")


def class_scores(y_pred):
    """`(n, num_classes)` scores from a classifier's predictions.

    A single sigmoid column `(n,)` or `(n, 1)` becomes two columns `[1 - p, p]`.
    """
    scores = np.asarray(y_pred)
    if scores.ndim == 1 or scores.shape[-1] == 1:
        positive = scores.reshape(-1)
        return np.stack([1.0 - positive, positive], axis=-1)
    return scores


def _labels(y_true):
    return np.asarray(y_true).reshape(-1).astype("int64")


def accuracy(y_true, y_pred, class_names=None):
    """Fraction of examples whose highest-scoring class is the label."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(_labels(y_true), class_scores(y_pred).argmax(-1)))


def balanced_accuracy(y_true, y_pred, class_names=None):
    """Mean recall over classes (robust to class imbalance)."""
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(_labels(y_true), class_scores(y_pred).argmax(-1)))


def macro_f1(y_true, y_pred, class_names=None):
    """F1 averaged over every class, present in the labels or not."""
    from sklearn.metrics import f1_score

    scores = class_scores(y_pred)
    labels = np.arange(scores.shape[-1])
    return float(
        f1_score(
            _labels(y_true), scores.argmax(-1), labels=labels, average="macro", zero_division=0
        )
    )


def per_class_f1(y_true, y_pred, class_names=None):
    """F1 of each class, as `{"f1/<class name>": value}`."""
    from sklearn.metrics import f1_score

    scores = class_scores(y_pred)
    labels = np.arange(scores.shape[-1])
    values = f1_score(
        _labels(y_true), scores.argmax(-1), labels=labels, average=None, zero_division=0
    )
    names = class_names if class_names is not None else [str(label) for label in labels]
    return {f"f1/{name}": float(value) for name, value in zip(names, values, strict=True)}


def top_k_accuracy(y_true, y_pred, k=5, class_names=None):
    """Fraction of examples whose label is among the `k` highest scores."""
    from sklearn.metrics import top_k_accuracy_score

    scores = class_scores(y_pred)
    labels = np.arange(scores.shape[-1])
    return float(top_k_accuracy_score(_labels(y_true), scores, k=k, labels=labels))


def _regression(function_name):
    def metric(y_true, y_pred, class_names=None):
        from sklearn import metrics as sk_metrics

        y_true = np.asarray(y_true, dtype="float64").reshape(len(y_true), -1)
        y_pred = np.asarray(y_pred, dtype="float64").reshape(len(y_true), -1)
        return float(getattr(sk_metrics, function_name)(y_true, y_pred))

    metric.__name__ = function_name
    metric.__doc__ = f"`sklearn.metrics.{function_name}` over every output column."
    return metric


mse = _regression("mean_squared_error")
mae = _regression("mean_absolute_error")
rmse = _regression("root_mean_squared_error")
r2 = _regression("r2_score")


def bleu(references, hypotheses, max_order=4, class_names=None):
    """Corpus BLEU of `hypotheses` against `references`, by `keras_hub.metrics.Bleu`.

    Args:
        references: one reference string per example, or a list of several
            reference strings per example.
        hypotheses: one predicted string per example.
        max_order: longest n-gram counted. Defaults to `4`.

    Returns:
        BLEU in `[0, 1]`.

    Example:

    ```python
    bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    ```
    """
    import keras_hub

    references = [[r] if isinstance(r, str) else list(r) for r in references]
    hypotheses = [str(h) for h in hypotheses]
    if len(references) != len(hypotheses):
        raise ConfigurationError(
            "bleu() needs one hypothesis per example. Received: "
            f"{len(references)} references and {len(hypotheses)} hypotheses."
        )
    metric = keras_hub.metrics.Bleu(max_order=max_order)
    metric.update_state(references, hypotheses)
    return float(metric.result())


_BY_NAME = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "macro_f1": macro_f1,
    "per_class_f1": per_class_f1,
    "mse": mse,
    "mae": mae,
    "rmse": rmse,
    "r2": r2,
    "bleu": bleu,
}


def get(identifier):
    """Returns the metric function for a name, or `identifier` if it is callable.

    Names: `"accuracy"`, `"balanced_accuracy"`, `"macro_f1"`,
    `"per_class_f1"`, `"top_<k>_accuracy"` (e.g. `"top_5_accuracy"`),
    `"mse"`, `"mae"`, `"rmse"`, `"r2"`, `"bleu"`.

    Args:
        identifier: a name above or a function
            `fn(y_true, y_pred, class_names=None) -> float | dict`.
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        match = _TOP_K.match(identifier)
        if match:
            k = int(match.group(1))

            def top_k(y_true, y_pred, class_names=None):
                return top_k_accuracy(y_true, y_pred, k=k)

            return top_k
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]
    raise ConfigurationError(
        f"Unknown metric. Received: metric={identifier!r}; expected a callable or one of "
        f"{sorted(_BY_NAME) + ['top_<k>_accuracy']}."
    )


def metric_name(identifier):
    """The column name a metric's values get in `compare()` results."""
    return identifier if isinstance(identifier, str) else getattr(identifier, "__name__", "metric")


def evaluate_predictions(y_true, y_pred, metrics, class_names=None):
    """Computes several metrics; returns a flat dict `{metric name: value}`.

    Args:
        y_true: the labels or targets.
        y_pred: the model's predictions.
        metrics: a list of names or functions (see `get`).
        class_names: names of the classes, for per-class metrics. Defaults
            to `None` (class indices).
    """
    values = {}
    for identifier in metrics:
        result = get(identifier)(y_true, y_pred, class_names=class_names)
        if isinstance(result, dict):
            values.update(result)
        else:
            values[metric_name(identifier)] = float(result)
    return values
