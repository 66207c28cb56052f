"""Framing log-mel frames into fixed windows and pooling the windows' features.

A CNN trained on 76-frame windows (0.775 s) sees longer clips as overlapping
windows every `hop` frames; the window features are then pooled into one
vector per clip, so any clip length gives one feature vector.
"""

import keras
from keras import ops

WINDOW_FRAMES = 76
# openWakeWord's step between embedding windows: 8 frames = 80 ms.
WINDOW_HOP = 8


@keras.saving.register_keras_serializable(package="tlkeras_audio")
class FrameWindows(keras.layers.Layer):
    """`(batch, frames, mels)` to `(batch * windows, window, mels, 1)` overlapping windows.

    Clips shorter than one window are padded at the end with `pad_value`
    frames (musicnn's log compression maps silence to 0; speech_embedding's
    front end pads the waveform itself, so its frames never need this).
    Windows start every `hop` frames; the last frames that do not fill a
    window are dropped.

    Args:
        window: frames per window. Defaults to `76`.
        hop: frames between window starts. Defaults to `8`.
        pad_value: value of padded frames. Defaults to `0.0`.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, window=WINDOW_FRAMES, hop=WINDOW_HOP, pad_value=0.0, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("window", window), ("hop", hop)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be an integer >= 1. Received: {arg}={value!r}")
        self.window = window
        self.hop = hop
        self.pad_value = float(pad_value)

    def call(self, frames):
        shortfall = ops.maximum(self.window - ops.shape(frames)[1], 0)
        frames = ops.pad(frames, [[0, 0], [0, shortfall], [0, 0]], constant_values=self.pad_value)
        count = (ops.shape(frames)[1] - self.window) // self.hop + 1
        starts = ops.arange(count) * self.hop
        index = starts[:, None] + ops.arange(self.window)[None, :]
        windows = ops.take(frames, index, axis=1)  # (batch, windows, window, mels)
        return ops.reshape(windows, (-1, self.window, ops.shape(frames)[2], 1))

    def compute_output_shape(self, input_shape):
        return (None, self.window, input_shape[2], 1)

    def get_config(self):
        config = super().get_config()
        config.update(window=self.window, hop=self.hop, pad_value=self.pad_value)
        return config


@keras.saving.register_keras_serializable(package="tlkeras_audio")
class PoolWindows(keras.layers.Layer):
    """Pools `(batch * windows, features)` back to `(batch, features)`.

    Takes the window features and the clip-level tensor they came from (any
    tensor whose first axis is the batch) to recover the batch size.

    Args:
        pooling: `"mean"` or `"max"` over a clip's windows. Defaults to `"mean"`.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, pooling="mean", **kwargs):
        super().__init__(**kwargs)
        if pooling not in ("mean", "max"):
            raise ValueError(f"pooling must be 'mean' or 'max'. Received: pooling={pooling!r}")
        self.pooling = pooling

    def call(self, features, clips):
        batch = ops.shape(clips)[0]
        per_clip = ops.reshape(features, (batch, -1, ops.shape(features)[-1]))
        if self.pooling == "max":
            return ops.max(per_clip, axis=1)
        return ops.mean(per_clip, axis=1)

    def compute_output_shape(self, features_shape, clips_shape):
        return (clips_shape[0], features_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(pooling=self.pooling)
        return config
