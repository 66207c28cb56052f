"""Pools a token sequence into one vector, skipping padded positions."""

import keras
from keras import ops

SEQUENCE_POOLINGS = ("avg", "max", "cls", "last")


@keras.saving.register_keras_serializable(package="tlkeras")
class SequencePooling(keras.layers.Layer):
    """Mean, max, first-token ([CLS]) or last-token pooling of `(batch, tokens, features)`.

    Mean and max pooling read the Keras mask of the sequence (set by a text
    backbone's `PaddingMask`), so padding never enters the result: mean pooling
    over a MiniLM sequence is exactly sentence-transformers' sentence
    embedding before normalisation. Last-token pooling takes the last real
    (unmasked) position of each example: in a causal model such as GPT-2 it is
    the only token that has attended to the whole text, wherever the padding
    of a batch starts.

    Args:
        pooling: `"avg"` (masked mean), `"max"` (masked max), `"cls"` (the
            first token) or `"last"` (the last unmasked token). Defaults to `"avg"`.

    Example:

    ```python
    pooled = SequencePooling("cls")(sequence)
    ```
    """

    def __init__(self, pooling="avg", **kwargs):
        super().__init__(**kwargs)
        if pooling not in SEQUENCE_POOLINGS:
            raise ValueError(
                f"Unknown pooling. Received: pooling={pooling!r}; expected one of "
                f"{SEQUENCE_POOLINGS}."
            )
        self.pooling = pooling
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if self.pooling == "cls":
            return inputs[:, 0]
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        if self.pooling == "last":
            return _last_unmasked(inputs, mask)
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        if self.pooling == "avg":
            total = ops.sum(inputs * weights, axis=1)
            return total / ops.maximum(ops.sum(weights, axis=1), 1.0)
        return ops.max(ops.where(weights > 0, inputs, ops.full_like(inputs, -1e9)), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(pooling=self.pooling)
        return config


def _last_unmasked(inputs, mask):
    """`inputs[i, j]` at the largest `j` where `mask[i, j]` (position 0 when none is)."""
    positions = ops.arange(ops.shape(inputs)[1], dtype="int32")
    last = ops.max(ops.where(ops.cast(mask, "bool"), positions, 0), axis=1)
    return ops.squeeze(ops.take_along_axis(inputs, last[:, None, None], axis=1), axis=1)
