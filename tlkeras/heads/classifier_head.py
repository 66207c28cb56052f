"""Classification head: softmax over classes, or independent sigmoids."""

import keras

from tlkeras.errors import ConfigurationError
from tlkeras.heads.head import DenseHead


@keras.saving.register_keras_serializable(package="tlkeras")
class ClassifierHead(DenseHead):
    """Dropout -> Dense(num_classes) with softmax, or sigmoid for multi-label.

    `num_classes` may be left out: the head is then *unsized* until
    `set_num_classes(n)`, which `TransferModel.fit()` calls with the number
    of classes it reads from the labels of the first fit (see
    `tlkeras.heads.num_classes_from_labels`). An unsized head outputs a
    `(batch, None)` tensor in the functional graph and raises a clear
    `ConfigurationError` when it is run.

    Args:
        num_classes: number of classes; an int >= 2 (>= 1 when
            `multi_label=True`), or `None` to size the head from the labels
            of the first `fit()` (or from `class_names`). Defaults to `None`.
        multi_label: independent sigmoid per class (several labels may be on)
            instead of a softmax. Defaults to `False`.
        dropout: dropout rate before the Dense layer. Defaults to `0.0`.
        class_names: the class names, in label order; sizes the head when
            `num_classes` is `None` and is kept in the config. Defaults to
            `None`.

    The "auto" loss is sparse categorical cross-entropy on integer labels
    (binary cross-entropy on multi-hot labels when `multi_label=True`).

    Example:

    ```python
    head = ClassifierHead(num_classes=5, dropout=0.2)
    later = ClassifierHead()  # sized by the first fit()
    ```
    """

    # TransferModel.fit() may size this head from the labels it is given
    # (heads that are pooled and read no model inputs: one label per example).
    sized_from_labels = True

    def __init__(
        self, num_classes=None, multi_label=False, dropout=0.0, class_names=None, **kwargs
    ):
        if class_names is not None:
            if not isinstance(class_names, (list, tuple)) or not class_names:
                raise ConfigurationError(
                    "class_names must be a non-empty list of names, in label order. "
                    f"Received: class_names={class_names!r}"
                )
            class_names = [str(name) for name in class_names]
            if num_classes is None:
                num_classes = len(class_names)
            elif num_classes != len(class_names):
                raise ConfigurationError(
                    f"num_classes and class_names disagree: {num_classes} classes, "
                    f"{len(class_names)} names. Received: num_classes={num_classes!r}, "
                    f"class_names={class_names!r}"
                )
        if num_classes is not None:
            self._check_num_classes(num_classes, multi_label)
        activation = "sigmoid" if multi_label else "softmax"
        # The Dense layer exists from the start (a built layer may not gain
        # sublayers); an unsized head sets its units when it is sized.
        super().__init__(num_classes or 1, activation=activation, dropout=dropout, **kwargs)
        self.num_classes = num_classes
        self.multi_label = bool(multi_label)
        self.class_names = class_names

    @staticmethod
    def _check_num_classes(num_classes, multi_label):
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

    # === Sizing ===
    @property
    def sized(self):
        """Whether the head knows its number of classes."""
        return self.num_classes is not None

    def set_num_classes(self, num_classes):
        """Sizes an unsized head: creates its Dense layer with `num_classes` units.

        Args:
            num_classes: an int >= 2 (>= 1 for multi-label heads).

        Raises:
            ConfigurationError: the head is already sized differently, or
                `num_classes` is not a valid number of classes.
        """
        num_classes = int(num_classes)
        if self.sized:
            if num_classes != self.num_classes:
                raise ConfigurationError(
                    f"The head {self.name!r} already has {self.num_classes} classes. "
                    f"Received: num_classes={num_classes}"
                )
            return
        self._check_num_classes(num_classes, self.multi_label)
        self.num_classes = num_classes
        self.dense.units = num_classes
        if self.built:
            self.dense.build(self._features_shape)

    # === Keras ===
    def build(self, input_shape):
        self._features_shape = tuple(input_shape)
        if self.sized:
            self.dense.build(input_shape)

    def call(self, inputs, training=None):
        if not self.sized:
            raise ConfigurationError(
                f"The classifier head {self.name!r} is not sized yet: it learns its number "
                "of classes from the labels of the first fit(). Call fit() first, or build "
                "with num_classes=N (or class_names=[...]). Received: num_classes=None"
            )
        return super().call(inputs, training=training)

    def compute_output_spec(self, inputs, *args, **kwargs):
        if self.sized:
            return super().compute_output_spec(inputs, *args, **kwargs)
        # Not traced: call() refuses to run until the head is sized.
        return keras.KerasTensor(tuple(inputs.shape[:-1]) + (None,), dtype=self.compute_dtype)

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
            num_classes=self.num_classes,
            multi_label=self.multi_label,
            dropout=self.dropout,
            class_names=self.class_names,
        )
        return config
