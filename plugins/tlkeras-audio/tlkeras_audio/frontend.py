"""The log-mel front end of Google's speech_embedding, as a Keras layer.

The original front end (`melspectrogram.tflite` in openWakeWord) is rebuilt
from its definition, not from stored tensors, and matches them exactly:

- input: 16 kHz audio at int16 scale (our layer takes floats in [-1, 1] and
  multiplies by 32768 first);
- STFT: 512-sample frames every 160 samples (10 ms), no centring or padding,
  a periodic Hann window of 400 samples centred in the 512 (torchaudio's
  `win_length=400, n_fft=512`), power spectrum of 257 bins;
- 32 mel filters, Slaney scale and Slaney area normalisation, 60 to 3800 Hz
  (librosa's `mel(sr=16000, n_fft=512, n_mels=32, fmin=60, fmax=3800)`);
- `10 * log10(max(mel, 1e-10))`, floored at 80 dB below the clip's maximum
  (the TFLite graph takes that maximum over its whole batch; openWakeWord
  always calls it with one clip, so the maximum here is per clip);
- rescaled `x / 10 + 2`, as openWakeWord does before the embedding model.
"""

import keras
import numpy as np
from keras import ops

SAMPLE_RATE = 16000
FFT_SIZE = 512
WINDOW_SIZE = 400
HOP_SIZE = 160
NUM_MELS = 32
MEL_RANGE_HZ = (60.0, 3800.0)
# Floats in [-1, 1] times this are the int16 values the original was fed.
INT16_SCALE = 32768.0
TOP_DB = 80.0


def _hz_to_mel(hz):
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    linear = hz / (200.0 / 3.0)
    logarithmic = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / log_step
    return np.where(hz >= 1000.0, logarithmic, linear)


def _mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * 200.0 / 3.0)


def mel_filterbank(num_mels=NUM_MELS, fmin=MEL_RANGE_HZ[0], fmax=MEL_RANGE_HZ[1]):
    """Returns the `(257, num_mels)` Slaney mel matrix of the original front end.

    Args:
        num_mels: number of triangular filters. Defaults to `32`.
        fmin: lowest edge in Hz. Defaults to `60.0`.
        fmax: highest edge in Hz. Defaults to `3800.0`.

    Returns:
        A float64 NumPy array mapping power-spectrum bins to mel bands.
    """
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, FFT_SIZE // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), num_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    weights = np.zeros((num_mels, freqs.size))
    for i in range(num_mels):
        rising = -ramps[i] / widths[i]
        falling = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(rising, falling))
    # Slaney normalisation: every filter has the same area.
    weights *= (2.0 / (edges[2 : num_mels + 2] - edges[:num_mels]))[:, None]
    return weights.T


def stft_kernels(window_size=WINDOW_SIZE):
    """Returns the `(512, 1, 514)` real-then-imaginary windowed DFT kernel of the STFT.

    Args:
        window_size: length of the periodic Hann window, centred in the 512
            samples. Defaults to `400` (speech_embedding's).
    """
    window = np.zeros(FFT_SIZE)
    offset = (FFT_SIZE - window_size) // 2
    n = np.arange(window_size)
    window[offset : offset + window_size] = 0.5 - 0.5 * np.cos(2 * np.pi * n / window_size)
    t = np.arange(FFT_SIZE)[:, None]
    k = np.arange(FFT_SIZE // 2 + 1)[None, :]
    angle = 2 * np.pi * k * t / FFT_SIZE
    kernel = np.concatenate([window[:, None] * np.cos(angle), -window[:, None] * np.sin(angle)], 1)
    return kernel[:, None, :]


def num_frames(num_samples):
    """Log-mel frames of a clip of `num_samples` (after padding to one STFT frame)."""
    return (max(int(num_samples), FFT_SIZE) - FFT_SIZE) // HOP_SIZE + 1


@keras.saving.register_keras_serializable(package="tlkeras_audio")
class LogMelSpectrogram(keras.layers.Layer):
    """Waveforms `(batch, samples)` at 16 kHz in [-1, 1] to log-mel frames `(batch, frames, 32)`.

    The speech_embedding front end exactly (see the module docstring). It has
    no weights: its kernels are fixed by definition. Clips shorter than
    `min_samples` are padded with silence at the end first.

    Args:
        min_samples: shortest clip length after padding. Defaults to `512`
            (one STFT frame).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:

    ```python
    frames = LogMelSpectrogram()(np.zeros((2, 16000), "float32"))  # (2, 97, 32)
    ```
    """

    def __init__(self, min_samples=FFT_SIZE, **kwargs):
        super().__init__(**kwargs)
        if int(min_samples) < FFT_SIZE:
            raise ValueError(
                f"min_samples must be at least one STFT frame ({FFT_SIZE}). "
                f"Received: min_samples={min_samples!r}"
            )
        self.min_samples = int(min_samples)
        self._stft = stft_kernels().astype("float32")
        self._mel = mel_filterbank().astype("float32")

    def call(self, waveforms):
        # The STFT runs in float32 whatever the policy: int16-scale sums of
        # 512 products lose the quiet frames in float16.
        x = ops.cast(waveforms, "float32") * INT16_SCALE
        shortfall = ops.maximum(self.min_samples - ops.shape(x)[1], 0)
        x = ops.pad(x, [[0, 0], [0, shortfall]])
        spectrum = ops.conv(x[:, :, None], self._stft, strides=HOP_SIZE, padding="valid")
        bins = FFT_SIZE // 2 + 1
        power = ops.square(spectrum[..., :bins]) + ops.square(spectrum[..., bins:])
        mel = ops.maximum(ops.matmul(power, self._mel), 1e-10)
        decibels = 10.0 * ops.log(mel) / np.log(10.0)
        floor = ops.max(decibels, axis=(1, 2), keepdims=True) - TOP_DB
        decibels = ops.maximum(decibels, floor)
        return ops.cast(decibels / 10.0 + 2.0, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else num_frames(max(samples, self.min_samples))
        return (input_shape[0], frames, NUM_MELS)

    def get_config(self):
        config = super().get_config()
        config.update(min_samples=self.min_samples)
        return config
