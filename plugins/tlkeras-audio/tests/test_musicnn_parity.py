"""The Keras rebuild of musicnn's MTT_vgg against the original TF1 graph, on real speech."""

import glob

import keras
import numpy as np
import pytest
from scipy.signal import get_window
from tlkeras_audio import read_wav
from tlkeras_audio.backbones import musicnn_vgg
from tlkeras_audio.frontend import mel_filterbank
from tlkeras_audio.musicnn import MUSICNN_FRAMES
from tlkeras_audio.musicnn import LogCompressedMel
from tlkeras_audio.musicnn_reference import tf1_vgg_features
from tlkeras_audio.weights import musicnn_checkpoint_folder

DIGITS = sorted(glob.glob("/usr/share/asterisk/sounds/en/digits/*.wav"))


@pytest.fixture(scope="module")
def speech():
    if not DIGITS:
        pytest.skip("apt-get install asterisk-core-sounds-en-wav (real recordings)")
    # 6 s of one real speaker: two 3 s windows.
    return np.concatenate([read_wav(path)[0] for path in DIGITS[:40]])[: 6 * 16000]


def test_front_end_equals_an_fft_of_reflect_padded_hann_frames(speech):
    # librosa 0.7's melspectrogram as musicnn called it, written with NumPy's FFT.
    padded = np.pad(speech, 256, mode="reflect")
    frames = np.stack([padded[i * 256 : i * 256 + 512] for i in range(1 + len(speech) // 256)])
    power = np.abs(np.fft.rfft(frames * get_window("hann", 512), axis=1)) ** 2
    expected = np.log10(10000 * power @ mel_filterbank(96, 0.0, 8000.0) + 1)
    actual = keras.ops.convert_to_numpy(LogCompressedMel()(speech[None]))[0]
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_window_features_match_the_original_tf1_graph(speech):
    backbone = musicnn_vgg()
    assert backbone.weights_source == "MTT"
    per_window = keras.Model(backbone.input, backbone.get_layer("musicnn_flatten").output)
    actual = keras.ops.convert_to_numpy(per_window(speech[None]))
    log_mel = keras.ops.convert_to_numpy(LogCompressedMel()(speech[None]))[0]
    patches = np.stack([log_mel[s : s + MUSICNN_FRAMES] for s in (0, MUSICNN_FRAMES)])
    expected, tags = tf1_vgg_features(musicnn_checkpoint_folder(), patches)
    assert actual.shape == expected.shape == (2, 256) and tags.shape == (2, 50)
    np.testing.assert_allclose(actual, expected, atol=1e-4)
    random = keras.ops.convert_to_numpy(musicnn_vgg(weights=None)(speech[None]))
    assert np.abs(random - expected.mean(0)).max() > 0.1
