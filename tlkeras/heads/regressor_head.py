"""Regression head: a linear Dense layer."""

import keras

from tlkeras.errors import ConfigurationError
from tlkeras.heads.head import DenseHead


@keras.saving.register_keras_serializable(package="tlkeras")
class RegressorHead(DenseHead):
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
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ConfigurationError(f"units must be an integer >= 1. Received: units={units!r}")
        super().__init__(units, activation=None, dropout=dropout, **kwargs)
        self.units = units

    def default_loss(self):
        return keras.losses.MeanSquaredError()

    def default_metrics(self):
        return [keras.metrics.MeanAbsoluteError(name="mae")]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, dropout=self.dropout)
        return config
