"""Bottleneck: narrowing Dense blocks between a backbone and its heads."""

import keras

from tlkeras.errors import ConfigurationError

NORMALIZATIONS = ("batch", "layer", None)


@keras.saving.register_keras_serializable(package="tlkeras")
class Bottleneck(keras.layers.Layer):
    """Dense -> normalisation -> activation -> dropout, once per width.

    A bottleneck adapts pooled backbone features to a new task in fewer units
    (a lower-dimensional shared representation for heads, domain
    discriminators and probes). It is its own layer group.

    Args:
        units: an int, or a list of ints for several blocks, e.g. `[512, 128]`.
        activation: activation of each block. Defaults to `"relu"`.
        normalization: `"batch"`, `"layer"` or `None`. Defaults to `"batch"`.
        dropout: dropout rate after each block, in `[0, 1)`. Defaults to `0.0`.

    Example:

    ```python
    features = keras.Input((1280,))
    x = tlkeras.layers.Bottleneck([512, 128], dropout=0.2)(features)
    ```
    """

    def __init__(self, units, activation="relu", normalization="batch", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        widths = [units] if isinstance(units, int) else units
        if (
            not isinstance(widths, (list, tuple))
            or not widths
            or any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths)
        ):
            raise ConfigurationError(
                "bottleneck units must be a positive int or a non-empty list of "
                f"positive ints. Received: units={units!r}"
            )
        if normalization not in NORMALIZATIONS:
            raise ConfigurationError(
                f"Unknown normalization. Received: normalization={normalization!r}; "
                f"expected one of {NORMALIZATIONS}."
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigurationError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
        self.units = list(widths)
        self.activation = activation
        self.normalization = normalization
        self.dropout = float(dropout)
        # === Layers ===
        self.blocks = [self._block(width, index) for index, width in enumerate(self.units)]

    def _block(self, width, index):
        # The sublayers compute under this layer's dtype policy: without it,
        # Bottleneck(dtype="mixed_float16") would compute in float32.
        policy = self.dtype_policy
        layers = [keras.layers.Dense(width, dtype=policy, name=f"dense_{index}")]
        if self.normalization == "batch":
            layers.append(keras.layers.BatchNormalization(dtype=policy, name=f"batch_norm_{index}"))
        elif self.normalization == "layer":
            layers.append(keras.layers.LayerNormalization(dtype=policy, name=f"layer_norm_{index}"))
        layers.append(
            keras.layers.Activation(self.activation, dtype=policy, name=f"activation_{index}")
        )
        if self.dropout:
            layers.append(keras.layers.Dropout(self.dropout, dtype=policy, name=f"dropout_{index}"))
        return layers

    def build(self, input_shape):
        shape = input_shape
        for block in self.blocks:
            for layer in block:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = inputs
        for block in self.blocks:
            for layer in block:
                x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation,
            normalization=self.normalization,
            dropout=self.dropout,
        )
        return config
