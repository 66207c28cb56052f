"""Classification head: softmax over classes, or independent sigmoids."""

import keras

from tlkeras.errors import ConfigurationError
from tlkeras.heads.head import DenseHead


@keras.saving.register_keras_serializable(package="tlkeras")
class ClassifierHead(DenseHead):
    """Dropout -> Dense(num_classes) with softmax, or sigmoid for multi-label.

    Args:
        num_classes: number of classes; an int >= 2 (>= 1 when
            `multi_label=True`).
        multi_label: independent sigmoid per class (several labels may be on)
            instead of a softmax. Defaults to `False`.
        dropout: dropout rate before the Dense layer. Defaults to `0.0`.

    The "auto" loss is sparse categorical cross-entropy on integer labels
    (binary cross-entropy on multi-hot labels when `multi_label=True`).

    Example:

    ```python
    head = ClassifierHead(num_classes=5, dropout=0.2)
    ```
    """

    def __init__(self, num_classes, multi_label=False, dropout=0.0, **kwargs):
        minimum = 1 if multi_label else 2
        if (
            isinstance(num_classes, bool)
            or not isinstance(num_classes, int)
            or num_classes < minimum
        ):
            raise ConfigurationError(
                f"num_classes must be an integer >= {minimum} for a "
                f"{'multi-label' if multi_label else 'single-label'} classifier. "
                f"Received: num_classes={num_classes!r}"
            )
        activation = "sigmoid" if multi_label else "softmax"
        super().__init__(num_classes, activation=activation, dropout=dropout, **kwargs)
        self.num_classes = num_classes
        self.multi_label = bool(multi_label)

    def default_loss(self):
        if self.multi_label:
            return keras.losses.BinaryCrossentropy()
        return keras.losses.SparseCategoricalCrossentropy()

    def default_metrics(self):
        if self.multi_label:
            return [keras.metrics.BinaryAccuracy(name="accuracy")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes, multi_label=self.multi_label, dropout=self.dropout
        )
        return config
