"""The Keras rebuild of speech_embedding against the original TFLite models, on real clips.

Fast (a few seconds once the wheel is cached), so it runs by default; the
first run downloads the 5 MB `wyoming-openwakeword` wheel with pip.
"""

import glob

import keras
import numpy as np
import pytest
from tlkeras_audio import read_wav
from tlkeras_audio import speech_embedding
from tlkeras_audio.frontend import LogMelSpectrogram
from tlkeras_audio.frontend import mel_filterbank
from tlkeras_audio.frontend import stft_kernels
from tlkeras_audio.speech_embedding import tflite_interpreter
from tlkeras_audio.tflite_reference import tflite_log_mel
from tlkeras_audio.tflite_reference import tflite_window_embeddings
from tlkeras_audio.weights import openwakeword_models

DIGITS = sorted(glob.glob("/usr/share/asterisk/sounds/en/digits/[0-9].wav"))


def _real_clips():
    if not DIGITS:
        pytest.skip("apt-get install asterisk-core-sounds-en-wav (real recordings)")
    return [read_wav(path)[0] for path in DIGITS[:4]]


def test_front_end_constants_equal_the_tflite_graph_constants():
    interpreter = tflite_interpreter(
        openwakeword_models() / "melspectrogram.tflite", allocate=False
    )
    constants = {d["name"]: d["index"] for d in interpreter.get_tensor_details()}
    real = interpreter.get_tensor(constants["convolution1"])[:, 0, :, 0]
    imaginary = interpreter.get_tensor(constants["convolution_1"])[:, 0, :, 0]
    np.testing.assert_allclose(stft_kernels()[:, 0, :257].T, real, atol=1e-6)
    np.testing.assert_allclose(stft_kernels()[:, 0, 257:].T, imaginary, atol=1e-6)
    np.testing.assert_allclose(
        mel_filterbank(), interpreter.get_tensor(constants["Const_3"]), atol=1e-8
    )


def test_log_mel_matches_tflite_on_real_clips():
    for clip in _real_clips():
        expected = tflite_log_mel(clip)
        actual = keras.ops.convert_to_numpy(LogMelSpectrogram()(clip[None]))[0]
        np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_window_embeddings_match_tflite_on_real_clips():
    backbone = speech_embedding()
    per_window = keras.Model(backbone.input, backbone.get_layer("embedding_flatten").output)
    for clip in _real_clips():
        expected = tflite_window_embeddings(clip)
        actual = keras.ops.convert_to_numpy(per_window(clip[None]))
        assert actual.shape == expected.shape
        # Embedding values reach ~60: float32 rounding over 20 layers is ~1e-4 absolute.
        np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=1e-5)
        pooled = keras.ops.convert_to_numpy(backbone(clip[None]))[0]
        np.testing.assert_allclose(pooled, expected.mean(axis=0), atol=1e-4, rtol=1e-5)


def test_random_weights_do_not_match(tmp_path):
    # The parity above is the weights', not the architecture's alone.
    clip = _real_clips()[0]
    random_backbone = speech_embedding(weights=None)
    expected = tflite_window_embeddings(clip).mean(axis=0)
    actual = keras.ops.convert_to_numpy(random_backbone(clip[None]))[0]
    assert np.abs(actual - expected).max() > 1.0
