"""Scoring runs: metric lists, predictions at the held-out examples, tidy result rows."""

import numpy as np

from tlkeras.evaluation import metrics as metrics_lib

RESULT_COLUMNS = (
    "config",
    "fraction",
    "shots",
    "seed",
    "fold",
    "n_train",
    "metric",
    "value",
    "epochs_run",
    "epochs_to_95pct_of_final",
    "wall_time",
)
# Keys of a configuration that go to fit() instead of tlkeras.build().


def resolve_metrics(metrics, classification):
    if metrics == "auto":
        return list(
            metrics_lib.CLASSIFICATION_METRICS if classification else metrics_lib.REGRESSION_METRICS
        )
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    for metric in metrics:
        metrics_lib.get(metric)
    return list(metrics)


def scored(evaluation, predictions):
    """`(y_true, y_pred)` at the held-out examples (the masked rows, transductively)."""
    if len(evaluation) == 2:
        return evaluation[1], predictions
    rows = np.flatnonzero(evaluation[2])
    return evaluation[1][rows], np.asarray(predictions)[rows]


def collect(run_key, n_train, values, outcome, rows, history, choices):
    """Appends one run's metric rows, per-epoch curves and tuned hyperparameters."""
    curves = outcome.pop("history")
    search = outcome.pop("tuned")
    if search:
        choices.append(dict(**run_key, trials=search["trials"], **search["values"]))
    for metric, value in values.items():
        rows.append(dict(**run_key, n_train=n_train, metric=metric, value=value, **outcome))
    for curve, points in curves.items():
        for epoch, value in enumerate(points, start=1):
            history.append(dict(**run_key, epoch=epoch, key=curve, value=float(value)))


def describe(key):
    parts = [f"{k}={v}" for k, v in key.items() if not (isinstance(v, float) and np.isnan(v))]
    return " ".join(parts)
