"""The Backbone contract: a feature extractor that knows its layer groups."""

import logging

import keras
import numpy as np

from tlkeras.errors import ConfigurationError
from tlkeras.errors import PluginError
from tlkeras.registry import MODALITIES

# The graph-batch contract of tlkeras-gnn (`tlkeras_gnn.graph_batch`): inputs
# keyed by these names make a graph backbone.
GRAPH_INPUT_NAMES = ("node_features", "edge_index")
HOW_TO_DECLARE = (
    "A backbone's modality is declared with Backbone.from_model(model, modality=...), "
    "register_backbone(name, modality=...), or `modality = ...` under its name in the "
    "plugin's tlkeras_backbones.toml (see docs/plugins.md)."
)
logger = logging.getLogger("tlkeras")
# Above this many groups a derived grouping is merged: fine-grained enough for
# staged unfreezing, coarse enough for a readable trainable_summary().
MAX_DERIVED_GROUPS = 8
# Image size at which the stages of a backbone for any size are found.
PROBE_SIZE = 224


@keras.saving.register_keras_serializable(package="tlkeras")
class Backbone(keras.Model):
    """A functional Keras model that outputs features and knows its layer groups.

    A backbone knows no loss and no task. It declares its `modality`, its
    inputs, its feature output, and its `layer_groups`: an ordered tuple (input
    side first) of tuples of Keras layers. Every trainable variable belongs to
    exactly one group. Layer groups are the one concept behind freezing,
    staged unfreezing and layer-wise learning rates.

    Image backbones take raw pixels in `[0, 255]`; the normalisation their
    weights expect is part of the graph.

    Args:
        inputs: the functional inputs (as for `keras.Model`).
        outputs: the feature tensor.
        modality: one of `"image"`, `"text"`, `"graph"`, `"other"`.
            Defaults to `None`: read from the inputs by `infer_modality`.
        layer_groups: a list of lists of layer names (or layers), input side
            first. Defaults to `None`: derived from the layers in order, a new
            group starting wherever a weighted layer changes the spatial
            resolution (the stages of a CNN), else in equal chunks.
        weights_source: where the weights came from (`"imagenet"`, a path),
            or `None` for random initialisation. Defaults to `None`.
        **kwargs: passed to `keras.Model` (`name`, `trainable`, ...).

    Example:

    ```python
    trunk = keras.applications.MobileNetV2(include_top=False, weights=None)
    backbone = tlkeras.Backbone.from_model(trunk, modality="image")
    [len(group) for group in backbone.layer_groups]
    ```
    """

    def __init__(self, *args, modality=None, layer_groups=None, weights_source=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Where the weights came from ("imagenet", a path, ...); None = random.
        # build(freeze="auto") freezes a backbone only when it is pretrained.
        self.weights_source = weights_source
        self.modality = infer_modality(self, declared=modality)
        if layer_groups is None:
            layer_groups = derive_layer_groups(self)
        self._layer_group_names = [
            [layer if isinstance(layer, str) else layer.name for layer in group]
            for group in layer_groups
        ]
        self._check_layer_groups()

    @classmethod
    def from_model(cls, model, modality=None, layer_groups=None, name=None, weights_source=None):
        """Wraps a plain functional `keras.Model` whose output is a feature tensor.

        The new backbone shares the model's layers and weights (no copy).
        `modality` defaults to the model's own `modality` attribute, else to
        what its inputs say (`infer_modality`).
        """
        if not isinstance(model, keras.Model):
            raise PluginError(
                "A backbone factory must return a tlkeras.Backbone or a "
                f"keras.Model. Received: {type(model).__name__} ({model!r})"
            )
        if isinstance(model, Backbone):
            return model
        if not hasattr(model, "_nodes") or not model.inputs:
            raise PluginError(
                "tlkeras wraps functional keras.Models (built from keras.Input); "
                f"a subclassed model must subclass tlkeras.Backbone. Received: "
                f"{type(model).__name__} named {model.name!r}"
            )
        return cls(
            inputs=model.inputs[0] if len(model.inputs) == 1 else model.inputs,
            outputs=model.outputs[0] if len(model.outputs) == 1 else model.outputs,
            modality=modality if modality is not None else getattr(model, "modality", None),
            layer_groups=layer_groups,
            weights_source=weights_source,
            name=name or model.name,
        )

    # === Layer groups ===
    @property
    def layer_groups(self):
        """Ordered tuple (input side first) of tuples of layers."""
        by_name = {layer.name: layer for layer in self._flatten_layers()}
        return tuple(tuple(by_name[name] for name in group) for group in self._layer_group_names)

    def _check_layer_groups(self):
        by_name = {layer.name for layer in self._flatten_layers()}
        missing = [n for g in self._layer_group_names for n in g if n not in by_name]
        if missing:
            raise ConfigurationError(
                f"layer_groups name layers that are not in the backbone "
                f"{self.name!r}. Received unknown names: {missing[:5]}"
            )
        seen = {}
        for index, group in enumerate(self.layer_groups):
            for variable in trainable_by_nature(group):
                if id(variable) in seen:
                    raise ConfigurationError(
                        f"The variable {variable.path!r} belongs to layer groups "
                        f"{seen[id(variable)]} and {index}; each trainable "
                        "variable must belong to exactly one group."
                    )
                seen[id(variable)] = index
        ungrouped = [v.path for v in trainable_by_nature([self]) if id(v) not in seen]
        if ungrouped:
            raise ConfigurationError(
                f"layer_groups of backbone {self.name!r} leave trainable "
                f"variables out of every group: {ungrouped[:5]}"
            )

    # === Features ===
    @property
    def feature_shape(self):
        """Shape of one example's features (no batch axis)."""
        return tuple(self.output.shape[1:])

    def example_inputs(self, batch_size=2, seed=0):
        """Random inputs of the declared spec: pixels in [0, 255] for images."""
        rng = np.random.default_rng(seed)

        def one(spec):
            shape = (batch_size,) + tuple(d if d is not None else 8 for d in spec.shape[1:])
            if "int" in str(spec.dtype):
                return rng.integers(0, 2, size=shape).astype(spec.dtype)
            high = 255.0 if self.modality == "image" else 1.0
            return rng.uniform(0.0, high, size=shape).astype("float32")

        inputs = [one(spec) for spec in self.inputs]
        return inputs[0] if len(inputs) == 1 else inputs

    def example_targets(self, num_classes=2, batch_size=2, seed=0):
        """Random integer labels matching `example_inputs` (one per example)."""
        return np.random.default_rng(seed).integers(0, num_classes, size=(batch_size,))

    # === Config ===
    def get_config(self):
        config = super().get_config()
        config.update(
            modality=self.modality,
            layer_groups=self._layer_group_names,
            weights_source=self.weights_source,
        )
        return config


def infer_modality(model, declared=None):
    """The modality of a functional model: the declared one, else what its inputs say.

    One rule for every backbone, registered or wrapped: a declared modality
    wins; inputs named as in tlkeras-gnn's graph batch (`node_features`,
    `edge_index`) are a graph; string inputs, or integer `(batch, sequence)`
    inputs with no float input beside them (token ids, a padding mask), are
    text; one 4-D float or uint8 input with 1 or 3 channels is an image.
    Anything else is `"other"`, with a log line saying how to declare it.

    Args:
        model: a functional `keras.Model`.
        declared: a modality the author stated, or `None`. Defaults to `None`.

    Returns:
        One of `MODALITIES`.
    """
    if declared is not None:
        if declared not in MODALITIES:
            raise ConfigurationError(
                f"Unknown modality. Received: modality={declared!r}; expected one of {MODALITIES}."
            )
        return declared
    inputs = list(model.inputs or [])
    modality = _modality_of_inputs(inputs, _input_names(model, inputs))
    if modality == "other":
        specs = ", ".join(f"{t.name}: {tuple(t.shape)} {t.dtype}" for t in inputs)
        logger.warning(
            "The modality of backbone %r is not clear from its inputs (%s), so it is "
            "'other': no image/text/graph pre-training objectives or heads apply. %s",
            model.name,
            specs or "none",
            HOW_TO_DECLARE,
        )
    return modality


def _input_names(model, inputs):
    struct = getattr(model, "_inputs_struct", None)
    names = set(struct) if isinstance(struct, dict) else set()
    return names | {str(t.name) for t in inputs}


def _modality_of_inputs(inputs, names):
    if not inputs:
        return "other"
    if all(name in names for name in GRAPH_INPUT_NAMES):
        return "graph"
    dtypes = [str(t.dtype) for t in inputs]
    if any("string" in d for d in dtypes):
        return "text"
    if len(inputs) == 1 and len(inputs[0].shape) == 4:
        channels_axis = -1 if keras.config.image_data_format() == "channels_last" else 1
        dtype_fits = "float" in dtypes[0] or dtypes[0] == "uint8"
        if dtype_fits and inputs[0].shape[channels_axis] in (1, 3):
            return "image"
    integer = [t for t, d in zip(inputs, dtypes, strict=True) if "int" in d]
    if any(len(t.shape) == 2 for t in integer) and not any("float" in d for d in dtypes):
        return "text"
    return "other"


def trainable_by_nature(layers):
    """Variables that train when their layer is unfrozen (BatchNorm statistics excluded).

    `layer.trainable = False` flips each variable's `trainable` flag, so the
    variables a layer was *created* trainable with are read from the layer's
    own tracking list instead.
    """
    seen, result = set(), []
    for root in layers:
        for layer in root._flatten_layers(include_self=True, recursive=True):
            for variable in layer._trainable_variables:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    result.append(variable)
    return result


def derive_layer_groups(model):
    """Groups a functional model's layers in order, one group per CNN stage.

    A new group starts where a layer with weights outputs a new spatial
    resolution; a model for images of any size is probed at `PROBE_SIZE` px to
    find them. Models without 4-D outputs (sequence models, MLPs) are cut into
    equal chunks of weighted layers instead.
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    groups = _groups_by_resolution(layers, _resolutions(model, layers))
    if groups is None or len(groups) < 2:
        groups = _equal_chunks(layers, MAX_DERIVED_GROUPS // 2)
    while len(groups) > MAX_DERIVED_GROUPS:
        groups = _merge_smallest_neighbours(groups)
    return [[layer.name for layer in group] for group in groups if group]


def _has_weights(layer):
    return bool(trainable_by_nature([layer]))


def _resolution(shape):
    if shape is None or len(shape) != 4 or shape[1] is None:
        return None
    return tuple(shape[1:3])


def _output_shape(layer):
    try:
        return layer.output.shape
    except (AttributeError, ValueError):  # shared layers have several outputs
        return None


def _resolutions(model, layers):
    """Each weighted layer's output resolution, probed at 224 px when the input size is free."""
    shapes = {id(layer): _output_shape(layer) for layer in layers if _has_weights(layer)}
    free = [s for s in shapes.values() if s is not None and len(s) == 4 and s[1] is None]
    image = len(model.inputs) == 1 and len(model.inputs[0].shape) == 4
    if free and image and all(s is not None for s in shapes.values()):
        # A model for any image size has no sizes to cut stages at: run its
        # graph symbolically at one size (no computation) to find them.
        probe = keras.Model(model.inputs, [layer.output for layer in layers if id(layer) in shapes])
        spec = keras.KerasTensor((1, PROBE_SIZE, PROBE_SIZE, model.inputs[0].shape[-1]))
        try:
            outputs = probe.compute_output_spec(spec)
        except Exception:  # a graph that cannot take this size: keep the chunks
            return {key: None for key in shapes}
        shapes = dict(zip(shapes, (o.shape for o in outputs), strict=True))
    return {key: _resolution(shape) for key, shape in shapes.items()}


def _groups_by_resolution(layers, resolutions):
    if not resolutions or any(r is None for r in resolutions.values()):
        return None
    groups, current, current_resolution = [], [], None
    for layer in layers:
        if _has_weights(layer):
            resolution = resolutions[id(layer)]
            if current_resolution is not None and resolution != current_resolution:
                groups.append(current)
                current = []
            current_resolution = resolution
        current.append(layer)
    groups.append(current)
    return groups


def _equal_chunks(layers, n_chunks):
    weighted = [i for i, layer in enumerate(layers) if _has_weights(layer)]
    if not weighted:
        return [layers]
    n_chunks = max(1, min(n_chunks, len(weighted)))
    cut_points = [weighted[round(k * len(weighted) / n_chunks)] for k in range(1, n_chunks)]
    groups, start = [], 0
    for cut in cut_points:
        groups.append(layers[start:cut])
        start = cut
    groups.append(layers[start:])
    return groups


def _merge_smallest_neighbours(groups):
    sizes = [sum(int(np.prod(v.shape)) for v in trainable_by_nature(g)) for g in groups]
    pair = min(range(len(groups) - 1), key=lambda i: sizes[i] + sizes[i + 1])
    return groups[:pair] + [groups[pair] + groups[pair + 1]] + groups[pair + 2 :]
