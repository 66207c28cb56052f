"""Scoring runs: metric lists, predictions at the held-out examples, tidy result rows."""

import time

import numpy as np

from tlkeras.evaluation import metrics as metrics_lib

RESULT_COLUMNS = (
    "config",
    "kind",
    "fraction",
    "shots",
    "seed",
    "fold",
    "n_train",
    "n_val",
    "subset",
    "metric",
    "value",
    "steps_run",
    "epochs_run",
    "steps_to_95pct_of_final",
    "train_loss_plateau",
    "wall_time",
)


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


def collect(run_key, sizes, values, outcome, rows, history, choices):
    """Appends one run's metric rows, per-epoch curves and chosen hyperparameters."""
    curves = dict(outcome.pop("history"))
    search = outcome.pop("tuned")
    if search:
        choices.append(
            dict(
                **run_key,
                trials=search["trials"],
                chosen_on=search["chosen_on"],
                val_loss=search["val_loss"],
                **search["values"],
            )
        )
    for metric, value in values.items():
        rows.append(dict(**run_key, **sizes, metric=metric, value=value, **outcome))
    steps = curves.pop("step", None)
    for curve, points in curves.items():
        for epoch, value in enumerate(points, start=1):
            step = steps[epoch - 1] if steps else np.nan
            history.append(dict(**run_key, epoch=epoch, step=step, key=curve, value=float(value)))


class Progress:
    """`run k/N` lines with the elapsed time and an estimate of what is left."""

    def __init__(self, total, verbose):
        self.total = total
        self.verbose = verbose
        self.done = 0
        self.start = time.perf_counter()

    def update(self, name, key, n_train, values):
        self.done += 1
        if not self.verbose:
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        scores = ", ".join(f"{m}={v:.3f}" for m, v in values.items() if "/" not in m)
        print(
            f"[compare] run {self.done}/{self.total} {name} {describe(key)} n_train={n_train}: "
            f"{scores} | elapsed {clock(elapsed)}, about {clock(left)} left",
            flush=True,
        )


def clock(seconds):
    """`m:ss`."""
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def describe(key):
    parts = [f"{k}={v}" for k, v in key.items() if not (isinstance(v, float) and np.isnan(v))]
    return " ".join(parts)
