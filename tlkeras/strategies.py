"""Fine-tuning strategies as one argument: what trains, at which rates, and when.

A strategy sets a `TransferModel`'s frozen layer groups (and LoRA factors),
may wrap the optimizer that `compile()` gets, and may add callbacks that
`fit()` runs. `tlkeras.build(..., strategy=...)` and `model.configure(strategy)`
take a name, a `Strategy`, or a list of them applied in order, e.g.
`["gradual", "discriminative"]` for ULMFiT.

| name | trains |
|---|---|
| `"feature_extraction"` | the new layers only; backbone frozen (BatchNorm in inference mode) |
| `"partial"` | the top `k` backbone groups and the new layers |
| `"full"` | everything |
| `"gradual"` | the new layers, then one more backbone group per epoch (`GradualUnfreezing`) |
| `"discriminative"` | each group at its own learning rate (`layerwise`); alone: everything, in a list: what the others open |
| `"lora"` | LoRA factors of the backbone's Dense/EinsumDense/Embedding/Conv layers, and the new layers |
| `"frozen_batchnorm"` | as the others say, with the backbone's BatchNorm kept in inference mode |
"""

import os
import tempfile

import keras
import numpy as np

from tlkeras import optimizers as optimizers_lib
from tlkeras.callbacks.gradual_unfreezing import GradualUnfreezing
from tlkeras.errors import ConfigurationError
from tlkeras.optimizers import FINE_TUNE_LEARNING_RATE
from tlkeras.optimizers import HEAD_LEARNING_RATE

LORA_LAYER_TYPES = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Embedding,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)


class Strategy:
    """Base class: how much of a `TransferModel` trains, at which rates, and when.

    Subclasses override `apply` (set frozen groups), and where needed
    `wrap_optimizer`, `callbacks` and `learning_rate`.
    """

    name = None
    # Whether apply() decides what is frozen; configure() unfreezes the model
    # when none of the strategies it is given does.
    sets_trainable = True

    def apply(self, model):
        """Sets what trains in `model` (freezing, LoRA)."""

    def wrap_optimizer(self, optimizer, model):
        """Returns the optimizer `compile()` uses (the given one by default)."""
        return optimizer

    def callbacks(self):
        """Callbacks that `fit()` adds to the caller's."""
        return []

    def learning_rate(self, model):
        """Rate of the "auto" optimizer under this strategy; `None` keeps the model's rule."""
        return None

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class FeatureExtraction(Strategy):
    """Trains the new layers only: every backbone group frozen, BatchNorm in inference mode.

    Example:

    ```python
    model = tlkeras.build("mobilenet_v2", num_classes=5, strategy="feature_extraction")
    ```
    """

    name = "feature_extraction"

    def apply(self, model):
        model.freeze()

    def learning_rate(self, model):
        return HEAD_LEARNING_RATE


class Partial(Strategy):
    """Trains the top `k` backbone groups and the new layers; the rest stays frozen.

    Args:
        k: how many backbone groups train, counted from the top; an int in
            `[1, number of backbone groups]`. Defaults to `1`.

    Example:

    ```python
    model.configure(tlkeras.strategies.Partial(k=2))
    ```
    """

    name = "partial"

    def __init__(self, k=1):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigurationError(
                f"Partial(k) takes how many backbone groups train, an int >= 1. Received: k={k!r}"
            )
        self.k = k

    def apply(self, model):
        n_backbone = model.num_backbone_groups
        if self.k > n_backbone:
            raise ConfigurationError(
                f"The backbone of {model.name!r} has {n_backbone} layer groups. Received: k={self.k}"
            )
        model.freeze(n_backbone - self.k)

    def learning_rate(self, model):
        return _fine_tune_rate(model)

    def get_config(self):
        return {"k": self.k}


class Full(Strategy):
    """Trains every layer group (full fine-tuning).

    Example:

    ```python
    model.configure("full")
    ```
    """

    name = "full"

    def apply(self, model):
        model.unfreeze()

    def learning_rate(self, model):
        return _fine_tune_rate(model)


class Gradual(Strategy):
    """Starts with the backbone frozen and opens one more group each `every` epochs.

    `fit()` runs a `tlkeras.callbacks.GradualUnfreezing` with these arguments.

    Args:
        every: epochs between unfreezing steps; an int >= 1. Defaults to `1`.
        schedule: dict epoch -> number of trainable groups from the top
            (see `GradualUnfreezing`). Defaults to `None`.
        verbose: print when the trainable groups change. Defaults to `0`.

    Example:

    ```python
    model.configure(["gradual", "discriminative"])  # ULMFiT
    model.fit(x, y, epochs=6)
    ```
    """

    name = "gradual"

    def __init__(self, every=1, schedule=None, verbose=0):
        # Built now so that bad arguments fail at configure() time.
        self._callback = GradualUnfreezing(every=every, schedule=schedule, verbose=verbose)

    def apply(self, model):
        model.freeze()

    def callbacks(self):
        return [self._callback]

    def learning_rate(self, model):
        return _fine_tune_rate(model)

    def get_config(self):
        callback = self._callback
        return {"every": callback.every, "schedule": callback.schedule, "verbose": callback.verbose}


class Discriminative(Strategy):
    """Gives each layer group its own learning rate (ULMFiT's discriminative fine-tuning).

    Alone it means full fine-tuning at layer-wise rates; listed with
    `"partial"` or `"gradual"`, those decide what is frozen. `compile()`
    wraps its optimizer with `tlkeras.optimizers.layerwise`.

    Args:
        decay: factor between neighbouring backbone groups. Defaults to `2.6`.
        multipliers: one factor per layer group instead of `decay`. Defaults
            to `None`.

    Example:

    ```python
    model.configure(["full", tlkeras.strategies.Discriminative(decay=2.6)])
    ```
    """

    name = "discriminative"
    sets_trainable = False

    def __init__(self, decay=optimizers_lib.ULMFIT_DECAY, multipliers=None):
        self.decay = decay
        self.multipliers = None if multipliers is None else list(multipliers)

    def apply(self, model):
        # Fails here, at configure(), on a bad decay or a wrong number of factors.
        optimizers_lib.group_multipliers(model, decay=self.decay, multipliers=self.multipliers)

    def wrap_optimizer(self, optimizer, model):
        return optimizers_lib.layerwise(
            optimizer, model, decay=self.decay, multipliers=self.multipliers
        )

    def get_config(self):
        return {"decay": self.decay, "multipliers": self.multipliers}


class LoRA(Strategy):
    """Trains low-rank factors added to the backbone's weight matrices, and the new layers.

    Calls Keras' `enable_lora(rank)` on every Dense, EinsumDense, Embedding
    and Conv1D/2D/3D layer of the backbone (depthwise and separable
    convolutions have no LoRA in Keras and stay frozen). Every other backbone
    weight, biases and BatchNorm included, is frozen. While LoRA is on, an
    unfrozen backbone group trains its LoRA factors only, so `"gradual"`
    composes with it. `merge_lora(model)` folds the factors into the kernels
    for export.

    Saving: Keras' `.keras` format stores each kernel with its factors merged
    in and zeroes the factors on load; outputs are unchanged. Call
    `model.configure("lora")` again after loading to train new factors.

    Args:
        rank: rank of the factors; an int >= 1. Defaults to `4`.
        alpha: scale of the low-rank update (`alpha / rank`). Defaults to
            `None` (Keras' default: `rank`).

    Example:

    ```python
    model = tlkeras.build("mobilenet_v2", num_classes=5, strategy=tlkeras.strategies.LoRA(rank=8))
    ```
    """

    name = "lora"

    def __init__(self, rank=4, alpha=None):
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ConfigurationError(f"LoRA rank must be an int >= 1. Received: rank={rank!r}")
        self.rank = rank
        self.alpha = alpha

    def apply(self, model):
        targets = lora_layers(model.backbone)
        if not targets:
            raise ConfigurationError(
                f"The backbone {model.backbone.name!r} has no layer with LoRA support "
                f"({', '.join(t.__name__ for t in LORA_LAYER_TYPES)}): LoRA needs Keras' "
                "enable_lora(), so a plugin's custom layers should hold their weights in such "
                "layers (found inside them too, or named by a lora_targets() method on a "
                "tlkeras.Backbone subclass)."
            )
        for layer in targets:
            if not layer.lora_enabled:
                layer.enable_lora(self.rank, lora_alpha=self.alpha)
            elif not _any_nonzero(layer):
                # Factors zeroed by a .keras load: start new ones from the merged kernel.
                _restart_factors(layer)
        # Re-applying the flags makes open backbone groups train their factors only.
        model.unfreeze()

    def learning_rate(self, model):
        # The factors start with no effect on the outputs and are usually
        # trained at head-like rates.
        return HEAD_LEARNING_RATE

    def get_config(self):
        return {"rank": self.rank, "alpha": self.alpha}


class FrozenBatchNorm(Strategy):
    """Keeps the backbone's BatchNorm layers in inference mode, even in unfrozen groups.

    With few labels and small batches, an unfrozen BatchNorm layer normalises
    with the statistics of each new batch in training while inference uses
    moving averages still set by the pretraining data; keeping it frozen (as
    the Keras transfer-learning guide does) avoids that mismatch. Alone it
    means full fine-tuning with frozen BatchNorm; listed with `"partial"` or
    `"gradual"`, those decide what else is frozen. The choice is saved with
    the model.

    Example:

    ```python
    model.configure(["gradual", "discriminative", "frozen_batchnorm"])
    ```
    """

    name = "frozen_batchnorm"
    sets_trainable = False

    def apply(self, model):
        model.batchnorm_frozen = True
        freeze_batchnorm(model.backbone)


STRATEGIES = {
    cls.name: cls
    for cls in (FeatureExtraction, Partial, Full, Gradual, Discriminative, LoRA, FrozenBatchNorm)
}


def get(identifier):
    """Returns a `Strategy` from a name, a `Strategy`, or a `{"name": ..., **args}` dict.

    Args:
        identifier: one of `tlkeras.strategies.STRATEGIES`, a `Strategy`
            instance, or a dict such as `{"name": "partial", "k": 2}`.
    """
    if isinstance(identifier, Strategy):
        return identifier
    if isinstance(identifier, dict) and identifier.get("name") in STRATEGIES:
        config = dict(identifier)
        return STRATEGIES[config.pop("name")].from_config(config)
    if isinstance(identifier, str) and identifier in STRATEGIES:
        return STRATEGIES[identifier]()
    raise ConfigurationError(
        f"Unknown strategy. Received: strategy={identifier!r}; expected one of "
        f"{sorted(STRATEGIES)}, a tlkeras.strategies.Strategy, or a list of them."
    )


def configure(model, strategy):
    """Applies one strategy, or a list in order, to a `TransferModel`.

    Sets the frozen groups (and LoRA factors) now (a list without a strategy
    that decides them, such as `"discriminative"` alone, unfreezes every
    group); a compiled model is
    compiled again with the arguments it was compiled with, so that the
    strategy's optimizer takes effect; `fit()` adds the strategy's callbacks.

    Args:
        model: a `tlkeras.TransferModel`.
        strategy: a name, a `Strategy`, or a list of them.

    Returns:
        `model`.

    Example:

    ```python
    tlkeras.strategies.configure(model, ["gradual", "discriminative"])
    ```
    """
    if not hasattr(model, "layer_groups") or not hasattr(model, "freeze"):
        raise ConfigurationError(
            "Strategies configure a tlkeras.TransferModel (they act on layer groups). "
            f"Received: model of type {type(model).__name__}"
        )
    chosen = tuple(get(s) for s in (strategy if isinstance(strategy, list | tuple) else [strategy]))
    model.batchnorm_frozen = False
    if not any(item.sets_trainable for item in chosen):
        model.unfreeze()
    for item in chosen:
        item.apply(model)
    model._strategies = chosen
    if model.compiled:
        model.compile(**model._compile_arguments)
    return model


def compile_optimizer(model, optimizer, auto):
    """The optimizer `TransferModel.compile` uses under the model's strategies."""
    strategies = getattr(model, "_strategies", ())
    rates = [s.learning_rate(model) for s in strategies]
    rates = [r for r in rates if r is not None]
    if auto and rates:
        optimizer = keras.optimizers.Adam(learning_rate=rates[-1])
    for item in strategies:
        optimizer = item.wrap_optimizer(optimizer, model)
    return optimizer


def fit_callbacks(model, callbacks):
    """The caller's callbacks followed by those of the model's strategies."""
    extra = [c for s in getattr(model, "_strategies", ()) for c in s.callbacks()]
    return list(callbacks or []) + extra


def lora_layers(backbone):
    """The layers of `backbone` that `LoRA` adapts.

    A backbone that defines `lora_targets()` chooses them (a transformer: the
    attention and feed-forward projections, not the embeddings); otherwise
    every layer of a type with LoRA support.
    """
    if hasattr(backbone, "lora_targets"):
        return list(backbone.lora_targets())
    return [
        layer
        for layer in backbone._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, LORA_LAYER_TYPES)
    ]


def train_lora_only(backbone):
    """With LoRA on, makes open backbone layers train their LoRA factors only.

    Called after the group flags are set: layers of frozen groups stay frozen;
    in open groups, a LoRA layer keeps only its factors trainable and every
    other leaf layer (BatchNorm in inference mode, depthwise convolutions,
    biases) is frozen.
    """
    leaves = [
        layer
        for layer in backbone._flatten_layers(include_self=False, recursive=True)
        if not layer._layers
    ]
    if not any(getattr(layer, "lora_enabled", False) for layer in leaves):
        return
    for layer in leaves:
        if not layer.trainable:
            continue
        if getattr(layer, "lora_enabled", False):
            for variable in layer._trainable_variables:
                variable.trainable = variable.name.startswith("lora_")
        else:
            layer.trainable = False


def freeze_batchnorm(backbone):
    """Freezes every BatchNormalization layer of `backbone` (inference mode, fixed scale and shift)."""
    for layer in backbone._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def merge_lora(model):
    """Returns a copy of `model` with every LoRA update folded into its kernel.

    The copy has no LoRA factors and no LoRA compute, gives the same outputs,
    and is not compiled: it is meant for export and inference.

    Args:
        model: a `tlkeras.TransferModel` configured with `"lora"`.

    Example:

    ```python
    exported = tlkeras.strategies.merge_lora(model)
    exported.save("classifier.keras")
    ```
    """
    config = _without_lora(model.get_config())
    merged = model.__class__.from_config(config)
    # Keras writes each LoRA layer's kernel with its factors merged in, and
    # does not write the factors: a weights file round trip is the merge.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "merged.weights.h5")
        model.save_weights(path)
        merged.load_weights(path)
    return merged


def _without_lora(config):
    if isinstance(config, dict):
        return {
            k: _without_lora(v) for k, v in config.items() if k not in ("lora_rank", "lora_alpha")
        }
    if isinstance(config, list):
        return [_without_lora(v) for v in config]
    return config


def _any_nonzero(layer):
    return any(
        np.any(keras.ops.convert_to_numpy(v))
        for v in layer._trainable_variables
        if v.name.startswith("lora_")
    )


def _restart_factors(layer):
    # As enable_lora initialises them: `a` random, `b` zero, so the update starts at 0.
    factors = sorted(
        (v for v in layer._trainable_variables if v.name.startswith("lora_")),
        key=lambda v: v.name,
    )
    first = factors[0]
    first.assign(keras.initializers.HeUniform()(first.shape, dtype=first.dtype))


def _fine_tune_rate(model):
    pretrained = model.backbone.weights_source is not None
    return FINE_TUNE_LEARNING_RATE if pretrained else HEAD_LEARNING_RATE
