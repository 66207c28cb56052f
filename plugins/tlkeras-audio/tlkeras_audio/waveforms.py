"""Waveform utilities: a strict WAV reader, resampling to 16 kHz, padding to one length.

The sample-rate rule: every model of this plugin takes 16 kHz audio. Audio
at another rate is converted with `resample(waveform, rate)` (polyphase
filtering with a Kaiser-windowed anti-aliasing filter, `scipy.signal.resample_poly`)
before it reaches a model; `read_wav` does it when given `sample_rate=16000`.
"""

import math
import wave
from pathlib import Path

import numpy as np

from tlkeras_audio.frontend import SAMPLE_RATE


def read_wav(path, sample_rate=SAMPLE_RATE):
    """Reads a PCM WAV file into float32 samples in [-1, 1], resampled to `sample_rate`.

    Only uncompressed mono 16-bit PCM is accepted; anything else (stereo,
    8-bit, 24-bit, a compressed or truncated file) raises instead of being
    silently misread.

    Args:
        path: a `.wav` file.
        sample_rate: the rate to return, or `None` for the file's own.
            Defaults to `16000`.

    Returns:
        `(waveform, rate)`: a 1-D float32 array and its sample rate.

    Raises:
        ValueError: the file is not mono 16-bit PCM or is truncated.

    Example:

    ```python
    waveform, rate = read_wav("/usr/share/asterisk/sounds/en/digits/7.wav")  # 16 kHz
    ```
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as reader:
            params = reader.getparams()
            data = reader.readframes(params.nframes)
    except (wave.Error, EOFError) as error:
        raise ValueError(f"Not a readable PCM WAV file ({error}). Received: path={path}") from error
    if params.comptype != "NONE" or params.sampwidth != 2 or params.nchannels != 1:
        raise ValueError(
            "read_wav reads mono 16-bit PCM only (convert with `sox in.wav -b 16 -c 1 out.wav`). "
            f"Received: path={path} with {params.nchannels} channel(s), "
            f"{8 * params.sampwidth}-bit, compression {params.comptype!r}"
        )
    if len(data) != 2 * params.nframes:
        raise ValueError(
            f"The WAV header declares {params.nframes} samples, the file holds "
            f"{len(data) // 2}: truncated. Received: path={path}"
        )
    waveform = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if sample_rate is None:
        return waveform, params.framerate
    return resample(waveform, params.framerate, sample_rate), int(sample_rate)


def resample(waveform, rate, target_rate=SAMPLE_RATE):
    """Resamples `waveform` (last axis = time) from `rate` to `target_rate` Hz.

    Args:
        waveform: a float array, time on the last axis.
        rate: its sample rate in Hz (a positive integer).
        target_rate: the rate wanted. Defaults to `16000`.

    Returns:
        A float32 array of `ceil(n * target_rate / rate)` samples on the last axis.

    Example:

    ```python
    clip_16k = resample(clip_8k, 8000)
    ```
    """
    from scipy.signal import resample_poly

    for arg, value in (("rate", rate), ("target_rate", target_rate)):
        if isinstance(value, bool) or int(value) != value or value <= 0:
            raise ValueError(f"{arg} must be a positive integer (Hz). Received: {arg}={value!r}")
    rate, target_rate = int(rate), int(target_rate)
    waveform = np.asarray(waveform, dtype=np.float32)
    if rate == target_rate:
        return waveform
    divisor = math.gcd(rate, target_rate)
    resampled = resample_poly(waveform, target_rate // divisor, rate // divisor, axis=-1)
    return resampled.astype(np.float32)


def pad_or_trim(waveforms, length, center=True):
    """Returns clips of exactly `length` samples: padded with silence or cut.

    Args:
        waveforms: one 1-D waveform or a list of them (any lengths).
        length: samples per output clip.
        center: pad/cut evenly on both sides (keeps a word in the middle);
            else at the end. Defaults to `True`.

    Returns:
        A float32 array `(len(waveforms), length)` (or `(length,)` for one clip).
    """
    if isinstance(length, bool) or int(length) != length or length < 1:
        raise ValueError(f"length must be a positive integer. Received: length={length!r}")
    single = isinstance(waveforms, np.ndarray) and waveforms.ndim == 1
    clips = [waveforms] if single else list(waveforms)
    out = np.zeros((len(clips), int(length)), dtype=np.float32)
    for row, clip in enumerate(clips):
        clip = np.asarray(clip, dtype=np.float32)
        offset = (len(clip) - length) // 2 if center else 0
        if offset >= 0:
            out[row] = clip[offset : offset + length]
        else:
            start = -offset if center else 0
            out[row, start : start + len(clip)] = clip
    return out[0] if single else out
