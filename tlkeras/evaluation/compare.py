"""`tlkeras.compare`: configurations x training-set sizes x seeds, one budget, one test set."""

import time

import keras
import numpy as np

from tlkeras.errors import ConfigurationError
from tlkeras.evaluation import metrics as metrics_lib
from tlkeras.evaluation import splits
from tlkeras.evaluation.versions import package_versions

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
FIT_KEYS = ("batch_size", "class_weight", "callbacks", "shuffle")
# The budget is compare()'s to set, the same for every configuration.
BUDGET_KEYS = ("epochs", "early_stopping", "initial_epoch", "validation_data", "validation_split")
CONVERGENCE_FRACTION = 0.95


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
        x_train, y_train, test_rows = _check_transductive(train_data, test_data)
        x_test, y_test = None, None
    else:
        x_train, y_train = _check_data(train_data, "train_data")
        x_test, y_test = (None, None) if test_data is None else _check_data(test_data, "test_data")
        test_rows = None
    classification = _is_classification(y_train)
    metric_list = _resolve_metrics(metrics, classification)
    if classification and build_fn is None and "num_classes" not in build_kwargs:
        labels = y_train if y_test is None else np.concatenate([y_train, y_test])
        build_kwargs["num_classes"] = int(np.max(labels)) + 1
    if backbone is not None:
        build_kwargs["backbone"] = backbone
    sizes = _sizes(fractions, shots, classification)
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
    runner = _Runner(build_fn, build_kwargs, budget, dataset_fn, verbose, tune, max_trials)
    select = _selector(x_train, y_train, transductive)

    rows, history, choices = [], [], []
    for seed in seeds:
        for fold, pool, evaluation in _folds(
            cv, select, y_train, (x_test, y_test), test_rows, seed, classification
        ):
            for size in sizes:
                key, train, validation = _training_set(
                    select, y_train, pool, size, seed, fold, validation_split, classification
                )
                for name, config in configs.items():
                    outcome = runner.run(name, config, train, validation, evaluation, seed)
                    values = metrics_lib.evaluate_predictions(
                        *_scored(evaluation, outcome.pop("predictions")), metric_list, class_names
                    )
                    run_key = dict(config=name, **key)
                    n_train = _count(train)
                    _collect(run_key, n_train, values, outcome, rows, history, choices)
                    if verbose:
                        scores = ", ".join(f"{m}={v:.4f}" for m, v in values.items())
                        print(f"[compare] {name} {_describe(key)} n_train={n_train}: {scores}")

    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
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


class _Runner:
    """Builds, trains and predicts with one configuration under the shared budget."""

    def __init__(
        self, build_fn, build_kwargs, budget, dataset_fn, verbose, tune=None, max_trials=None
    ):
        self.build_fn = build_fn
        self.build_kwargs = build_kwargs
        self.budget = budget
        self.dataset_fn = dataset_fn
        self.verbose = verbose
        self.tune = tune
        self.max_trials = max_trials

    def run(self, name, config, train, validation, evaluation, seed):
        start = time.perf_counter()
        search = self._search(name, config, train, validation, seed) if self.tune else {}
        tuned = search.get("values", {})
        model, fit_kwargs, batch_size = self._prepare(
            name, {**config, **tuned}, train, validation, seed
        )
        fit_history = model.fit(**fit_kwargs, verbose=self.verbose)
        if self.budget["precise_bn"]:
            recalibrate_batchnorm(
                model, self._inputs(*train, training=False, seed=seed, batch_size=batch_size)
            )
        wall_time = time.perf_counter() - start
        eval_inputs = self._inputs(*evaluation, training=False, seed=seed, batch_size=batch_size)
        for key in ("y", "sample_weight", "shuffle"):
            eval_inputs.pop(key, None)
        predictions = model.predict(**eval_inputs, verbose=0)
        curves = {k: list(v) for k, v in fit_history.history.items() if k != "learning_rate"}
        return dict(
            predictions=predictions,
            history=curves,
            tuned=search,
            epochs_run=len(next(iter(curves.values()), [])),
            epochs_to_95pct_of_final=epochs_to_fraction_of_final(curves),
            wall_time=wall_time,
        )

    def _prepare(self, name, config, train, validation, seed):
        """A freshly seeded, compiled model and the fit() arguments of the shared budget."""
        build_args, fit_args, compile_args = split_config(name, config)
        keras.utils.set_random_seed(int(seed))
        model = self._build({**self.build_kwargs, **build_args})
        if compile_args:
            model.compile(**compile_args)
        batch_size = fit_args.pop("batch_size", self.budget["batch_size"])
        callbacks = list(fit_args.pop("callbacks", None) or [])
        callbacks += _early_stopping(self.budget["early_stopping"], validation is not None)
        fit_kwargs = self._inputs(*train, training=True, seed=seed, batch_size=batch_size)
        if validation is not None:
            inputs = self._inputs(*validation, training=False, seed=seed, batch_size=batch_size)
            fit_kwargs["validation_data"] = (
                tuple(inputs[k] for k in ("x", "y", "sample_weight") if k in inputs)
                if "y" in inputs
                else inputs["x"]
            )
        fit_kwargs.update(epochs=self.budget["epochs"], callbacks=callbacks, **fit_args)
        return model, fit_kwargs, batch_size

    def _search(self, name, config, train, validation, seed):
        """keras-tuner random search over `tune`: same trials and epochs for every configuration."""
        import tempfile

        import keras_tuner

        if validation is None:
            raise ConfigurationError(
                "tune= chooses hyperparameters on a validation split; pass validation_split > 0. "
                f"Received: validation_split={self.budget['validation_split']!r}"
            )
        fit_kwargs = {}

        def build(hp):
            values = {key: hp.Choice(key, list(choices)) for key, choices in self.tune.items()}
            model, kwargs, _ = self._prepare(name, {**config, **values}, train, validation, seed)
            fit_kwargs.update(kwargs)
            return model

        class HyperModel(keras_tuner.HyperModel):
            def fit(self, hp, model, *args, **kwargs):
                # The data and budget of the run, not the tuner's: every trial gets the same.
                return model.fit(
                    **{
                        **fit_kwargs,
                        "callbacks": kwargs.get("callbacks", []) + fit_kwargs["callbacks"],
                    },
                    verbose=0,
                )

        hypermodel = HyperModel()
        hypermodel.build = build
        with tempfile.TemporaryDirectory() as folder:
            tuner = keras_tuner.RandomSearch(
                hypermodel,
                objective="val_loss",
                max_trials=self.max_trials,
                seed=int(seed),
                directory=folder,
                project_name=name,
                overwrite=True,
            )
            tuner.search()
            return dict(
                values=dict(tuner.get_best_hyperparameters(1)[0].values),
                trials=len(tuner.oracle.trials),
            )

    def _build(self, kwargs):
        if self.build_fn is not None:
            return self.build_fn(**kwargs)
        import tlkeras

        if "backbone" not in kwargs:
            raise ConfigurationError(
                "compare() needs a backbone: pass backbone='<registered name>' or set "
                "'backbone' in each configuration. Received: no backbone"
            )
        if isinstance(kwargs["backbone"], keras.Model):
            raise ConfigurationError(
                "compare() builds a fresh model per run, so the backbone must be a "
                "registered name (see tlkeras.register_backbone) or a build_fn; a model "
                "instance would carry its weights from one run into the next. Received: "
                f"backbone={kwargs['backbone'].name!r} (a keras.Model)"
            )
        return tlkeras.build(**kwargs)

    def _inputs(self, x, y, sample_weight=None, *, training, seed, batch_size):
        """Keyword arguments of fit()/predict() for these arrays (and transductive mask)."""
        masked = {} if sample_weight is None else {"sample_weight": sample_weight}
        if self.dataset_fn is None:
            return dict(x=x, y=y, batch_size=batch_size, shuffle=training, **masked)
        return dict(x=self.dataset_fn(x, y, training=training, seed=int(seed), **masked))


def split_config(name, config):
    """Splits a configuration into `(build kwargs, fit kwargs, compile kwargs)`.

    Raises:
        ConfigurationError: when the configuration sets part of the budget
            (`epochs`, `early_stopping`, ...), naming the key and value.
    """
    build_args, fit_args = {}, {}
    for key in ("compile", "fit"):
        if not isinstance(config.get(key) or {}, dict):
            raise ConfigurationError(
                f"Configuration {name!r}: {key!r} must be a mapping of keyword arguments. "
                f"Received: {key}={config[key]!r}"
            )
    rate = config.get("learning_rate", 1e-3)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise ConfigurationError(
            f"Configuration {name!r}: learning_rate must be a number in (0, 1). "
            f"Received: learning_rate={rate!r}"
        )
    compile_args = dict(config.get("compile") or {})
    optimizer = compile_args.get("optimizer")
    if isinstance(optimizer, keras.optimizers.Optimizer):
        # A fresh copy per run: an optimizer's state must not carry over.
        compile_args["optimizer"] = optimizer.__class__.from_config(optimizer.get_config())
    if "learning_rate" in config:
        compile_args["optimizer"] = keras.optimizers.Adam(
            learning_rate=float(config["learning_rate"])
        )
    for key, value in config.items():
        if key in BUDGET_KEYS:
            raise ConfigurationError(
                f"Configuration {name!r} sets {key!r}, but the budget is the same for every "
                f"configuration: pass it to compare() instead. Received: {key}={value!r}"
            )
        if key in ("compile", "learning_rate"):
            continue
        if key == "fit":
            fit_args.update(value or {})
        elif key in FIT_KEYS:
            fit_args[key] = value
        else:
            build_args[key] = value
    for key in BUDGET_KEYS:
        if key in fit_args:
            raise ConfigurationError(
                f"Configuration {name!r} sets fit {key!r}, but the budget is the same for every "
                f"configuration: pass it to compare() instead. Received: {key}={fit_args[key]!r}"
            )
    return build_args, fit_args, compile_args


def recalibrate_batchnorm(model, inputs):
    """Re-estimates the moving statistics of trainable BatchNorm layers ("precise BN").

    Runs the model in training mode over the data once with a cumulative
    average (momentum `i / (i + 1)` at batch `i`), so the statistics used at
    inference are those of the trained weights. Frozen BatchNorm layers run in
    inference mode and keep theirs. No weight changes.

    Args:
        model: a Keras model.
        inputs: keyword arguments of `predict()`: `x` (arrays or a dataset)
            and, for arrays, `batch_size`.
    """
    layers = trainable_batchnorm_layers(model)
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    # Restored if a batch fails (bad input, interrupt): no half-updated statistics.
    saved = [
        (layer, [keras.ops.copy(v) for v in (layer.moving_mean, layer.moving_variance)])
        for layer in layers
    ]
    try:
        for index, batch in enumerate(_batches(inputs)):
            for layer in layers:
                layer.momentum = index / (index + 1)
            model(batch, training=True)
    except BaseException:
        for layer, (mean, variance) in saved:
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        raise
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def trainable_batchnorm_layers(model):
    """The BatchNorm layers whose statistics training (or recalibration) updates."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def _batches(inputs):
    x = inputs["x"]
    if "batch_size" in inputs:
        size = inputs["batch_size"]
        count = len(keras.tree.flatten(x)[0])
        for start in range(0, count, size):
            yield keras.tree.map_structure(lambda a, s=start: a[s : s + size], x)
        return
    for element in x:
        yield element[0] if isinstance(element, tuple) else element


def epochs_to_fraction_of_final(curves, fraction=CONVERGENCE_FRACTION):
    """First epoch (1-based) at which the training curve reaches `fraction` of its final value.

    The curve is the first validation metric other than the loss, else the
    first training metric, else the loss (then "reaching" means falling to
    `final / fraction`). Returns `nan` for an empty history.
    """
    keys = [k for k in curves if not k.endswith("loss")]
    ordered = [k for k in keys if k.startswith("val_")] + [
        k for k in keys if not k.startswith("val_")
    ]
    key = ordered[0] if ordered else ("val_loss" if "val_loss" in curves else "loss")
    values = np.asarray(curves.get(key, []), dtype="float64")
    if values.size == 0:
        return np.nan
    final = values[-1]
    reached = values >= fraction * final if ordered else values <= final / fraction
    return int(np.argmax(reached)) + 1


def _early_stopping(setting, has_validation):
    if setting is None or setting is False:
        return []
    arguments = {"patience": setting} if isinstance(setting, int) else dict(setting)
    arguments.setdefault("monitor", "val_loss" if has_validation else "loss")
    arguments.setdefault("restore_best_weights", True)
    return [keras.callbacks.EarlyStopping(**arguments)]


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


def _check_data(data, argument):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ConfigurationError(
            f"{argument} must be a tuple (x, y) of arrays. Received: {argument} of type {type(data).__name__}"
        )
    x, y = data
    y = np.asarray(y)
    lengths = {len(a) for a in keras.tree.flatten(x)}
    if lengths != {len(y)}:
        raise ConfigurationError(
            f"{argument}: x and y need the same number of examples. Received: "
            f"x lengths {sorted(lengths)}, y length {len(y)}"
        )
    return x, y


def _check_transductive(train_data, test_data):
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


def _is_classification(y):
    return np.issubdtype(np.asarray(y).dtype, np.integer) and np.asarray(y).ndim == 1


def _resolve_metrics(metrics, classification):
    if metrics == "auto":
        return list(
            metrics_lib.CLASSIFICATION_METRICS if classification else metrics_lib.REGRESSION_METRICS
        )
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    for metric in metrics:
        metrics_lib.get(metric)
    return list(metrics)


def _sizes(fractions, shots, classification):
    sizes = [dict(fraction=float(f)) for f in fractions or ()]
    sizes += [dict(shots=int(k)) for k in shots or ()]
    if shots and not classification:
        raise ConfigurationError(f"shots need integer class labels. Received: shots={shots!r}")
    return sizes or [None]


def _folds(cv, select, y_train, test_data, test_rows, seed, classification):
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


def _selector(x, y, transductive):
    """`select(indices)`: the data of those examples, sliced, or all of `x` with a 0/1 mask."""
    if not transductive:
        return lambda indices: (_take(x, indices), y[indices])

    # Unlabelled rows (-1) always have weight 0; class 0 stands in for them because
    # TensorFlow's sparse cross-entropy rejects a label outside 0 .. C - 1 even at weight 0.
    filled = np.where(y < 0, 0, y)

    def select(indices):
        mask = np.zeros(len(y), "float32")
        mask[indices] = 1.0
        return x, filled, mask

    return select


def _scored(evaluation, predictions):
    """`(y_true, y_pred)` at the held-out examples (the masked rows, transductively)."""
    if len(evaluation) == 2:
        return evaluation[1], predictions
    rows = np.flatnonzero(evaluation[2])
    return evaluation[1][rows], np.asarray(predictions)[rows]


def _count(data):
    return len(data[1]) if len(data) == 2 else int(np.sum(data[2]))


def _training_set(select, y, pool, size, seed, fold, validation_split, classification):
    """The run key and the training and validation data of one seed, fold and size."""
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
    validation = select(val_idx) if len(val_idx) else None
    return key, select(train_idx), validation


def _collect(run_key, n_train, values, outcome, rows, history, choices):
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


def _take(x, indices):
    return keras.tree.map_structure(lambda a: a[indices], x)


def _describe(key):
    parts = [f"{k}={v}" for k, v in key.items() if not (isinstance(v, float) and np.isnan(v))]
    return " ".join(parts)


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
