"""The strict WAV reader, resampling and padding."""

import wave

import numpy as np
import pytest
from tlkeras_audio import pad_or_trim
from tlkeras_audio import read_wav
from tlkeras_audio import resample


def _write(path, samples, rate=8000, channels=1, width=2):
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(samples.tobytes())


def _dominant_hz(waveform, rate):
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return np.fft.rfftfreq(len(waveform), 1 / rate)[spectrum.argmax()]


def test_reads_16_bit_mono_exactly_and_resamples_to_16_khz(tmp_path):
    t = np.arange(8000) / 8000
    samples = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    _write(tmp_path / "tone.wav", samples)
    native, rate = read_wav(tmp_path / "tone.wav", sample_rate=None)
    assert rate == 8000
    np.testing.assert_array_equal(native, samples.astype("float32") / 32768)
    waveform, rate = read_wav(tmp_path / "tone.wav")
    assert rate == 16000 and waveform.shape == (16000,)
    assert abs(_dominant_hz(waveform, 16000) - 440) < 2


@pytest.mark.parametrize(
    "channels, width, fragment",
    [(2, 2, "2 channel"), (1, 1, "8-bit"), (1, 3, "24-bit")],
)
def test_refuses_what_it_would_misread(tmp_path, channels, width, fragment):
    _write(tmp_path / "odd.wav", np.zeros(64 * channels * width, "u1"), 8000, channels, width)
    with pytest.raises(ValueError, match=fragment):
        read_wav(tmp_path / "odd.wav")


def test_refuses_a_truncated_file(tmp_path):
    _write(tmp_path / "full.wav", np.zeros(1000, "<i2"))
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:-500])
    with pytest.raises(ValueError, match="truncated"):
        read_wav(tmp_path / "cut.wav")


def test_resample_rejects_a_non_integer_rate():
    with pytest.raises(ValueError, match="rate=44.1"):
        resample(np.zeros(10), 44.1)


def test_pad_or_trim_centres_the_clip():
    padded = pad_or_trim(np.ones(4, "float32"), 8)
    np.testing.assert_array_equal(padded, [0, 0, 1, 1, 1, 1, 0, 0])
    trimmed = pad_or_trim([np.arange(10, dtype="float32")], 4)
    np.testing.assert_array_equal(trimmed, [[3, 4, 5, 6]])
