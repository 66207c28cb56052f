"""`tlkeras.compare`: configurations x training-set sizes x seeds, one budget, one test set."""

import numpy as np

from tlkeras.errors import ConfigurationError
from tlkeras.evaluation import metrics as metrics_lib
from tlkeras.evaluation import runner as runners
from tlkeras.evaluation import scoring
from tlkeras.evaluation import training_sets
from tlkeras.evaluation.runner import BUDGET_KEYS

# Re-exported: tlkeras.domain.batchnorm and evaluation/config.py import these from here.
from tlkeras.evaluation.runner import recalibrate_batchnorm  # noqa: F401
from tlkeras.evaluation.runner import split_config  # noqa: F401
from tlkeras.evaluation.runner import trainable_batchnorm_layers  # noqa: F401
from tlkeras.evaluation.versions import package_versions


def compare(
    configs,
    train_data,
    test_data=None,
    *,
    backbone=None,
    fractions=None,
    shots=None,
    seeds=(0,),
    epochs=10,
    early_stopping=None,
    validation_split=0.0,
    cv=None,
    metrics="auto",
    batch_size=32,
    dataset_fn=None,
    transductive=False,
    build_fn=None,
    class_names=None,
    precise_bn=True,
    tune=None,
    max_trials=None,
    verbose=0,
    **build_kwargs,
):
    """Trains every configuration on the same subsets with the same budget and scores it.

    Each configuration is a dict of `tlkeras.build` arguments (e.g.
    `weights=None, freeze=False` for training from scratch) and optionally
    `fit()` arguments (`batch_size`, `class_weight`, `callbacks`, `shuffle`),
    `compile` (a dict for `model.compile`) and `learning_rate` (Adam at that
    rate instead of the "auto" optimizer). The budget (`epochs`,
    `early_stopping`, validation split) is set here, once, for all of them:
    a configuration that names a budget key is refused.

    For each seed (and each fold with `cv`), each training-set size (every
    entry of `fractions` and of `shots`, or the whole training set) and each
    configuration, a fresh model is built after `keras.utils.set_random_seed(seed)`,
    trained, and scored on the held-out data. The subsets of one seed are
    nested and shared by every configuration.

    Args:
        configs: a dict name -> configuration dict.
        train_data: `(x, y)` arrays (`x` may be a dict of arrays).
        test_data: held-out `(x, y)`. Required unless `cv` is given (each
            fold's held-out part is then the test set). Defaults to `None`.
        backbone: a registered backbone name shared by all configurations
            (a configuration may override it). Defaults to `None`.
        fractions: shares of the training set, e.g. `(0.01, 0.1, 1.0)`,
            stratified by class. Defaults to `None`.
        shots: examples per class, e.g. `(1, 5, 10)`. Defaults to `None`.
            With neither, the whole training set is used.
        seeds: seeds of subsets, initialisation and shuffling. Defaults to `(0,)`.
        epochs: epochs of every run. Defaults to `10`.
        early_stopping: `None`, a patience (int), or a dict of
            `keras.callbacks.EarlyStopping` arguments; it monitors
            `val_loss` when `validation_split > 0`, else `loss`, and restores
            the best weights. Defaults to `None`.
        validation_split: share of each training subset held out (stratified)
            for early stopping and convergence curves. Defaults to `0.0`.
        cv: number of folds for k-fold cross-validation over `train_data`
            instead of a fixed test set. Defaults to `None`.
        metrics: `"auto"` (accuracy and macro-F1 for integer labels, MSE,
            MAE and R² otherwise) or a list of names/functions from
            `tlkeras.evaluation.metrics`. Defaults to `"auto"`.
        batch_size: batch size of every run. Defaults to `32`.
        dataset_fn: `fn(x, y, training, seed)` returning what `fit()` and
            `predict()` take (e.g. a `tf.data.Dataset` that resizes images),
            or `None` to feed the arrays. With `transductive=True` it is
            called with `sample_weight=mask` too. Defaults to `None`.
        transductive: `x` is one whole input whose rows are not separate
            examples (e.g. a graph, for node classification) and `y` has one
            label per example (node); `-1` marks an unlabelled one. Subsets
            then never slice `x`: each training, validation and test set is a
            0/1 `sample_weight` mask over `y`, every run sees all of `x`, and
            `test_data` is the held-out examples as an int index array (or a
            boolean mask), or `cv=k` folds the labelled ones. Each run is
            scored on its predictions at the test rows. Defaults to `False`.
        build_fn: `fn(**kwargs)` returning a compiled model, in place of
            `tlkeras.build`. Defaults to `None`.
        class_names: names for per-class metrics. Defaults to `None`.
        precise_bn: after training, re-estimate the statistics of every
            trainable BatchNormalization layer over the training subset (in
            a short budget the moving averages lag far behind the weights, which
            would penalise the configurations that train BatchNorm). Defaults
            to `True`.
        tune: a search space `{argument: [values]}` over configuration keys
            (`learning_rate`, `dropout`, `bottleneck`, `freeze`, ...), searched
            for every configuration and run with keras-tuner's `RandomSearch`
            on the validation split (`val_loss`), each trial with the run's
            data and budget; the best values are then trained and tested as
            usual. The choices are in `df.attrs["tuned"]`. Defaults to `None`.
        max_trials: trials per search, the same for every configuration.
            Defaults to `None` (the whole grid).
        verbose: Keras progress output of `fit()` (0, 1 or 2); with any
            non-zero value one line per run is printed too. Defaults to `0`.
        **build_kwargs: `tlkeras.build` arguments shared by every
            configuration (`num_classes`, `input_shape`, `bottleneck`, ...).

    Returns:
        A tidy `pandas.DataFrame`, one row per run and metric, with columns
        `config, fraction, shots, seed, fold, n_train, metric, value,
        epochs_run, epochs_to_95pct_of_final, wall_time` (seconds of building
        and training). `df.attrs["history"]` holds the per-epoch training
        curves and `df.attrs["settings"]` the exact settings and package
        versions; `tlkeras.evaluation.Report(df)` renders both.

    Example:

    ```python
    results = tlkeras.compare(
        {"scratch": dict(weights=None, freeze=False),
         "fine_tune": dict(weights="imagenet", strategy="full")},
        (x_train, y_train), (x_test, y_test),
        backbone="efficientnet_lite0", input_shape=(64, 64, 3),
        fractions=(0.01, 0.05, 0.1), seeds=(0, 1), epochs=5,
    )
    results.groupby(["config", "fraction", "metric"])["value"].mean()
    ```
    """
    import pandas as pd

    configs = _check_configs(configs)
    if cv is None and test_data is None:
        raise ConfigurationError(
            "compare() needs held-out data: pass test_data=(x, y) or cv=k. "
            "Received: test_data=None, cv=None"
        )
    if cv is not None and test_data is not None:
        raise ConfigurationError(
            "With cv the held-out part of each fold is the test set; pass test_data or cv, "
            f"not both. Received: cv={cv!r} and test_data"
        )
    if transductive:
        x_train, y_train, test_rows = training_sets.check_transductive(train_data, test_data)
        x_test, y_test = None, None
    else:
        x_train, y_train = training_sets.check_data(train_data, "train_data")
        x_test, y_test = (
            (None, None) if test_data is None else training_sets.check_data(test_data, "test_data")
        )
        test_rows = None
    classification = training_sets.is_classification(y_train)
    metric_list = scoring.resolve_metrics(metrics, classification)
    if classification and build_fn is None and "num_classes" not in build_kwargs:
        labels = y_train if y_test is None else np.concatenate([y_train, y_test])
        build_kwargs["num_classes"] = int(np.max(labels)) + 1
    if backbone is not None:
        build_kwargs["backbone"] = backbone
    sizes = training_sets.sizes(fractions, shots, classification)
    budget = dict(
        epochs=int(epochs),
        early_stopping=early_stopping,
        validation_split=float(validation_split),
        batch_size=int(batch_size),
        precise_bn=bool(precise_bn),
    )
    if tune is not None:
        tune, max_trials = _check_tune(tune, max_trials)
        budget.update(tune=_jsonable(tune), max_trials=max_trials)
    run_config = runners.Runner(
        build_fn, build_kwargs, budget, dataset_fn, verbose, tune, max_trials
    )
    select = training_sets.selector(x_train, y_train, transductive)

    rows, history, choices = [], [], []
    for seed in seeds:
        for fold, pool, evaluation in training_sets.folds(
            cv, select, y_train, (x_test, y_test), test_rows, seed, classification
        ):
            for size in sizes:
                key, train, validation = training_sets.training_set(
                    select, y_train, pool, size, seed, fold, validation_split, classification
                )
                for name, config in configs.items():
                    outcome = run_config.run(name, config, train, validation, evaluation, seed)
                    values = metrics_lib.evaluate_predictions(
                        *scoring.scored(evaluation, outcome.pop("predictions")),
                        metric_list,
                        class_names,
                    )
                    run_key = dict(config=name, **key)
                    n_train = training_sets.count(train)
                    scoring.collect(run_key, n_train, values, outcome, rows, history, choices)
                    if verbose:
                        scores = ", ".join(f"{m}={v:.4f}" for m, v in values.items())
                        print(
                            f"[compare] {name} {scoring.describe(key)} n_train={n_train}: {scores}"
                        )

    results = pd.DataFrame(rows, columns=list(scoring.RESULT_COLUMNS))
    held_out = 0 if test_rows is None else len(test_rows)
    results.attrs["history"] = history
    results.attrs["tuned"] = choices
    results.attrs["settings"] = dict(
        configs={name: _jsonable(config) for name, config in configs.items()},
        shared_build_kwargs=_jsonable(build_kwargs),
        fractions=None if fractions is None else [float(f) for f in fractions],
        shots=None if shots is None else [int(k) for k in shots],
        seeds=[int(s) for s in seeds],
        cv=cv,
        metrics=[metrics_lib.metric_name(m) for m in metric_list],
        budget=_jsonable(budget),
        transductive=bool(transductive),
        n_train_pool=(int(np.sum(y_train >= 0)) if transductive else len(y_train)) - held_out,
        n_test=held_out or (None if y_test is None else len(y_test)),
        versions=package_versions(),
    )
    return results


def _check_tune(tune, max_trials):
    if not isinstance(tune, dict) or not tune:
        raise ConfigurationError(
            f"tune must be a dict argument -> list of values. Received: tune={tune!r}"
        )
    for key, values in tune.items():
        if key in BUDGET_KEYS or not isinstance(values, (list, tuple)) or not values:
            raise ConfigurationError(
                "tune searches configuration arguments (not the budget) over a non-empty list of "
                f"values. Received: {key}={values!r}"
            )
    grid = int(np.prod([len(values) for values in tune.values()]))
    if max_trials is None:
        max_trials = grid
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ConfigurationError(
            f"max_trials must be a positive int. Received: max_trials={max_trials!r}"
        )
    return dict(tune), max_trials


def _check_configs(configs):
    if not isinstance(configs, dict) or not configs:
        raise ConfigurationError(
            f"configs must be a non-empty dict of name -> dict of build/fit arguments. Received: configs={configs!r}"
        )
    for name, config in configs.items():
        if not isinstance(config, dict):
            raise ConfigurationError(
                f"Configuration {name!r} must be a dict of build/fit arguments. Received: {name}={config!r}"
            )
    return configs


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)
