"""DomainAdaptationModel: DANN, MMD or CORAL training of a TransferModel with plain fit()."""

import math

import keras
from keras import ops

from tlkeras import distribution
from tlkeras.backbones.backbone import trainable_by_nature
from tlkeras.domain.losses import coral_loss
from tlkeras.domain.losses import mmd_loss
from tlkeras.errors import ConfigurationError
from tlkeras.inputs import InputAdapter
from tlkeras.layers.gradient_reversal import GradientReversal
from tlkeras.optimizers import FINE_TUNE_LEARNING_RATE
from tlkeras.optimizers import HEAD_LEARNING_RATE
from tlkeras.step_guard import GuardedTrainStep
from tlkeras.transfer_model import FIT_CALLBACKS_POSITION
from tlkeras.transfer_model import keep_dataset_order

METHODS = ("dann", "mmd", "coral", None)
DISCREPANCIES = {"mmd": mmd_loss, "coral": coral_loss}
SOURCE, TARGET, LABELED_TARGET = "source", "target", "labeled_target"


@keras.saving.register_keras_serializable(package="tlkeras")
class DomainAdaptationModel(
    InputAdapter, distribution.MultiWorkerTraining, GuardedTrainStep, keras.Model
):
    """Trains a transfer model on labeled source and unlabeled target data.

    Wraps a model built by `tlkeras.build(..., bottleneck=...)` and shares its
    layers and weights (no copy). A domain discriminator reads the bottleneck
    features of source and target examples, one concatenated batch per step:

    - `method="dann"` (Ganin et al., 2016): the discriminator sits behind a
      `GradientReversal` layer, so the same backward pass trains it to tell
      the domains apart and trains the features to fool it.
      `adaptation_weight` is the reversal factor λ.
    - `method="mmd"` / `"coral"`: the loss adds `adaptation_weight ×` a
      discrepancy between source and target features (`mmd_loss`,
      `coral_loss`). The discriminator becomes a probe behind a reversal of
      factor 0: it learns, but cannot move the features.
    - `method=None`: source-only training with the same probe, the baseline
      with the same budget and the same logs.

    The label loss applies to source examples (and to labeled target
    examples, for semi-supervised adaptation); the domain loss to all.
    Besides `loss` and the head's metrics (on labeled examples), the logs hold
    `label_loss`, `domain_loss`, `domain_accuracy` and, for MMD / CORAL,
    `mmd_loss` / `coral_loss`. `domain_accuracy` needs no target labels: on
    held-out pairs (`validation_data=pair_datasets(..., shuffle=False)`), a
    value near 0.5 means the features no longer tell the domains apart.

    Train with `fit()` on `tlkeras.domain.pair_datasets(...)`, or on
    `x={"source": xs, "target": xt}, y=ys` (optionally with
    `x["labeled_target"]` and `y={"source": ys, "labeled_target": yl}`).
    `predict(x)` and `evaluate(x, y)` on plain inputs are the task model's;
    save the inference model (no discriminator) with `task_model.save(...)`.

    Args:
        task_model: a single-output `tlkeras.TransferModel` (or any functional
            model) with a layer named by `features`.
        method: `"dann"`, `"mmd"`, `"coral"` or `None`. Defaults to `"dann"`.
        adaptation_weight: λ, the initial reversal factor (DANN) or
            discrepancy weight (MMD / CORAL); change it during training with
            `tlkeras.callbacks.DomainAdversarialSchedule`. Defaults to `1.0`.
        features: name of the layer whose output is aligned. Defaults to
            `"bottleneck"`.
        discriminator_units: widths of the discriminator's hidden ReLU
            layers. Defaults to `(64, 64)`.
        mmd_bandwidths: kernel widths for `method="mmd"`, see `mmd_loss`.
            Defaults to `None` (adapted to the features' scale).
        target_entropy_weight: weight of the mean entropy of the class
            predictions on unlabeled target examples, added to the loss
            (entropy minimisation, Grandvalet & Bengio, 2005; the "+E" of
            DANN+E / CDAN+E): it pushes the decision boundary away from dense
            target regions, so aligned features also land in the right class.
            Needs a single-label classifier head. Defaults to `0.0` (off).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    model = tlkeras.build(backbone, num_classes=10, bottleneck=128)
    dann = tlkeras.domain.DomainAdaptationModel(model, method="dann")
    dann.compile()
    dann.fit(
        tlkeras.domain.pair_datasets((x_source, y_source), x_target),
        epochs=20,
        callbacks=[tlkeras.callbacks.DomainAdversarialSchedule()],
    )
    dann.task_model.predict(x_target)
    ```
    """

    def __init__(
        self,
        task_model,
        method="dann",
        adaptation_weight=1.0,
        features="bottleneck",
        discriminator_units=(64, 64),
        mmd_bandwidths=None,
        target_entropy_weight=0.0,
        **kwargs,
    ):
        # Built under the strategy the task model lives in, if any: Keras binds a
        # model (and its variables) to the strategy active at construction.
        with distribution.scope_of(task_model):
            kwargs.setdefault("name", f"{task_model.name}_{method or 'source_only'}")
            super().__init__(**kwargs)
            if method not in METHODS:
                raise ConfigurationError(
                    f"Unknown domain adaptation method. Received: method={method!r}; "
                    f"expected one of {METHODS}."
                )
            if len(task_model.outputs) != 1:
                raise ConfigurationError(
                    "Domain adaptation supports single-output models. Received: a model "
                    f"with outputs {list(task_model.output_names)}"
                )
            adaptation_weight = _check_weight(adaptation_weight)
            self.task_model = task_model
            self.method = method
            self.features = features
            self.discriminator_units = [int(u) for u in discriminator_units]
            self.mmd_bandwidths = None if mmd_bandwidths is None else list(mmd_bandwidths)
            self.target_entropy_weight = _check_weight(
                target_entropy_weight, "target_entropy_weight"
            )
            if self.target_entropy_weight and task_model.output.shape[-1] in (None, 1):
                raise ConfigurationError(
                    "target_entropy_weight needs a classifier with one probability per "
                    f"class. Received: target_entropy_weight={target_entropy_weight!r} "
                    f"with outputs of shape {tuple(task_model.output.shape)}"
                )

            # === Layers ===
            # One functional model over the task model's own layers, with the
            # features as a second output: one forward pass yields both.
            self.joint = keras.Model(
                task_model.input,
                [task_model.output, _feature_tensor(task_model, features)],
                name="joint",
            )
            factor = adaptation_weight if method == "dann" else 0.0
            self.gradient_reversal = GradientReversal(factor, name="gradient_reversal")
            self.discriminator = keras.Sequential(
                [keras.layers.Dense(u, activation="relu") for u in self.discriminator_units]
                # float32 logits keep the domain loss stable under mixed precision.
                + [keras.layers.Dense(1, dtype="float32", name="domain_logit")],
                name="domain_discriminator",
            )
            self.discriminator.build((None, self.joint.outputs[1].shape[-1]))
            self._adaptation_weight = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(adaptation_weight),
                trainable=False,
                dtype="float32",
                name="adaptation_weight",
            )
            # Added to λ after every train step, inside the step: a schedule moves
            # λ per batch without a per-batch callback (which would make every
            # step wait for the host on accelerators).
            self._adaptation_increment = self.add_weight(
                shape=(),
                initializer="zeros",
                trainable=False,
                dtype="float32",
                name="adaptation_increment",
            )

            # === Metrics ===
            self.label_loss_tracker = keras.metrics.Mean(name="label_loss")
            self.domain_loss_tracker = keras.metrics.Mean(name="domain_loss")
            self.domain_accuracy = keras.metrics.BinaryAccuracy(
                name="domain_accuracy", threshold=0.0
            )
            self.discrepancy_tracker = (
                keras.metrics.Mean(name=f"{method}_loss") if method in DISCREPANCIES else None
            )
            self.entropy_tracker = (
                keras.metrics.Mean(name="target_entropy") if self.target_entropy_weight else None
            )

    # === Layer groups (the task model's; the discriminator always trains) ===
    @property
    def layer_groups(self):
        """The task model's layer groups, so fine-tuning callbacks drive this model."""
        return self.task_model.layer_groups

    @property
    def num_backbone_groups(self):
        return self.task_model.num_backbone_groups

    @property
    def frozen_groups(self):
        return self.task_model.frozen_groups

    def freeze(self, k=None):
        """Freezes the task model's first `k` layer groups (see `TransferModel.freeze`)."""
        self.task_model.freeze(k)
        return self

    def unfreeze(self):
        """Makes every layer group of the task model trainable."""
        self.task_model.unfreeze()
        return self

    # === Adaptation weight ===
    @property
    def adaptation_weight(self):
        """λ: the reversal factor (DANN) or discrepancy weight (MMD / CORAL)."""
        return float(ops.convert_to_numpy(self._adaptation_weight))

    @adaptation_weight.setter
    def adaptation_weight(self, value):
        self._assign_weight(_check_weight(value))

    def set_adaptation_ramp(self, start, increment):
        """Sets λ to `start`, then adds `increment` after every train step.

        Used by `DomainAdversarialSchedule` to follow a schedule batch by batch
        at no per-batch cost. `increment=0` holds λ constant.
        """
        self.adaptation_weight = start
        self._adaptation_increment.assign(float(increment))

    def _assign_weight(self, value):
        self._adaptation_weight.assign(value)
        if self.method == "dann":
            self.gradient_reversal.factor_variable.assign(value)

    # === Forward pass ===
    def call(self, inputs, training=None):
        if not isinstance(inputs, dict) or not {SOURCE, TARGET} <= set(inputs):
            keys = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ConfigurationError(
                "DomainAdaptationModel takes x={'source': ..., 'target': ...} (see "
                "tlkeras.domain.pair_datasets); predict with .task_model. "
                f"Received: x with {keys}"
            )
        parts = [inputs[SOURCE], inputs[TARGET]]
        if LABELED_TARGET in inputs:
            parts.append(inputs[LABELED_TARGET])
        joint_inputs = keras.tree.map_structure(
            lambda *tensors: ops.concatenate(tensors, axis=0), *parts
        )
        predictions, features = self.joint(joint_inputs, training=training)
        domain_logits = self.discriminator(self.gradient_reversal(features), training=training)
        return {"predictions": predictions, "features": features, "domain": domain_logits}

    # === Training ===
    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` with the task head's "auto" loss and metrics.

        Args:
            optimizer: `"auto"` is what the task model's own `compile` would
                use (`TransferModel.resolve_optimizer`: its strategies, e.g.
                layer-wise rates, included); for other models, Adam at 1e-3
                while the backbone is frozen, 1e-4 once any of it trains.
                Defaults to `"auto"`.
            loss: the label loss; `"auto"` takes the head's `default_loss()`.
                Defaults to `"auto"`.
            metrics: label metrics (computed on labeled examples); `"auto"`
                takes the head's `default_metrics()`. Defaults to `"auto"`.
            **kwargs: passed to `keras.Model.compile`.
        """
        head = self.task_model.output._keras_history.operation
        if hasattr(self.task_model, "resolve_optimizer"):
            # A TransferModel's own rule and strategies (e.g. layer-wise rates).
            optimizer = self.task_model.resolve_optimizer(optimizer)
        elif optimizer == "auto":
            backbone = getattr(self.task_model, "backbone", self.task_model)
            trains = any(v.trainable for v in trainable_by_nature([backbone]))
            rate = FINE_TUNE_LEARNING_RATE if trains else HEAD_LEARNING_RATE
            optimizer = keras.optimizers.Adam(learning_rate=rate)
        if loss == "auto" or metrics == "auto":
            if not hasattr(head, "default_loss"):
                raise ConfigurationError(
                    f"compile(loss='auto') needs a tlkeras head; the output layer "
                    f"{head.name!r} is a {type(head).__name__}. Pass loss= and metrics=."
                )
            loss = head.default_loss() if loss == "auto" else loss
            metrics = head.default_metrics() if metrics == "auto" else metrics
        self._label_loss_and_metrics = (loss, metrics)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        self.prepare_training()

    def prepare_training(self):
        """Makes freezing changes (`task_model.freeze(k)`) take effect in the next step.

        On TensorFlow and PyTorch the optimizer is built over every variable
        that can ever train, so a group unfrozen later joins without resetting
        the others' state. JAX matches optimizer slots to the trainable
        variables by position, so there Keras builds it over the current ones
        (and a freezing change needs a new `compile()`).
        """
        if not self.compiled:
            return
        variables = trainable_by_nature([self])
        if not self.optimizer.built and keras.backend.backend() != "jax":
            self.optimizer.build(variables)
        state = tuple(v.trainable for v in variables)
        if state != getattr(self, "_traced_trainable_state", None):
            self._traced_trainable_state = state
            self.train_function = None

    def fit(self, *args, check_data=True, **kwargs):
        """`keras.Model.fit` on domain pairs, plus the task model's strategy callbacks.

        A task model built with `strategy="gradual"` unfreezes inside this
        `fit()` as it would in its own.

        Args:
            check_data: train with a step that applies no update from the
                first batch whose loss or gradients turn NaN/Inf, and raise
                `tlkeras.errors.DataError` naming it at that epoch's end
                (`tlkeras.callbacks.NonFiniteLossGuard`); no per-batch work
                on the host. Defaults to `True`.
            *args, **kwargs: as for `keras.Model.fit`.
        """
        args, kwargs = self.guard_fit_arguments(args, kwargs, check_data, FIT_CALLBACKS_POSITION)
        strategies = getattr(self.task_model, "_strategies", ())
        if strategies and len(args) <= FIT_CALLBACKS_POSITION:
            from tlkeras.strategies import fit_callbacks

            kwargs["callbacks"] = fit_callbacks(self.task_model, kwargs.get("callbacks"))
        self.prepare_training()
        return super().fit(*args, **keep_dataset_order(args, kwargs))

    # === Inference: the task model's ===
    def predict(self, x, *args, **kwargs):
        """The task model's predictions for `x` (no discriminator: there is no pair)."""
        if _is_domain_pair(x):
            return super().predict(x, *args, **kwargs)
        return self.task_model.predict(x, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """Domain pairs: the training logs on held-out pairs; plain `(x, y)`: the task model's.

        Plain inputs (target images with their labels, when some exist) are
        evaluated by `task_model`, compiled with the head's loss and metrics.
        """
        if _is_domain_pair(x):
            return super().evaluate(x, y, *args, **kwargs)
        if not self.task_model.compiled:
            loss, metrics = getattr(self, "_label_loss_and_metrics", ("auto", "auto"))
            self.task_model.compile(loss=loss, metrics=metrics)
        return self.task_model.evaluate(x, y, *args, **kwargs)

    def compile_from_config(self, config):
        # Called by `keras.models.load_model`; Keras skips custom compile()s.
        self.compile(**keras.saving.deserialize_keras_object(config))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        n_source, n_target = _batch_size(x[SOURCE]), _batch_size(x[TARGET])
        labels, predictions = _labeled(y, y_pred["predictions"], n_source, n_target)
        label_loss = super().compute_loss(x, labels, predictions, sample_weight, training)

        logits = y_pred["domain"]
        domains = ops.concatenate(
            [ops.zeros((n_source, 1)), ops.ones((ops.shape(logits)[0] - n_source, 1))], axis=0
        )
        domain_loss = ops.mean(keras.losses.binary_crossentropy(domains, logits, from_logits=True))
        # Under tf.distribute each replica's losses count 1/replicas, as Keras's
        # own loss (label_loss here) already does, since the replicas' gradients
        # are summed. The trackers log the unscaled values.
        share = 1.0 / distribution.replicas_in_sync()
        total = label_loss + share * domain_loss
        self.label_loss_tracker.update_state(label_loss / share)
        self.domain_loss_tracker.update_state(domain_loss)
        self.domain_accuracy.update_state(domains, logits)
        if self.discrepancy_tracker is not None:
            features = y_pred["features"]
            source_features = features[:n_source]
            target_features = features[n_source : n_source + n_target]
            options = {"bandwidths": self.mmd_bandwidths} if self.method == "mmd" else {}
            discrepancy = DISCREPANCIES[self.method](source_features, target_features, **options)
            self.discrepancy_tracker.update_state(discrepancy)
            total = total + share * self._adaptation_weight * discrepancy
        if self.entropy_tracker is not None:
            probabilities = y_pred["predictions"][n_source : n_source + n_target]
            entropy = -ops.mean(
                ops.sum(probabilities * ops.log(ops.maximum(probabilities, 1e-7)), axis=-1)
            )
            self.entropy_tracker.update_state(entropy)
            total = total + share * self.target_entropy_weight * entropy
        if training:
            self._assign_weight(
                ops.maximum(self._adaptation_weight + self._adaptation_increment, 0.0)
            )
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        n_source, n_target = _batch_size(x[SOURCE]), _batch_size(x[TARGET])
        labels, predictions = _labeled(y, y_pred["predictions"], n_source, n_target)
        return super().compute_metrics(x, labels, predictions, sample_weight)

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "task_model": keras.saving.serialize_keras_object(self.task_model),
            "method": self.method,
            "adaptation_weight": self.adaptation_weight,
            "features": self.features,
            "discriminator_units": self.discriminator_units,
            "mmd_bandwidths": self.mmd_bandwidths,
            "target_entropy_weight": self.target_entropy_weight,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["task_model"] = keras.saving.deserialize_keras_object(config["task_model"])
        return cls(**config)


def _feature_tensor(model, name):
    try:
        layer = model.get_layer(name)
    except ValueError:
        raise ConfigurationError(
            f"The model {model.name!r} has no layer named {name!r} to align. "
            f"Received: features={name!r}; build the model with a bottleneck, e.g. "
            "tlkeras.build(..., bottleneck=128), or pass features=<layer name>."
        ) from None
    # The tensor this layer produced inside `model`: for a nested model (a
    # backbone), `layer.output` is the inner graph's tensor instead.
    nodes = layer._inbound_nodes
    if len(nodes) != 1:
        raise ConfigurationError(
            f"The layer {name!r} is called {len(nodes)} times in {model.name!r}, so its "
            f"features are ambiguous. Received: features={name!r}; name a layer called once."
        )
    output = nodes[0].output_tensors[0]
    if len(output.shape) != 2:
        raise ConfigurationError(
            "Aligned features must be (batch, width) vectors. Received: "
            f"features={name!r} with shape {tuple(output.shape)}"
        )
    return output


def _labeled(y, predictions, n_source, n_target):
    """Labels and predictions of the labeled examples: source, then labeled target."""
    if not isinstance(y, dict):
        return y, predictions[:n_source]
    labels = ops.concatenate([y[SOURCE], y[LABELED_TARGET]], axis=0)
    predictions = ops.concatenate(
        [predictions[:n_source], predictions[n_source + n_target :]], axis=0
    )
    return labels, predictions


def _is_domain_pair(x):
    """Whether `x` holds `{"source": ..., "target": ...}` batches (dict, or dataset of them)."""
    if isinstance(x, dict):
        return SOURCE in x
    spec = getattr(x, "element_spec", None)  # a tf.data.Dataset
    if spec is None:
        return False
    first = spec[0] if isinstance(spec, tuple) else spec
    return isinstance(first, dict) and SOURCE in first


def _batch_size(x):
    return ops.shape(keras.tree.flatten(x)[0])[0]


def _check_weight(value, name="adaptation_weight"):
    message = f"{name} must be a non-negative number. Received: {name}={value!r}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(message) from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0.0:
        raise ConfigurationError(message)
    return number
