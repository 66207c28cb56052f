"""Per-channel normalisation of raw pixels, with no variables to load."""

import keras
from keras import ops

from tlkeras.errors import ConfigurationError


@keras.saving.register_keras_serializable(package="tlkeras")
class ImageNormalization(keras.layers.Layer):
    """Maps pixels in `[0, 255]` to `(x / 255 - mean) / std`, per channel.

    Unlike `keras.layers.Normalization`, it holds no variables, so adding it in
    front of a pretrained trunk leaves the trunk's weight files loadable as-is.

    Args:
        mean: per-channel mean of pixels scaled to `[0, 1]` (a float or a list).
        std: per-channel standard deviation, same scale. Must be > 0.
        reverse_channels: flip RGB to BGR first (Caffe-trained weights).
            Defaults to `False`.

    Example:

    ```python
    layer = ImageNormalization(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    ```
    """

    def __init__(self, mean, std, reverse_channels=False, **kwargs):
        super().__init__(**kwargs)
        self.reverse_channels = bool(reverse_channels)
        self.mean = [float(m) for m in _as_list(mean)]
        self.std = [float(s) for s in _as_list(std)]
        if any(s <= 0 for s in self.std):
            raise ConfigurationError(f"std must be > 0. Received: std={std!r}")

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype) / 255.0
        if self.reverse_channels:
            x = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)
        std = ops.convert_to_tensor(self.std, dtype=self.compute_dtype)
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mean=self.mean, std=self.std, reverse_channels=self.reverse_channels)
        return config


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]
