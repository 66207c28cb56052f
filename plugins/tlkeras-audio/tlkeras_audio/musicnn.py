"""musicnn's VGG music tagger (Pons & Serra 2019) rebuilt in Keras, with its MagnaTagATune weights.

The `musicnn` wheel on PyPI (ISC licence) ships TF1 checkpoints; `MTT_vgg` is
a VGG-like CNN trained to tag MagnaTagATune clips (50 tags). Its input is
3 s of log-compressed mel spectrogram, `log10(10000 * mel + 1)`, computed by
librosa 0.7 at 16 kHz: 512-point STFT every 256 samples, periodic Hann window
of 512, centred frames (reflect padding), power, 96 Slaney mel bands 0-8000 Hz.
The CNN: BatchNorm on the input, then 5 x (3x3 conv with 128 filters and
ReLU, BatchNorm (epsilon 1e-3, TF1's default), max-pool), pools (4, 1)
stride 2, then 2x2, 2x2, 2x2, 4x4; the last pool's 2 x 1 x 128 map
flattened is the 256-d feature of a 3 s window.
"""

import keras
import numpy as np
from keras import ops

from tlkeras_audio.frontend import FFT_SIZE
from tlkeras_audio.frontend import mel_filterbank
from tlkeras_audio.frontend import stft_kernels

MUSICNN_HOP = 256
MUSICNN_MELS = 96
# 3 s at 16 kHz with hop 256 and centred frames: librosa.time_to_frames(3) + 1.
MUSICNN_FRAMES = 187
MUSICNN_POOLS = (
    ((4, 1), (2, 2)),
    ((2, 2), (2, 2)),
    ((2, 2), (2, 2)),
    ((2, 2), (2, 2)),
    ((4, 4), (4, 4)),
)
MUSICNN_FILTERS = 128
TF1_BATCHNORM_EPSILON = 1e-3
WHEEL_PROJECT = "musicnn"
WHEEL_VERSION = "0.1.0"


@keras.saving.register_keras_serializable(package="tlkeras_audio")
class LogCompressedMel(keras.layers.Layer):
    """Waveforms `(batch, samples)` at 16 kHz to musicnn's `log10(10000 mel + 1)` frames `(batch, frames, 96)`.

    librosa 0.7's `melspectrogram(sr=16000, n_fft=512, hop_length=256, n_mels=96)`
    (centred frames with reflect padding, periodic Hann 512, power 2, Slaney
    mel 0-8000 Hz) followed by musicnn's log compression. No weights.

    Args:
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._stft = stft_kernels(window_size=FFT_SIZE).astype("float32")
        self._mel = mel_filterbank(MUSICNN_MELS, 0.0, 8000.0).astype("float32")

    def call(self, waveforms):
        x = ops.cast(waveforms, "float32")
        half = FFT_SIZE // 2
        x = ops.pad(x, [[0, 0], [half, half]], mode="reflect")
        spectrum = ops.conv(x[:, :, None], self._stft, strides=MUSICNN_HOP, padding="valid")
        bins = half + 1
        power = ops.square(spectrum[..., :bins]) + ops.square(spectrum[..., bins:])
        mel = ops.matmul(power, self._mel)
        return ops.cast(ops.log(10000.0 * mel + 1.0) / np.log(10.0), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        return (
            input_shape[0],
            None if samples is None else samples // MUSICNN_HOP + 1,
            MUSICNN_MELS,
        )


def musicnn_vgg_layers(dtype=None):
    """The CNN of `MTT_vgg` as 5 stages of Keras layers (input BatchNorm in the first)."""
    stages = []
    for index, (pool, strides) in enumerate(MUSICNN_POOLS):
        stage = []
        if index == 0:
            stage.append(
                keras.layers.BatchNormalization(
                    epsilon=TF1_BATCHNORM_EPSILON, name="musicnn_input_bn", dtype=dtype
                )
            )
        else:
            stage.append(keras.layers.Dropout(0.25, name=f"musicnn_dropout_{index}", dtype=dtype))
        stage += [
            keras.layers.Conv2D(
                MUSICNN_FILTERS,
                3,
                padding="same",
                activation="relu",
                name=f"musicnn_conv_{index + 1}",
                dtype=dtype,
            ),
            keras.layers.BatchNormalization(
                epsilon=TF1_BATCHNORM_EPSILON, name=f"musicnn_bn_{index + 1}", dtype=dtype
            ),
            keras.layers.MaxPooling2D(pool, strides, name=f"musicnn_pool_{index + 1}", dtype=dtype),
        ]
        stages.append(stage)
    stages[-1].append(keras.layers.Flatten(name="musicnn_flatten", dtype=dtype))
    return stages


def load_checkpoint_weights(backbone, folder):
    """Copies a `MTT_vgg`/`MSD_vgg` TF1 checkpoint into the backbone's layers.

    TF1 names its layers `1CNN` ... `5CNN` and `batch_normalization` (the
    input's), `batch_normalization_1` ... `_5`.
    """
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(str(folder) + "/")

    def tensor(name):
        return reader.get_tensor(name)

    def batchnorm(layer, prefix):
        layer.set_weights(
            [tensor(f"{prefix}/{k}") for k in ("gamma", "beta", "moving_mean", "moving_variance")]
        )

    batchnorm(backbone.get_layer("musicnn_input_bn"), "batch_normalization")
    for index in range(1, 6):
        conv = backbone.get_layer(f"musicnn_conv_{index}")
        conv.set_weights([tensor(f"{index}CNN/kernel"), tensor(f"{index}CNN/bias")])
        batchnorm(backbone.get_layer(f"musicnn_bn_{index}"), f"batch_normalization_{index}")
