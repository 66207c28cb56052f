"""The Head contract: a layer that maps features to a task's outputs."""

import keras

from tlkeras.errors import ConfigurationError


class Head(keras.layers.Layer):
    """Base class of task heads: knows its loss and metrics for `compile("auto")`.

    A head is one layer (its own layer group) and computes in float32 so that
    losses stay numerically stable under mixed precision: on purpose, a head
    given a mixed policy (`dtype="mixed_bfloat16"`, or the global one) still
    outputs float32, and its `compute_output_spec` says so.

    Subclasses set `pooled` (whether they take pooled features, one vector per
    example) and implement `default_loss()` and `default_metrics()`. A head
    that sets `uses_model_inputs = True` is called by `tlkeras.build` as
    `head(features, model_inputs=inputs)`, the model's input structure: a
    graph head reads which graph each node belongs to from there.
    """

    pooled = True
    uses_model_inputs = False

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def default_loss(self):
        raise NotImplementedError

    def compute_output_spec(self, *args, **kwargs):
        # Float outputs are float32 whatever the policy (see the class docstring).
        spec = super().compute_output_spec(*args, **kwargs)
        return keras.tree.map_structure(
            lambda t: (
                keras.KerasTensor(t.shape, dtype="float32")
                if keras.backend.is_float_dtype(t.dtype)
                else t
            ),
            spec,
        )

    def default_metrics(self):
        return []


class DenseHead(Head):
    """Dropout -> Dense(units, activation), computed in float32.

    The shared body of the classifier and regressor heads; subclasses choose
    the units and activation and declare their own config.

    Args:
        units: output width, an int >= 1.
        activation: activation of the Dense layer, or `None`.
        dropout: dropout rate before the Dense layer, in `[0, 1)`.
    """

    def __init__(self, units, activation, dropout, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigurationError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
        self.dropout = float(dropout)
        # === Layers ===
        self.dropout_layer = keras.layers.Dropout(self.dropout, name="dropout")
        self.dense = keras.layers.Dense(units, activation=activation, dtype="float32", name="dense")

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs, training=None):
        x = keras.ops.cast(inputs, "float32")
        return self.dense(self.dropout_layer(x, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.dense.units,)
