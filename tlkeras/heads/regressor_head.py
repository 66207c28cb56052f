"""Regression head: a linear Dense layer."""

import keras

from tlkeras.heads.head import Head


@keras.saving.register_keras_serializable(package="tlkeras")
class RegressorHead(Head):
    """Dense(units) with no activation; "auto" loss is mean squared error.

    Args:
        units: number of regression targets. Defaults to `1`.
        dropout: dropout rate before the Dense layer. Defaults to `0.0`.

    Example:

    ```python
    head = RegressorHead(units=2)
    ```
    """

    def __init__(self, units=1, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be an integer >= 1. Received: units={units!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
        self.units = units
        self.dropout = float(dropout)
        # === Layers ===
        self.dropout_layer = keras.layers.Dropout(self.dropout, name="dropout")
        self.dense = keras.layers.Dense(units, dtype="float32", name="outputs")

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs, training=None):
        x = keras.ops.cast(inputs, "float32")
        return self.dense(self.dropout_layer(x, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def default_loss(self):
        return keras.losses.MeanSquaredError()

    def default_metrics(self):
        return [keras.metrics.MeanAbsoluteError(name="mae")]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, dropout=self.dropout)
        return config
