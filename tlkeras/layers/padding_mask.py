"""Attaches a padding mask to a token sequence as its Keras mask."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tlkeras")
class PaddingMask(keras.layers.Layer):
    """Passes `sequence` through and marks its padded positions as masked.

    Called on `[sequence, padding_mask]`, it returns `sequence` whose Keras
    mask is `padding_mask`, so the layers above it (`SequencePooling`, a
    `TokenClassifierHead`'s loss) see which tokens are real without a second
    input.

    Example:

    ```python
    sequence = PaddingMask()([sequence, padding_mask])
    ```
    """

    def call(self, inputs):
        return inputs[0]

    def compute_mask(self, inputs, mask=None):
        return ops.cast(inputs[1], "bool")

    def compute_output_shape(self, input_shape):
        return input_shape[0]
