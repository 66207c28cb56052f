"""`tlkeras.compare`: configurations x training-set sizes x seeds, one budget, one test set."""

import numpy as np

from tlkeras.errors import ConfigurationError
from tlkeras.evaluation import baselines as baselines_lib
from tlkeras.evaluation import feature_store
from tlkeras.evaluation import metrics as metrics_lib
from tlkeras.evaluation import runner as runners
from tlkeras.evaluation import scoring
from tlkeras.evaluation import training_sets
from tlkeras.evaluation.runner import BUDGET_KEYS

# Re-exported: evaluation/config.py imports it from here.
from tlkeras.evaluation.runner import split_config  # noqa: F401
from tlkeras.evaluation.versions import package_versions

# Optimizer steps of every run unless told otherwise: enough for a linear head
# on frozen features to reach its plateau at 50 images per class, which 300 were
# not (measured in docs/evaluation.md); cheap for frozen configurations, whose
# features are computed once.
DEFAULT_STEPS = 600
# Adam learning rates tried for every configuration (the middle one where a
# subset is too small for a validation split).
DEFAULT_GRID = {"learning_rate": (1e-4, 1e-3, 1e-2)}


def compare(
    configs,
    train_data,
    test_data=None,
    *,
    backbone=None,
    fractions=None,
    shots=None,
    seeds=(0,),
    steps=None,
    epochs=None,
    batch_size=32,
    early_stopping="auto",
    validation_split=0.2,
    cv=None,
    metrics="auto",
    dataset_fn=None,
    transductive=False,
    build_fn=None,
    class_names=None,
    precise_bn=True,
    tune="auto",
    max_trials=None,
    baselines="auto",
    reference=None,
    cache_features=True,
    verbose=0,
    **build_kwargs,
):
    """Trains every configuration on the same subsets with the same budget and scores it.

    Each configuration is a dict of `tlkeras.build` arguments (e.g.
    `weights=None, freeze=False` for training from scratch) and optionally
    `fit()` arguments (`class_weight`, `callbacks`, `shuffle`), `compile` (a
    dict for `model.compile`) and `weight_decay` (AdamW instead of Adam). The
    budget (`steps` or `epochs`, `batch_size`, `early_stopping`, validation
    split) and the hyperparameter grid (`tune`) are set here, once, for all
    of them: a configuration that names a budget or tuned key is refused.

    For each seed (and each fold with `cv`), each training-set size (every
    entry of `fractions` and of `shots`, or the whole training set) and each
    configuration, a fresh model is built after `keras.utils.set_random_seed(seed)`,
    trained once per value of the grid on the training part of the subset,
    and the one with the lowest validation loss is scored on the held-out
    data. The subsets of one seed are nested and shared by every configuration
    and by the baselines (a scikit-learn linear model on the raw inputs, and on
    each pretrained backbone's frozen features), which are rows of the result.

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
        steps: optimizer steps of every run, whatever its subset's size
            (small subsets are repeated). Defaults to `None`: `DEFAULT_STEPS`
            unless `epochs` is given.
        epochs: passes over each subset instead of a step budget (small
            subsets then get few steps). Defaults to `None`.
        batch_size: batch size of every run, part of the budget. Defaults to `32`.
        early_stopping: `"auto"` (stop after a fifth of the budget without a
            better validation loss, and keep the best weights, where the subset
            has a validation split), `None`, or a patience (in steps, or in
            epochs with `epochs`). Defaults to `"auto"`.
        validation_split: share of each training subset held out (stratified;
            a class with one example keeps it for training) for early stopping,
            the grid and convergence curves. Defaults to `0.2`.
        cv: number of folds for k-fold cross-validation over `train_data`
            instead of a fixed test set. Defaults to `None`.
        metrics: `"auto"` (accuracy and macro-F1 for integer labels, MSE,
            MAE and R² otherwise) or a list of names/functions from
            `tlkeras.evaluation.metrics`. Defaults to `"auto"`.
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
            boolean mask), or `cv=k` folds the labelled ones. Defaults to `False`.
        build_fn: `fn(**kwargs)` returning a compiled model, in place of
            `tlkeras.build`. Defaults to `None`.
        class_names: names for per-class metrics. Defaults to `None`.
        precise_bn: after training, re-estimate the statistics of every
            trainable BatchNormalization layer over the training subset.
            Defaults to `True`.
        tune: the grid `{argument: [values]}` searched for every configuration
            on the validation split (`learning_rate`, `weight_decay`,
            `dropout`, ...); `"auto"` is `DEFAULT_GRID` (three learning rates),
            `None` trains each configuration as given. Where a subset has no
            validation split the middle value of each list is used. The
            choices are in `df.attrs["tuned"]`. Defaults to `"auto"`.
        max_trials: grid points per run, drawn with the run's seed, the same
            for every configuration. Defaults to `None` (the whole grid).
        baselines: `"auto"` (`"logistic_regression"` on the raw inputs and
            `"linear_probe"` on each pretrained backbone's features), a list
            of those, or `None`. Defaults to `"auto"`.
        reference: the row the report's paired differences are taken to.
            Defaults to `None` (the raw-input baseline, else the first
            configuration).
        cache_features: train and score frozen configurations from their
            backbone's features, computed once per example for the whole
            comparison (every grid value, size and seed, and the linear
            probe share them; `evaluation.feature_store`). Defaults to `True`.
        verbose: `1`: a `run k/N` line per run with the elapsed time and an
            estimate of what is left; `2`: Keras' epoch lines too. Defaults to `0`.
        **build_kwargs: `tlkeras.build` arguments shared by every
            configuration (`num_classes`, `input_shape`, `bottleneck`, ...).

    Returns:
        A tidy `pandas.DataFrame`, one row per run and metric, with columns
        `scoring.RESULT_COLUMNS` (`kind` tells configurations from baselines;
        `subset` is a hash of the run's training and validation example ids).
        `df.attrs` holds `history` (per-epoch curves with the step),
        `tuned` (the chosen hyperparameters), `subsets` (the example ids) and
        `settings` (everything needed to rerun, with package versions);
        `tlkeras.evaluation.Report(df)` renders them.

    Example:

    ```python
    results = tlkeras.compare(
        {"scratch": dict(weights=None, freeze=False),
         "fine_tune": dict(weights="imagenet", strategy="full")},
        (x_train, y_train), (x_test, y_test),
        backbone="efficientnet_lite0", input_shape=(64, 64, 3),
        shots=(1, 5, 10), seeds=(0, 1, 2),
    )
    results.groupby(["config", "shots", "metric"])["value"].mean()
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
    num_classes = build_kwargs.get("num_classes")
    if classification and num_classes is None:
        labels = y_train if y_test is None else np.concatenate([y_train, y_test])
        num_classes = int(np.max(labels)) + 1
        if build_fn is None:
            build_kwargs["num_classes"] = num_classes
    if backbone is not None:
        build_kwargs["backbone"] = backbone
    sizes = training_sets.sizes(fractions, shots, classification)
    budget = _budget(steps, epochs, batch_size, early_stopping, validation_split)
    budget.update(precise_bn=bool(precise_bn), cache_features=bool(cache_features))
    tune = _check_tune(tune, configs)
    if tune:
        budget.update(tune=_jsonable(tune), max_trials=_check_max_trials(max_trials))
    run_config = runners.Runner(build_fn, build_kwargs, budget, dataset_fn, verbose, tune)
    select = training_sets.selector(x_train, y_train, transductive)
    if not transductive:
        run_config.store = feature_store.FeatureStore(select, run_config.feed)
    extra = baselines_lib.BaselineRuns(
        baselines_lib.check_baselines(baselines),
        configs,
        run_config,
        (x_train, y_train),
        select,
        transductive,
        classification,
        num_classes,
    )
    names = list(configs) + extra.names()
    folds = cv or 1
    progress = scoring.Progress(len(seeds) * folds * len(sizes) * len(names), verbose)

    rows, history, choices, subsets = [], [], [], []
    for seed in seeds:
        for fold, pool, evaluation in training_sets.folds(
            cv, select, y_train, (x_test, y_test), test_rows, seed, classification
        ):
            for size in sizes:
                key, train_idx, val_idx = training_sets.training_set(
                    y_train, pool, size, seed, fold, budget["validation_split"], classification
                )
                train = select(train_idx)
                validation = select(val_idx) if len(val_idx) else None
                subset = training_sets.subset_hash(train_idx, val_idx)
                subsets.append(
                    dict(
                        **key, subset=subset, train=train_idx.tolist(), validation=val_idx.tolist()
                    )
                )
                for name in names:
                    if name in configs:
                        held_out = feature_store.held_out_name(seed, fold)
                        outcome = run_config.run(
                            name, configs[name], train, validation, evaluation, seed,
                            ids=None if transductive else (train_idx, val_idx, held_out),
                        )  # fmt: skip
                    else:
                        outcome = extra.run(name, train_idx, val_idx, evaluation, fold, seed)
                    values = metrics_lib.evaluate_predictions(
                        *scoring.scored(evaluation, outcome.pop("predictions")),
                        metric_list,
                        class_names,
                    )
                    run_key = dict(config=name, **key)
                    sizes_of_run = dict(
                        kind="configuration" if name in configs else "baseline",
                        n_train=training_sets.count(train),
                        n_val=0 if validation is None else training_sets.count(validation),
                        subset=subset,
                    )
                    scoring.collect(run_key, sizes_of_run, values, outcome, rows, history, choices)
                    progress.update(name, key, sizes_of_run["n_train"], values)

    results = pd.DataFrame(rows, columns=list(scoring.RESULT_COLUMNS))
    held_out = 0 if test_rows is None else len(test_rows)
    results.attrs["history"] = history
    results.attrs["tuned"] = choices
    results.attrs["subsets"] = subsets
    results.attrs["settings"] = dict(
        configs={name: _jsonable(config) for name, config in configs.items()},
        shared_build_kwargs=_jsonable(build_kwargs),
        fractions=None if fractions is None else [float(f) for f in fractions],
        shots=None if shots is None else [int(k) for k in shots],
        seeds=[int(s) for s in seeds],
        cv=cv,
        metrics=[metrics_lib.metric_name(m) for m in metric_list],
        budget=_jsonable(budget),
        baselines=extra.names(),
        baseline_grid=dict(C=list(baselines_lib.C_GRID)),
        reference=reference,
        transductive=bool(transductive),
        n_train_pool=(int(np.sum(y_train >= 0)) if transductive else len(y_train)) - held_out,
        n_test=held_out or (None if y_test is None else len(y_test)),
        versions=package_versions(),
    )
    return results


def _budget(steps, epochs, batch_size, early_stopping, validation_split):
    """The budget shared by every run: steps (default) or epochs, batch size, stopping."""
    if steps is not None and epochs is not None:
        raise ConfigurationError(
            "The budget is either optimizer steps or epochs, not both. "
            f"Received: steps={steps!r}, epochs={epochs!r}"
        )
    if steps is None and epochs is None:
        steps = DEFAULT_STEPS
    for name, value in (("steps", steps), ("epochs", epochs), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
            raise ConfigurationError(f"{name} must be a positive int. Received: {name}={value!r}")
    split = float(validation_split or 0.0)
    if not 0.0 <= split < 1.0:
        raise ConfigurationError(
            f"validation_split must be in [0, 1). Received: validation_split={validation_split!r}"
        )
    return dict(
        steps=None if steps is None else int(steps),
        epochs=None if epochs is None else int(epochs),
        batch_size=int(batch_size),
        early_stopping=early_stopping,
        validation_split=split,
    )


def _check_tune(tune, configs):
    """The grid every configuration is tuned over (`None`: no tuning)."""
    if tune is None or tune is False:
        return None
    if tune == "auto":
        tune = DEFAULT_GRID
    if not isinstance(tune, dict) or not tune:
        raise ConfigurationError(
            f"tune must be 'auto', None or a dict argument -> list of values. Received: tune={tune!r}"
        )
    for key, values in tune.items():
        if key in BUDGET_KEYS or not isinstance(values, (list, tuple)) or not values:
            raise ConfigurationError(
                "tune searches configuration arguments (not the budget) over a non-empty list of "
                f"values. Received: {key}={values!r}"
            )
    for name, config in configs.items():
        tuned = sorted(set(config) & set(tune))
        if tuned:
            raise ConfigurationError(
                f"Configuration {name!r} sets {tuned[0]!r}, which the grid chooses for every "
                f"configuration alike (equal care): drop it, or pass tune=None. "
                f"Received: {tuned[0]}={config[tuned[0]]!r}, tune={tune!r}"
            )
    return {key: list(values) for key, values in tune.items()}


def _check_max_trials(max_trials):
    if max_trials is None:
        return None
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ConfigurationError(
            f"max_trials must be a positive int. Received: max_trials={max_trials!r}"
        )
    return max_trials


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
