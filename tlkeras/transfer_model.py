"""TransferModel: backbone -> pooling -> bottleneck -> head(s), with layer groups."""

import sys

import keras

from tlkeras import distribution
from tlkeras import heads as heads_lib
from tlkeras import strategies as strategies_lib
from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.backbone import trainable_by_nature
from tlkeras.errors import ConfigurationError
from tlkeras.inputs import InputAdapter
from tlkeras.inputs import adapt_arguments
from tlkeras.optimizers import FINE_TUNE_LEARNING_RATE
from tlkeras.optimizers import HEAD_LEARNING_RATE
from tlkeras.step_guard import GuardedTrainStep

# keras.Model.fit(x, y, batch_size, epochs, verbose, callbacks, validation_split,
# validation_data, shuffle, ...)
FIT_CALLBACKS_POSITION = 5
FIT_SHUFFLE_POSITION = 8


def keep_dataset_order(args, kwargs):
    """`fit()` keyword arguments with `shuffle=False` for a `tf.data.Dataset` given no `shuffle`.

    Keras ignores `shuffle` for a Dataset (its order is its own) but warns
    about the default `shuffle=True` on every such `fit()`: a warning the
    user cannot act on. An explicit `shuffle=True` is left to warn.
    """
    x = args[0] if args else kwargs.get("x")
    tf = sys.modules.get("tensorflow")
    explicit = "shuffle" in kwargs or len(args) > FIT_SHUFFLE_POSITION
    if tf is None or explicit or not isinstance(x, tf.data.Dataset):
        return kwargs
    return {**kwargs, "shuffle": False}


@keras.saving.register_keras_serializable(package="tlkeras")
class TransferModel(InputAdapter, distribution.MultiWorkerTraining, GuardedTrainStep, keras.Model):
    """A functional model made of a `Backbone` and new layers on top.

    Built by `tlkeras.build`. Its `layer_groups` are the backbone's groups
    followed by one group per new layer (bottleneck, then each head), input side
    first. `freeze(k)` / `unfreeze()` choose what trains, and the choice takes
    effect in the next `fit()` without a manual recompile: Keras reads the
    trainable variables only when it traces the train step, so `fit()` retraces
    it whenever the trainable state changed.

    Args:
        inputs: functional inputs.
        outputs: a tensor, or a dict of tensors (one per head).
        top_groups: list of lists of names of the layers above the backbone,
            one list per layer group. Defaults to `None` (no groups on top).
        batchnorm_frozen: keep the backbone's BatchNorm layers in inference
            mode even in unfrozen groups (the `"frozen_batchnorm"` strategy).
            Defaults to `False`.
        **kwargs: passed to `keras.Model`.
    """

    def __init__(
        self, *args, top_groups=None, frozen_groups=None, batchnorm_frozen=False, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self._top_group_names = [list(group) for group in (top_groups or [])]
        # Set by the "frozen_batchnorm" strategy: the backbone's BatchNorm layers
        # stay in inference mode even in unfrozen groups.
        self.batchnorm_frozen = bool(batchnorm_frozen)
        if frozen_groups is not None:
            # Restored from a saved config: layers rebuilt by their own
            # from_config (keras-hub backbones) do not keep `trainable` flags,
            # and LoRA layers come back with trainable biases.
            self._set_frozen(set(frozen_groups))

    # === Structure ===
    @property
    def backbone(self):
        """The `Backbone` inside this model."""
        for layer in self.layers:
            if isinstance(layer, Backbone):
                return layer
        raise ConfigurationError(f"TransferModel {self.name!r} holds no tlkeras.Backbone.")

    @property
    def heads(self):
        """Dict of output name -> the layer producing that output."""
        struct = self._outputs_struct
        items = struct.items() if isinstance(struct, dict) else [(self.output_names[0], struct)]
        return {name: tensor._keras_history.operation for name, tensor in items}

    @property
    def layer_groups(self):
        """Backbone groups, then bottleneck and heads: tuples of layers."""
        top = tuple(
            tuple(self.get_layer(name) for name in group) for group in self._top_group_names
        )
        return self.backbone.layer_groups + top

    @property
    def num_backbone_groups(self):
        return len(self.backbone._layer_group_names)

    # === Freezing ===
    def freeze(self, k=None):
        """Freezes the first `k` layer groups (input side) and unfreezes the rest.

        Frozen BatchNormalization layers run in inference mode, so their moving
        statistics do not change. Takes effect at the next `fit()`.

        Args:
            k: number of groups to freeze, from the input side. Defaults to
                `None`: every backbone group (feature extraction).
        """
        n_groups = len(self.layer_groups)
        if k is None:
            k = self.num_backbone_groups
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n_groups:
            raise ConfigurationError(
                f"freeze(k) takes the number of layer groups to freeze, an int in "
                f"[0, {n_groups}]. Received: k={k!r}"
            )
        self._set_frozen(set(range(k)))
        return self

    def _set_frozen(self, frozen):
        # Setting `trainable` on a model recurses into its layers, so the
        # containers are opened first and the frozen groups closed after.
        _set_trainable(self, True)
        for index, group in enumerate(self.layer_groups):
            for layer in group:
                _set_trainable(layer, index not in frozen)
        strategies_lib.train_lora_only(self.backbone)
        if self.batchnorm_frozen:
            strategies_lib.freeze_batchnorm(self.backbone)

    def unfreeze(self):
        """Makes every layer group trainable (full fine-tuning)."""
        return self.freeze(0)

    @property
    def frozen_groups(self):
        """Indices of the layer groups whose trainable variables are all frozen."""
        frozen = []
        for index, group in enumerate(self.layer_groups):
            variables = trainable_by_nature(group)
            if variables and not any(v.trainable for v in variables):
                frozen.append(index)
        return frozen

    def trainable_summary(self, print_fn=print):
        """Prints (and returns) one line per layer group: what it holds and if it trains."""
        lines = [f"{'group':>5}  {'trains':<6}  {'params':>10}  layers"]
        for index, group in enumerate(self.layer_groups):
            variables = trainable_by_nature(group)
            params = sum(int(keras.ops.size(v)) for v in variables)
            trains = "yes" if any(v.trainable for v in variables) else "no"
            span = group[0].name if len(group) == 1 else f"{group[0].name} .. {group[-1].name}"
            lines.append(f"{index:>5}  {trains:<6}  {params:>10,}  {span} ({len(group)} layers)")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    # === Training ===
    def configure(self, strategy):
        """Applies a fine-tuning strategy: what trains, at which rates, and when.

        See `tlkeras.strategies` for the names (`"feature_extraction"`,
        `"partial"`, `"full"`, `"gradual"`, `"discriminative"`, `"lora"`). A
        compiled model is compiled again with its compile arguments, so the
        strategy's optimizer takes effect; `fit()` adds its callbacks.

        Args:
            strategy: a name, a `tlkeras.strategies.Strategy`, or a list of
                them applied in order.

        Example:

        ```python
        model.configure(["gradual", "discriminative"])
        model.fit(x, y, epochs=5)
        ```
        """
        return strategies_lib.configure(self, strategy)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` with "auto" defaults matched to the heads.

        Args:
            optimizer: `"auto"` is Adam at 1e-4 when a pretrained backbone
                trains (not to wash out its features), else 1e-3. Defaults
                to `"auto"`.
            loss: `"auto"` takes each head's `default_loss()`. Defaults to `"auto"`.
            metrics: `"auto"` takes each head's `default_metrics()`. Defaults
                to `"auto"`.
            **kwargs: passed to `keras.Model.compile`.
        """
        # Kept so that configure() can compile again under a new strategy.
        self._compile_arguments = dict(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        heads = self.heads
        optimizer = self.resolve_optimizer(optimizer)
        if loss == "auto":
            loss = self._per_head("default_loss", heads)
        if metrics == "auto":
            # Custom head layers get no default metrics rather than an error.
            per_head = {n: getattr(h, "default_metrics", list)() for n, h in heads.items()}
            metrics = next(iter(per_head.values())) if len(per_head) == 1 else per_head
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        # Built now, over every variable that may ever train, so that a saved
        # optimizer always has the same variables as the one that loads it.
        self._cover_variables_in_optimizer()

    def compile_from_config(self, config):
        # Called by `keras.models.load_model`; Keras skips custom compile()s.
        self.compile(**keras.saving.deserialize_keras_object(config))

    def resolve_optimizer(self, optimizer="auto"):
        """The optimizer `compile(optimizer=...)` trains with under the model's strategies.

        `"auto"` is Adam at 1e-4 when a pretrained backbone trains, else
        1e-3 (or the strategy's rate); a strategy such as `"discriminative"`
        then wraps it. Models that train this one (the domain adaptation
        wrapper) use it to get the same optimizer.
        """
        auto = optimizer == "auto"
        if auto:
            backbone_trains = any(v.trainable for v in trainable_by_nature([self.backbone]))
            pretrained = self.backbone.weights_source is not None
            rate = FINE_TUNE_LEARNING_RATE if backbone_trains and pretrained else HEAD_LEARNING_RATE
            optimizer = keras.optimizers.Adam(learning_rate=rate)
        return strategies_lib.compile_optimizer(self, optimizer, auto=auto)

    def _per_head(self, method, heads):
        missing = [name for name, head in heads.items() if not hasattr(head, method)]
        if missing or not heads:
            raise ConfigurationError(
                f"compile(loss='auto') needs tlkeras heads that know their loss; "
                f"outputs {missing or list(self.output_names)} have custom layers. "
                "Pass loss= and metrics= to compile() explicitly."
            )
        values = {name: getattr(head, method)() for name, head in heads.items()}
        return next(iter(values.values())) if len(values) == 1 else values

    def prepare_training(self):
        """Makes the current trainable state take effect in the next train step.

        Called by `fit()` and by callbacks that change what trains mid-`fit()`.
        The optimizer is built over every variable that can ever train, so
        unfreezing a group later keeps the optimizer state of the rest.
        """
        if not self.compiled:
            return
        self._cover_variables_in_optimizer()
        state = {layer: layer.trainable for layer in self._flatten_layers()}
        if state != getattr(self, "_compiled_trainable_state", None):
            self._compiled_trainable_state = state
            self.train_function = None

    def _cover_variables_in_optimizer(self):
        optimizer = self.optimizer
        wanted = self._variables_for_optimizer()
        if not optimizer.built:
            optimizer.build(wanted)
            return
        known = _optimizer_variable_keys(optimizer)
        if keras.backend.backend() == "jax":
            if [optimizer._var_key(v) for v in wanted] == known:
                return
        elif {optimizer._var_key(v) for v in wanted} <= set(known):
            return
        # New variables (e.g. LoRA factors added after compile): the optimizer's
        # slots are per variable, so it is rebuilt from its config over all.
        fresh = optimizer.__class__.from_config(optimizer.get_config())
        fresh.build(wanted)
        self.optimizer = fresh

    def _variables_for_optimizer(self):
        if keras.backend.backend() == "jax":
            # JAX's stateless train step pairs optimizer slots with the
            # trainable variables by position: the optimizer must cover exactly
            # them, so on JAX a change of what trains rebuilds it.
            return list(self.trainable_variables)
        # Elsewhere every variable that may ever train, in Keras's own order,
        # so unfreezing later keeps the optimizer state of the rest.
        ids = {id(v) for v in trainable_by_nature([self])}
        return [v for v in self.variables if id(v) in ids]

    def fit(self, *args, cache_features=False, check_data=True, **kwargs):
        """`keras.Model.fit`, plus the strategy's callbacks and an optional feature cache.

        Args:
            cache_features: `True` to run the frozen backbone once over the
                training and validation data and train the layers on top from
                the cached features, in memory (see `tlkeras.fit_cached`); a
                folder path to keep them there as NumPy memmaps. Defaults to
                `False`.
            check_data: check in-memory data against the model before
                training (shapes, dtypes, label range, one-hot vs sparse,
                NaN/Inf: `tlkeras.errors.DataError` naming the example), and
                train with a step that applies no update from the first batch
                whose loss or gradients turn NaN/Inf, then raise at that
                epoch's end naming the batch
                (`tlkeras.callbacks.NonFiniteLossGuard`); no per-batch work
                on the host. Defaults to `True`.
            *args, **kwargs: as for `keras.Model.fit` (texts may also be a
                list, a `str_` array or a pandas column: `tlkeras.inputs`).
        """
        # The checks and the feature cache read the data before Keras does.
        args, kwargs = adapt_arguments("fit", args, kwargs)
        self._size_heads(args, kwargs)
        if check_data:
            self._check_fit_arguments(args, kwargs)
        # The feature cache checks its features itself.
        guarded = check_data and not cache_features
        args, kwargs = self.guard_fit_arguments(args, kwargs, guarded, FIT_CALLBACKS_POSITION)
        if len(args) > FIT_CALLBACKS_POSITION:
            args = list(args)
            args[FIT_CALLBACKS_POSITION] = strategies_lib.fit_callbacks(
                self, args[FIT_CALLBACKS_POSITION]
            )
        else:
            kwargs["callbacks"] = strategies_lib.fit_callbacks(self, kwargs.get("callbacks"))
        if cache_features:
            from tlkeras.feature_cache import fit_cached

            cache_dir = None if cache_features is True else cache_features
            return fit_cached(self, *args, cache_dir=cache_dir, **kwargs)
        self.prepare_training()
        return super().fit(*args, **keep_dataset_order(args, kwargs))

    def _check_fit_arguments(self, args, kwargs):
        from tlkeras.data_checks import check_fit_data

        named = dict(zip(("x", "y", "batch_size"), args, strict=False))
        x, y = named.get("x", kwargs.get("x")), named.get("y", kwargs.get("y"))
        batch_size = named.get("batch_size", kwargs.get("batch_size"))
        if x is not None:
            check_fit_data(self, x, y, batch_size)
        validation = kwargs.get("validation_data")
        if isinstance(validation, tuple) and len(validation) >= 2:
            check_fit_data(self, validation[0], validation[1], batch_size, name="validation x")

    # === Head sizing ===
    def _size_heads(self, args, kwargs):
        """Sizes classifier heads built without num_classes from fit()'s labels."""
        unsized = {task: head for task, head in self.heads.items() if _unsized(head)}
        if not unsized:
            return
        named = dict(zip(("x", "y"), args, strict=False))
        x, y = named.get("x", kwargs.get("x")), named.get("y", kwargs.get("y"))
        several = len(self.heads) > 1
        for task, head in unsized.items():
            head.set_num_classes(
                heads_lib.num_classes_from_fit_data(
                    x, y, task=task if several else None, multi_label=head.multi_label
                )
            )
        # Functions traced before sizing (a failed predict()) saw no head weights,
        # and the optimizer (shared with the feature cache's top model) was built
        # over the variables of compile() time.
        self.train_function = self.test_function = self.predict_function = None
        if self.compiled:
            self._cover_variables_in_optimizer()

    def train_on_batch(self, *args, **kwargs):
        self.prepare_training()
        logs = super().train_on_batch(*args, **kwargs)
        self.check_step_record("a train_on_batch call")
        return logs

    # === Config ===
    def get_config(self):
        config = super().get_config()
        config.update(
            top_groups=self._top_group_names,
            frozen_groups=self.frozen_groups,
            batchnorm_frozen=self.batchnorm_frozen,
        )
        return config


def _unsized(head):
    return getattr(head, "sized_from_labels", False) and not head.sized


def _optimizer_variable_keys(optimizer):
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return list(inner._trainable_variables_indices)


def _set_trainable(layer, value):
    # TensorFlow's attribute tracking skips an assignment equal to the current
    # value, so `layer.trainable = False` on a layer revived with
    # trainable=False never reaches the sublayers it created afterwards; the
    # property setter is called directly.
    type(layer).trainable.fset(layer, value)
