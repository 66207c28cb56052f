"""Discriminative fine-tuning: one learning rate per layer group, one optimizer.

`layerwise(optimizer, model, decay=2.6)` gives each layer group of a
`TransferModel` its own learning rate, as in ULMFiT (Howard & Ruder, 2018): the
new layers on top train at the optimizer's rate, the backbone's top group at
that rate divided by `decay`, the group below at `decay**2`, and so on.

Why not `keras.optimizers.MultiOptimizer`: it gives each group its own
sub-optimizer, so each group has its own step counter (a schedule would restart
when `GradualUnfreezing` opens a group), it refuses gradients for a subset of
the variables it was built over (which is what a frozen group gives), and
Keras' learning-rate callbacks cannot set its `learning_rate`. Here a single
inner optimizer keeps one step counter and one schedule; only the learning rate
each variable's update sees is multiplied by its group's factor.
"""

import math
import re
import threading

import keras
from keras import ops

from tlkeras.errors import ConfigurationError

ULMFIT_DECAY = 2.6
# "auto" learning rates: a frozen backbone tolerates a head-training rate; an
# unfrozen pretrained backbone needs a small one not to wash out its features.
HEAD_LEARNING_RATE = 1e-3
FINE_TUNE_LEARNING_RATE = 1e-4


@keras.saving.register_keras_serializable(package="tlkeras")
class LayerwiseOptimizer(keras.optimizers.Optimizer):
    """Wraps an optimizer so that each variable's learning rate has its own factor.

    The update of a variable whose path matches a pattern is the update the
    inner optimizer would make at `learning_rate * multiplier` (decoupled
    weight decay is scaled the same way, as in PyTorch's parameter groups).
    The inner optimizer keeps one step counter and one learning rate (a float
    or a `LearningRateSchedule`), so schedules, `ReduceLROnPlateau` and
    `LearningRateScheduler` work unchanged: they see and set the inner rate.

    Args:
        optimizer: a Keras optimizer, or an identifier for
            `keras.optimizers.get` (e.g. `"adam"`).
        multipliers: dict of variable path (exact, or a regular expression that
            must match the whole path) -> positive float. Variables that match
            no pattern use `1.0`.
        name: the optimizer's name. Defaults to `None`.

    Example:

    ```python
    optimizer = LayerwiseOptimizer(keras.optimizers.SGD(0.1), {"backbone/.*": 0.1})
    ```
    """

    def __init__(self, optimizer, multipliers, name=None, **kwargs):
        if kwargs:
            raise ConfigurationError(
                "LayerwiseOptimizer takes clipping, weight decay and the like on "
                f"the inner optimizer. Received: {sorted(kwargs)}"
            )
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = keras.optimizers.get(optimizer)
        if not isinstance(multipliers, dict):
            raise ConfigurationError(
                f"multipliers must be a dict of path pattern -> float. "
                f"Received: multipliers={multipliers!r}"
            )
        for pattern, factor in multipliers.items():
            _check_factor(factor, f"multipliers[{pattern!r}]")
        self.multipliers = {str(k): float(v) for k, v in multipliers.items()}
        self._patterns = [(re.compile(k), v) for k, v in self.multipliers.items()]

    def multiplier(self, variable):
        """The learning-rate factor of `variable` (a Keras variable), from its path."""
        path = variable.path
        if path in self.multipliers:
            return self.multipliers[path]
        matches = {factor for pattern, factor in self._patterns if pattern.fullmatch(path)}
        if len(matches) > 1:
            raise ConfigurationError(
                f"The variable {path!r} matches patterns with different factors "
                f"{sorted(matches)}; make the patterns of `multipliers` disjoint."
            )
        return matches.pop() if matches else 1.0

    def build(self, var_list):
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        # The TF backend hands update_step the underlying tf.Variable, which has
        # no Keras path, so factors are looked up by the optimizer's own key.
        self._factors = {self.inner_optimizer._var_key(v): self.multiplier(v) for v in var_list}
        _scale_learning_rates(self.inner_optimizer, lambda: self._factors)
        super().build(var_list)

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    def apply(self, grads, trainable_variables=None):
        self.inner_optimizer.apply(grads, trainable_variables)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        own = len(self._variables)
        inner_trainable, inner_variables = self.inner_optimizer.stateless_apply(
            optimizer_variables[own:], grads, trainable_variables
        )
        return inner_trainable, list(optimizer_variables[:own]) + list(inner_variables)

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "multipliers": dict(self.multipliers),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer"] = keras.saving.deserialize_keras_object(
            config["optimizer"], custom_objects=custom_objects
        )
        return cls(**config)


def _scale_learning_rates(optimizer, factors_of):
    """Makes each variable's `update_step` and weight decay see its own rate.

    Hooking these two per-variable steps (rather than re-implementing `apply`)
    keeps Keras' own clipping, gradient accumulation, EMA, constraints and
    distribution handling. The hooks are installed once, as instance
    attributes shadowing the class methods, because under a `tf.distribute`
    strategy each replica traces `apply` in its own thread: hooks swapped in
    and out around every call would race.

    Args:
        optimizer: the inner Keras optimizer.
        factors_of: a callable returning the current dict of optimizer
            variable key -> learning-rate factor.
    """
    if "update_step" in optimizer.__dict__:
        return
    update_step = optimizer.update_step
    apply_weight_decay = optimizer._apply_weight_decay
    lock = threading.Lock()

    def scaled_update_step(gradient, variable, learning_rate):
        factor = factors_of().get(optimizer._var_key(variable), 1.0)
        if factor != 1.0:
            learning_rate = ops.multiply(learning_rate, factor)
        return update_step(gradient, variable, learning_rate)

    def scaled_weight_decay(variables):
        weight_decay = optimizer.weight_decay
        if weight_decay is None:
            return
        by_factor = {}
        for variable in variables:
            factor = factors_of().get(optimizer._var_key(variable), 1.0)
            by_factor.setdefault(factor, []).append(variable)
        # weight_decay is read while tracing the decay: one group at a time.
        with lock:
            try:
                for factor, group in by_factor.items():
                    optimizer.weight_decay = weight_decay * factor
                    apply_weight_decay(group)
            finally:
                optimizer.weight_decay = weight_decay

    optimizer.update_step = scaled_update_step
    optimizer._apply_weight_decay = scaled_weight_decay


def layerwise(optimizer, model, decay=ULMFIT_DECAY, multipliers=None):
    """Gives each layer group of `model` its own learning rate (discriminative fine-tuning).

    Every layer on top of the backbone (bottleneck, heads) trains at the
    optimizer's learning rate; the backbone's top group at that rate divided
    by `decay`, the next one down by `decay**2`, and so on (ULMFiT). With a
    learning-rate schedule, every group follows the same schedule, scaled.

    Args:
        optimizer: a Keras optimizer or an identifier such as `"adam"`.
        model: a `tlkeras.TransferModel`.
        decay: the factor between neighbouring backbone groups; a float >= 1.
            Defaults to `2.6`.
        multipliers: explicit factors instead of `decay`: a list with one
            positive float per layer group (input side first). Defaults to
            `None`.

    Returns:
        A `LayerwiseOptimizer`; pass it to `model.compile(optimizer=...)`.

    Example:

    ```python
    schedule = tlkeras.optimizers.SlantedTriangular(1e-3, total_steps=1000)
    model.compile(optimizer=tlkeras.optimizers.layerwise(keras.optimizers.Adam(schedule), model))
    ```
    """
    factors = group_multipliers(model, decay=decay, multipliers=multipliers)
    if isinstance(optimizer, LayerwiseOptimizer):
        optimizer = optimizer.inner_optimizer
    return LayerwiseOptimizer(optimizer, _group_patterns(model, factors))


def group_multipliers(model, decay=ULMFIT_DECAY, multipliers=None):
    """The learning-rate factor of each layer group of `model`, input side first.

    Args:
        model: a `tlkeras.TransferModel`.
        decay: see `layerwise`. Defaults to `2.6`.
        multipliers: see `layerwise`. Defaults to `None`.
    """
    groups = _layer_groups(model)
    if multipliers is not None:
        multipliers = list(multipliers)
        if len(multipliers) != len(groups):
            raise ConfigurationError(
                f"multipliers needs one factor per layer group; the model has "
                f"{len(groups)} groups. Received: len(multipliers)={len(multipliers)}"
            )
        for index, factor in enumerate(multipliers):
            _check_factor(factor, f"multipliers[{index}]")
        return [float(f) for f in multipliers]
    if isinstance(decay, bool) or not isinstance(decay, int | float) or not decay >= 1.0:
        raise ConfigurationError(
            f"decay must be a number >= 1 (2.6 in ULMFiT). Received: decay={decay!r}"
        )
    n_backbone = model.num_backbone_groups
    return [
        float(decay) ** -(n_backbone - index) if index < n_backbone else 1.0
        for index in range(len(groups))
    ]


def _layer_groups(model):
    groups = getattr(model, "layer_groups", None)
    if groups is None or not hasattr(model, "num_backbone_groups"):
        raise ConfigurationError(
            "Layer-wise learning rates follow a tlkeras.TransferModel's layer_groups. "
            f"Received: model of type {type(model).__name__}"
        )
    return groups


def _group_patterns(model, factors):
    # One pattern per layer (not per variable) so that variables a layer adds
    # later, such as LoRA factors, fall into the layer's group too.
    patterns = {}
    for group, factor in zip(model.layer_groups, factors, strict=True):
        paths = sorted({layer.path for layer in group if layer.weights and layer.path})
        if factor != 1.0 and paths:
            alternatives = "|".join(re.escape(path) for path in paths)
            patterns[f"(?:{alternatives})/.*"] = factor
    return patterns


def _check_factor(factor, what):
    if (
        isinstance(factor, bool)
        or not isinstance(factor, int | float)
        or not math.isfinite(factor)
        or factor <= 0
    ):
        raise ConfigurationError(
            f"Learning-rate factors must be positive finite numbers. Received: {what}={factor!r}"
        )


@keras.saving.register_keras_serializable(package="tlkeras")
class SlantedTriangular(keras.optimizers.schedules.LearningRateSchedule):
    """The slanted triangular learning rate of ULMFiT: a short linear rise, a long linear fall.

    The rate rises from `max_learning_rate / ratio` to `max_learning_rate` over
    the first `cut_fraction` of `total_steps`, then falls back to
    `max_learning_rate / ratio` at `total_steps`, and stays there.

    Args:
        max_learning_rate: the peak rate; a positive float.
        total_steps: number of training steps the schedule spans; an int >= 1.
        cut_fraction: fraction of the steps spent rising, in `(0, 1)`.
            Defaults to `0.1`.
        ratio: how much smaller the lowest rate is than the peak. Defaults to
            `32`.

    Example:

    ```python
    schedule = SlantedTriangular(1e-3, total_steps=epochs * steps_per_epoch)
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    ```
    """

    def __init__(self, max_learning_rate, total_steps, cut_fraction=0.1, ratio=32.0):
        _check_factor(max_learning_rate, "max_learning_rate")
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ConfigurationError(
                f"total_steps must be an int >= 1. Received: total_steps={total_steps!r}"
            )
        if not 0.0 < float(cut_fraction) < 1.0:
            raise ConfigurationError(
                f"cut_fraction must be in (0, 1). Received: cut_fraction={cut_fraction!r}"
            )
        if not float(ratio) >= 1.0:
            raise ConfigurationError(f"ratio must be >= 1. Received: ratio={ratio!r}")
        self.max_learning_rate = float(max_learning_rate)
        self.total_steps = total_steps
        self.cut_fraction = float(cut_fraction)
        self.ratio = float(ratio)

    def __call__(self, step):
        step = ops.minimum(ops.cast(step, "float32"), float(self.total_steps))
        cut = max(1.0, math.floor(self.total_steps * self.cut_fraction))
        rising = step / cut
        falling = 1.0 - (step - cut) / max(1.0, self.total_steps - cut)
        p = ops.where(step < cut, rising, falling)
        return self.max_learning_rate * (1.0 + p * (self.ratio - 1.0)) / self.ratio

    def get_config(self):
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "cut_fraction": self.cut_fraction,
            "ratio": self.ratio,
        }
