"""AudioBackbone: a tlkeras Backbone from raw 16 kHz waveforms to one feature vector per clip."""

import keras
import numpy as np

from tlkeras import Backbone
from tlkeras_audio.frontend import FFT_SIZE
from tlkeras_audio.frontend import HOP_SIZE
from tlkeras_audio.frontend import SAMPLE_RATE
from tlkeras_audio.frontend import LogMelSpectrogram
from tlkeras_audio.windows import WINDOW_FRAMES
from tlkeras_audio.windows import FrameWindows
from tlkeras_audio.windows import PoolWindows

# One window of log-mel frames in samples: 512 + 75 * 160 = 12512 (0.78 s).
WINDOW_SAMPLES = FFT_SIZE + (WINDOW_FRAMES - 1) * HOP_SIZE


@keras.saving.register_keras_serializable(package="tlkeras_audio")
class AudioBackbone(Backbone):
    """A functional backbone whose input is a batch of waveforms `(batch, samples)`.

    Waveforms are float, mono, 16 kHz, in [-1, 1]; any length (the clips of
    one batch share a length: pad them, e.g. with `tlkeras_audio.pad_or_trim`).
    Other sample rates are converted with `tlkeras_audio.resample` before.
    The log-mel front end, the framing into 76-frame windows and the pooling
    over windows are layers of the model, so `fit(waveforms, labels)` works.

    `example_inputs` are one-second clips (tones in noise), not the
    `[0, 1]` uniform values of the base class.

    Args:
        *args, **kwargs: as for `tlkeras.Backbone`; `modality` is `"other"`
            (tlkeras's modalities have no audio entry).
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, *args, **kwargs):
        kwargs["modality"] = "other"
        super().__init__(*args, **kwargs)

    def example_inputs(self, batch_size=2, seed=0):
        """`batch_size` one-second clips: a random tone plus noise, peak 0.5."""
        rng = np.random.default_rng(seed)
        t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
        freqs = rng.uniform(200.0, 2000.0, size=(batch_size, 1))
        clips = 0.4 * np.sin(2 * np.pi * freqs * t) + 0.1 * rng.standard_normal(
            (batch_size, t.size)
        )
        return (clips / np.abs(clips).max(axis=1, keepdims=True) * 0.5).astype("float32")


def waveform_frontend(pooling="mean", name_prefix=""):
    """Returns `(waveform input, windows tensor, pool layer, front-end layers)`.

    Shared by every audio backbone: waveform -> log-mel -> 76-frame windows.
    """
    waveforms = keras.Input(shape=(None,), name="waveform")
    logmel = LogMelSpectrogram(min_samples=WINDOW_SAMPLES, name=f"{name_prefix}log_mel")
    framing = FrameWindows(name=f"{name_prefix}windows")
    windows = framing(logmel(waveforms))
    pool = PoolWindows(pooling, name=f"{name_prefix}pool_windows")
    return waveforms, windows, pool, [logmel, framing]
