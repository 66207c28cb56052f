"""Running one configuration: build a fresh model, train it under the shared budget, predict."""

import itertools
import math
import time

import keras
import numpy as np

from tlkeras.batchnorm_statistics import recalibrate_batchnorm
from tlkeras.errors import ConfigurationError
from tlkeras.feature_cache import cache_problem
from tlkeras.feature_cache import fit_features
from tlkeras.feature_cache import split_model

# Keys of a configuration that go to fit() instead of tlkeras.build().
FIT_KEYS = ("class_weight", "callbacks", "shuffle")
# The budget is compare()'s to set, the same for every configuration.
BUDGET_KEYS = (
    "steps",
    "epochs",
    "batch_size",
    "early_stopping",
    "initial_epoch",
    "steps_per_epoch",
    "validation_data",
    "validation_split",
)
CONVERGENCE_FRACTION = 0.95
# Validations per run under a step budget (small subsets repeat within an epoch to match).
EVALUATIONS = 25
# Share of the run at whose start the training loss must already be within
# PLATEAU_TOLERANCE of its total fall for the run to count as converged.
PLATEAU_FROM = 0.75
PLATEAU_TOLERANCE = 0.05


class Runner:
    """Builds, trains and predicts with one configuration under the shared budget.

    With `budget["steps"]` every run takes exactly that many optimizer steps
    (fewer only when early stopping ends it): small subsets are repeated
    within an epoch so that every run is validated about `EVALUATIONS` times,
    at the same steps whatever its size. With `budget["epochs"]` it runs that
    many passes over its subset, as Keras does.

    A frozen configuration whose run names its examples (`ids`) trains from
    `store`'s features (`evaluation.feature_store.FeatureStore`), computed once
    per example for every grid value, size and seed, and is scored from the
    held-out set's, computed once too.
    """

    def __init__(self, build_fn, build_kwargs, budget, dataset_fn, verbose, tune=None):
        self.build_fn = build_fn
        self.build_kwargs = build_kwargs
        self.budget = budget
        self.dataset_fn = dataset_fn
        self.verbose = verbose
        self.tune = tune
        self.store = None
        self._models = {}
        self._initial_weights = {}
        self._compiled = {}  # id(model) -> compile_signature of its last compile
        self._splits = {}  # (id(model), seed) -> (extractor, top) of split_model, or None

    def run(self, name, config, train, validation, evaluation, seed, ids=None):
        """Trains `config` once per grid value, keeps the best on validation, predicts.

        Args:
            ids: `(train indices, validation indices, held-out name)`, which
                lets a frozen configuration use the feature store; `None`
                computes features per fit. Defaults to `None`.
        """
        start = time.perf_counter()
        trials, chosen_on = grid_trials(self.tune, self.budget.get("max_trials"), seed, validation)
        best = None
        for position, values in enumerate(trials):
            model, trained = self._train(name, {**config, **values}, train, validation, seed, ids)
            if best is None or trained["val_loss"] < best[1]["val_loss"]:
                # Every trial trains the configuration's one model in place:
                # the winner's weights are copied out, or the next trial's
                # training would be what gets scored. A top trained on stored
                # features shares its layers with the model (split_model).
                kept = (
                    None
                    if position == len(trials) - 1
                    else [np.array(w) for w in model.get_weights()]
                )
                best = (model, trained, values, kept)
        model, trained, values, kept = best
        if kept is not None:
            model.set_weights(kept)
        batch_size = self.budget["batch_size"]
        stored = trained["stored"]
        if self.budget["precise_bn"]:
            recalibrate_batchnorm(
                *(
                    (stored[1], dict(x=stored[2].rows(stored[0], ids[0]), batch_size=batch_size))
                    if stored
                    else (model, self.feed(*train, seed=seed))
                )
            )
        wall_time = time.perf_counter() - start
        if stored:
            extractor, top, store = stored
            features = store.held_out(extractor, ids[2], evaluation)
            predictions = top.predict(features, batch_size=batch_size, verbose=0)
        else:
            predictions = model.predict(**self.feed(*evaluation, seed=seed), verbose=0)
        curves = trained["curves"]
        tuned = {}
        if self.tune:
            tuned = dict(
                values=values, trials=len(trials), chosen_on=chosen_on, val_loss=trained["val_loss"]
            )
        return dict(
            predictions=predictions,
            history=curves,
            tuned=tuned,
            steps_run=trained["steps_run"],
            epochs_run=len(curves.get("loss", [])),
            steps_to_95pct_of_final=steps_to_fraction_of_final(curves),
            train_loss_plateau=loss_plateau(curves.get("loss", [])),
            wall_time=wall_time,
        )

    def feed(self, x, y, sample_weight=None, *, seed=0):
        """`predict()` keyword arguments for these examples (no targets, no shuffling)."""
        inputs = self._inputs(
            x, y, sample_weight, training=False, seed=seed, batch_size=self.budget["batch_size"]
        )
        for key in ("y", "sample_weight", "shuffle"):
            inputs.pop(key, None)
        return inputs

    def _train(self, name, config, train, validation, seed, ids=None):
        """A freshly seeded model trained under the budget, and what its training recorded."""
        model, fit_kwargs, budget = self._prepare(name, config, train, validation, seed)
        stored = self._stored(model, fit_kwargs, seed, ids)
        verbose = 2 if self.verbose > 1 else 0
        if stored:
            fit_history = fit_features(
                model, **self._feature_arguments(stored, fit_kwargs, train, validation, ids),
                verbose=verbose,
            )  # fmt: skip
        else:
            fit_history = model.fit(**fit_kwargs, verbose=verbose)
        curves = {k: list(v) for k, v in fit_history.history.items() if k != "learning_rate"}
        if budget is not None:
            curves["step"] = list(budget.step_at_epoch_end)
        else:
            steps = fit_kwargs.get("steps_per_epoch") or _num_batches(fit_kwargs)
            curves["step"] = [steps * (epoch + 1) for epoch in range(len(curves.get("loss", [])))]
        val_loss = curves.get("val_loss")
        return model, dict(
            curves=curves,
            stored=stored,
            steps_run=curves["step"][-1] if curves["step"] else 0,
            # With no validation split there is nothing to choose on: the one trial wins.
            val_loss=float(np.nanmin(val_loss)) if val_loss else np.inf,
        )

    def _prepare(self, name, config, train, validation, seed):
        """A freshly seeded, compiled model, the fit() arguments and the step budget callback."""
        build_args, fit_args, compile_args = split_config(name, config)
        model = self._fresh_model(name, build_args, seed)
        arguments = compile_args or _fresh_compile_arguments(model)
        self._compiled[id(model)] = compile_for_run(model, arguments, self._compiled.get(id(model)))
        # Shuffling and dropout of this run start from the seed, whatever ran before.
        keras.utils.set_random_seed(int(seed))
        batch_size = self.budget["batch_size"]
        callbacks = list(fit_args.pop("callbacks", None) or [])
        steps = self.budget.get("steps")
        budget = None
        if steps:
            tiled = self.dataset_fn is None and len(train) == 2
            passes, epochs = self._step_plan(train, batch_size, steps, tiled)
            fit_kwargs = self._inputs(
                *train, training=True, seed=seed, batch_size=batch_size, repeats=passes
            )
            budget = StepBudget(steps, _patience(self.budget["early_stopping"], steps, validation))
            callbacks.append(budget)
        else:
            fit_kwargs = self._inputs(*train, training=True, seed=seed, batch_size=batch_size)
            epochs = self.budget["epochs"]
            callbacks += early_stopping(
                self.budget["early_stopping"], validation is not None, epochs
            )
        if validation is not None:
            inputs = self._inputs(*validation, training=False, seed=seed, batch_size=batch_size)
            fit_kwargs["validation_data"] = (
                tuple(inputs[k] for k in ("x", "y", "sample_weight") if k in inputs)
                if "y" in inputs
                else inputs["x"]
            )
        fit_kwargs.update(epochs=epochs, callbacks=callbacks, **fit_args)
        if self.budget.get("cache_features") and _cacheable(model, callbacks):
            fit_kwargs["cache_features"] = True
        return model, fit_kwargs, budget

    def _stored(self, model, fit_kwargs, seed, ids):
        """`(extractor, top, store)` when this fit can train from stored features, else `None`."""
        if not (fit_kwargs.get("cache_features") and ids is not None and self.store):
            return None
        # Per model (a grid over build arguments gives several models of one
        # configuration) and seed: the store knows an extractor by the
        # fingerprint of its weights when first used, and a frozen
        # configuration with random weights has other backbone weights per seed.
        key = (id(model), int(seed))
        if key not in self._splits:
            extractor, top = split_model(model)
            # One feature tensor per example (a multi-output extractor trains per fit).
            self._splits[key] = (extractor, top) if len(extractor.outputs) == 1 else None
        parts = self._splits[key]
        return None if parts is None else (*parts, self.store)

    def _feature_arguments(self, stored, fit_kwargs, train, validation, ids):
        """fit_features() arguments: stored features in place of the examples."""
        extractor, _, store = stored
        dropped = ("x", "y", "shuffle", "cache_features")
        arguments = {k: v for k, v in fit_kwargs.items() if k not in dropped}
        steps = self.budget.get("steps")
        passes = 1
        if steps:
            passes, arguments["epochs"] = self._step_plan(train, self.budget["batch_size"], steps)
        order = np.tile(np.arange(len(ids[0])), passes)
        arguments.update(
            features=store.rows(extractor, ids[0])[order],
            y=np.asarray(train[1])[order],
            batch_size=self.budget["batch_size"],
        )
        if validation is not None:
            arguments["validation_data"] = (store.rows(extractor, ids[1]), validation[1])
        return arguments

    def _fresh_model(self, name, build_args, seed):
        """The configuration's model holding its initial weights for this seed.

        One model per configuration (and build arguments, which a grid may
        vary), built once: building a pretrained network and tracing its
        train step are the slowest parts of a small run, and `compile_for_run`
        keeps the traced steps from run to run. Each seed's initial weights
        are those a fresh build with that seed gives; every run of that seed,
        at any size or grid value, starts from a copy of them.
        """
        key = (name, repr(sorted(build_args.items())))
        if (key, int(seed)) not in self._initial_weights:
            keras.utils.set_random_seed(int(seed))
            model = self._build({**self.build_kwargs, **build_args})
            self._initial_weights[key, int(seed)] = [np.array(v) for v in model.get_weights()]
            if key not in self._models:
                layers = list(model._flatten_layers(include_self=True, recursive=True))
                # A callback may unfreeze layers during a run (gradual unfreezing).
                self._models[key] = (model, [(layer, layer.trainable) for layer in layers])
        model, trainable = self._models[key]
        for layer, flag in trainable:
            if layer.trainable != flag:
                layer.trainable = flag
        model.set_weights(self._initial_weights[key, int(seed)])
        return model

    def _num_batches(self, train, batch_size):
        """Optimizer steps of one pass over a training subset."""
        if self.dataset_fn is None:
            return max(1, math.ceil(count_rows(train) / batch_size))
        dataset = self.dataset_fn(train[0], train[1], training=False, seed=0, **_mask(train))
        size = int(dataset.cardinality()) if hasattr(dataset, "cardinality") else len(dataset)
        return size if size > 0 else None  # unknown or infinite: one pass per epoch

    def _step_plan(self, train, batch_size, steps, tiled=True):
        """`(passes per Keras epoch, epochs)` of a step budget.

        Small subsets repeat within an epoch so that every run is validated at
        about the same steps. Tiled arrays are batched after repeating (a pass
        of 10 examples is not a batch of its own); a dataset repeats its batches.
        """
        interval = max(1, steps // EVALUATIONS)
        if tiled:
            rows = count_rows(train)
            passes = max(1, round(interval * batch_size / rows))
            return passes, math.ceil(steps / math.ceil(rows * passes / batch_size))
        batches = self._num_batches(train, batch_size)
        passes = 1 if batches is None else max(1, round(interval / batches))
        return passes, math.ceil(steps / (passes * (batches or 1)))

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

    def _inputs(self, x, y, sample_weight=None, *, training, seed, batch_size, repeats=1):
        """Keyword arguments of fit()/predict() for these arrays (and transductive mask)."""
        masked = {} if sample_weight is None else {"sample_weight": sample_weight}
        if self.dataset_fn is None:
            if repeats > 1 and sample_weight is None:
                order = np.tile(np.arange(len(y)), repeats)
                x, y = keras.tree.map_structure(lambda a: a[order], x), y[order]
            return dict(x=x, y=y, batch_size=batch_size, shuffle=training, **masked)
        dataset = self.dataset_fn(x, y, training=training, seed=int(seed), **masked)
        if repeats > 1 and hasattr(dataset, "repeat"):
            dataset = dataset.repeat(repeats)
        return dict(x=dataset)


class StepBudget(keras.callbacks.Callback):
    """Stops training after exactly `steps` optimizer steps; early stopping counted in steps.

    With `patience`, it watches `val_loss` at each epoch end, stops once
    `patience` steps have passed without a better value, and restores the
    weights of the best epoch at the end of training.

    Args:
        steps: optimizer steps of the run.
        patience: steps without improvement before stopping, or `None`
            (run the whole budget). Defaults to `None`.
    """

    def __init__(self, steps, patience=None):
        super().__init__()
        self.steps = int(steps)
        self.patience = patience
        self.step = 0
        self.step_at_epoch_end = []
        self.best = (np.inf, 0, None)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step >= self.steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.step_at_epoch_end.append(self.step)
        value = (logs or {}).get("val_loss")
        if self.patience is None or value is None:
            return
        if value < self.best[0]:
            self.best = (float(value), self.step, self.model.get_weights())
        elif self.step - self.best[1] >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best[2] is not None:
            self.model.set_weights(self.best[2])


def grid_trials(tune, max_trials, seed, validation):
    """The hyperparameter values to train (a list of dicts) and how the winner is chosen.

    Every configuration gets the same trials: the whole grid, or `max_trials`
    of it drawn with the run's seed. Without a validation split nothing can
    choose, so the one trial is the grid's middle value of each key.
    """
    if not tune:
        return [{}], None
    if validation is None:
        return [{key: values[(len(values) - 1) // 2] for key, values in tune.items()}], "fallback"
    grid = [dict(zip(tune, values, strict=True)) for values in itertools.product(*tune.values())]
    if max_trials is not None and max_trials < len(grid):
        picks = np.random.default_rng(int(seed)).choice(len(grid), max_trials, replace=False)
        grid = [grid[i] for i in sorted(picks)]
    return grid, "validation"


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
    if "learning_rate" in config or "weight_decay" in config:
        rate = float(config.get("learning_rate", 1e-3))
        decay = config.get("weight_decay")
        compile_args["optimizer"] = (
            keras.optimizers.Adam(learning_rate=rate)
            if decay is None
            else keras.optimizers.AdamW(learning_rate=rate, weight_decay=float(decay))
        )
    for key, value in config.items():
        if key in BUDGET_KEYS:
            raise ConfigurationError(
                f"Configuration {name!r} sets {key!r}, but the budget is the same for every "
                f"configuration: pass it to compare() instead. Received: {key}={value!r}"
            )
        if key in ("compile", "learning_rate", "weight_decay"):
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


def steps_to_fraction_of_final(curves, fraction=CONVERGENCE_FRACTION):
    """First optimizer step at which the run's curve reaches `fraction` of its final value.

    The curve is the first validation metric other than the loss, else the
    first training metric, else the loss (see `epochs_to_fraction_of_final`);
    `curves["step"]` gives the step of each epoch end.
    """
    epoch = epochs_to_fraction_of_final(curves, fraction)
    steps = curves.get("step") or []
    if epoch != epoch or not steps:  # nan
        return epoch
    return int(steps[epoch - 1])


def loss_plateau(losses, start=PLATEAU_FROM, tolerance=PLATEAU_TOLERANCE):
    """Whether a training loss curve had flattened: after `start` of the run it fell by less
    than `tolerance` of its whole fall. `None` for fewer than 4 points."""
    losses = np.asarray(losses, dtype="float64")
    if losses.size < 4:
        return None
    fall = losses[0] - losses.min()
    late = losses[int(start * (losses.size - 1))] - losses[-1]
    return bool(late <= tolerance * max(fall, 1e-12))


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


def early_stopping(setting, has_validation, epochs=None):
    """Keras EarlyStopping for a budget in epochs (`"auto"`: a fifth of them, on `val_loss`)."""
    if setting == "auto":
        if not has_validation:
            return []
        setting = max(1, (epochs or 5) // 5)
    if setting is None or setting is False:
        return []
    arguments = {"patience": setting} if isinstance(setting, int) else dict(setting)
    arguments.setdefault("monitor", "val_loss" if has_validation else "loss")
    arguments.setdefault("restore_best_weights", True)
    return [keras.callbacks.EarlyStopping(**arguments)]


def _patience(setting, steps, validation):
    """Early-stopping patience in steps: `"auto"` is a fifth of the budget, with a validation split."""
    if setting is None or setting is False or validation is None:
        return None
    if setting == "auto":
        return max(1, steps // 5)
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
        raise ConfigurationError(
            "With a budget in steps, early_stopping is 'auto', None or a patience in steps "
            f"(a positive int). Received: early_stopping={setting!r}"
        )
    return setting


def compile_for_run(model, arguments, previous=None):
    """`model.compile(**arguments)` for a new run, keeping the traced steps where it can.

    On TensorFlow, `compile()` drops the model's traced train, test and predict functions,
    and tracing them again costs more than a short run's training. When the
    model's last compile had the same arguments except the optimizer's
    learning rate, the run instead gets the optimizer state a fresh optimizer
    would have (the new one is built over the same variables and its values
    copied over: zero moments, iteration 0, the new learning rate), which
    trains exactly as a fresh `compile()` does.

    Args:
        model: a Keras model.
        arguments: keyword arguments of `compile()`, with a new optimizer.
        previous: what this function returned for the model's last compile,
            or `None`.

    Returns:
        The signature of `arguments`, to pass as `previous` next time.
    """
    signature = compile_signature(arguments)
    if (
        signature is not None
        and signature == previous
        and model.compiled
        and model.optimizer is not None
        and model.optimizer.built
        and _reset_optimizer(model.optimizer, arguments["optimizer"])
    ):
        return signature
    model.compile(**arguments)
    return signature


def compile_signature(arguments):
    """What must match for a run to keep the traced steps: `None` if nothing may be kept.

    The optimizer counts by its class and configuration without the learning
    rate (a variable the traced step reads); the other arguments as they are.
    Read before the optimizer trains: on JAX a trained optimizer's arrays are
    donated to the step and can no longer be read.
    """
    optimizer = arguments.get("optimizer")
    if not isinstance(optimizer, keras.optimizers.Optimizer) or optimizer.built:
        return None
    if keras.backend.backend() != "tensorflow":
        # Checked equal to fresh compiles on TensorFlow only: on JAX compare()'s
        # kept step scored 1 test image in 120 differently (not investigated).
        return None
    config = optimizer.get_config()
    if not isinstance(config.pop("learning_rate", None), float):
        return None  # a schedule is part of the traced step
    config.pop("name", None)
    others = {key: value for key, value in arguments.items() if key != "optimizer"}
    return (type(optimizer), repr(sorted(config.items())), others)


def _reset_optimizer(current, fresh):
    """Gives `current` the state of `fresh` built over the same variables; False if it can't."""
    variables = list(current._trainable_variables)
    fresh.build(variables)
    pairs = list(zip(current.variables, fresh.variables, strict=False))
    if len(current.variables) != len(fresh.variables) or any(
        tuple(a.shape) != tuple(b.shape) for a, b in pairs
    ):
        return False
    # The learning rate is one of the variables: it is copied with the rest.
    # Copies, not the arrays themselves: JAX donates the current ones to the step.
    for old, new in pairs:
        old.assign(keras.ops.copy(new.value))
    return True


def _fresh_compile_arguments(model):
    """The model's own compile arguments with a new optimizer (no state from an earlier run)."""
    arguments = getattr(model, "_compile_arguments", None)
    if arguments is None:
        config = getattr(model, "_compile_config", None)
        arguments = {} if config is None else config.config
    arguments = dict(arguments)
    optimizer = arguments.get("optimizer")
    if isinstance(optimizer, keras.optimizers.Optimizer):
        arguments["optimizer"] = optimizer.__class__.from_config(optimizer.get_config())
    return arguments


def _cacheable(model, callbacks):
    """A frozen tlkeras model trains from its backbone's features computed once (feature cache)."""
    return hasattr(model, "backbone") and cache_problem(model, callbacks) is None


def count_rows(data):
    """Training examples in `(x, y)` or in a transductive `(x, y, mask)`."""
    return len(data[1]) if len(data) == 2 else int(np.sum(data[2]))


def _mask(data):
    return {} if len(data) == 2 else {"sample_weight": data[2]}


def _num_batches(fit_kwargs):
    x = fit_kwargs["x"]
    if "batch_size" in fit_kwargs:
        return max(1, math.ceil(len(fit_kwargs["y"]) / fit_kwargs["batch_size"]))
    return int(x.cardinality()) if hasattr(x, "cardinality") else len(x)
