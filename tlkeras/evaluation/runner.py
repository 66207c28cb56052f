"""Running one configuration: build a fresh model, train it under the shared budget, predict."""

import time

import keras
import numpy as np

from tlkeras.errors import ConfigurationError

# Keys of a configuration that go to fit() instead of tlkeras.build().
FIT_KEYS = ("batch_size", "class_weight", "callbacks", "shuffle")
# The budget is compare()'s to set, the same for every configuration.
BUDGET_KEYS = ("epochs", "early_stopping", "initial_epoch", "validation_data", "validation_split")
CONVERGENCE_FRACTION = 0.95


class Runner:
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
        callbacks += early_stopping(self.budget["early_stopping"], validation is not None)
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


def early_stopping(setting, has_validation):
    if setting is None or setting is False:
        return []
    arguments = {"patience": setting} if isinstance(setting, int) else dict(setting)
    arguments.setdefault("monitor", "val_loss" if has_validation else "loss")
    arguments.setdefault("restore_best_weights", True)
    return [keras.callbacks.EarlyStopping(**arguments)]
