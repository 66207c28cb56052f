"""Spoken words synthesised on the machine and the human recordings."""

import shutil

import numpy as np
import pytest
from tlkeras_audio import datasets
from tlkeras_audio.datasets import human_digits
from tlkeras_audio.datasets import spoken_words

from tlkeras.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TLKERAS_CACHE_DIR", str(tmp_path))


def _need(program):
    if shutil.which(program) is None:
        pytest.skip(f"apt-get install {program}")


def test_espeak_clips_are_labelled_cached_and_deterministic(tmp_path):
    _need("espeak-ng")
    kwargs = dict(
        words=("yes", "no"), voices=("en-us+m1", "en-gb+f2"), speeds=(160,), pitches=(50,)
    )
    x, y, info = spoken_words(**kwargs)
    assert x.shape == (4, 16000) and x.dtype == np.float32
    assert list(y) == [0, 0, 1, 1] and list(info["word"]) == ["yes", "yes", "no", "no"]
    assert 0.49 < np.abs(x).max() <= 0.5 + 1e-6
    cached = sorted((tmp_path / "audio" / "spoken_words" / "espeak-ng").glob("*.wav"))
    assert len(cached) == 4
    again, _, _ = spoken_words(**kwargs)
    np.testing.assert_array_equal(x, again)
    # Different voices give different clips of the same word.
    assert np.abs(x[0] - x[1]).max() > 0.1


def test_seed_picks_grid_points_reproducibly():
    _need("espeak-ng")
    kwargs = dict(words=("yes",), voices=("en-us+m1", "en-us+f2"), speeds=(150, 180), pitches=(50,))
    first = spoken_words(clips_per_word=2, seed=1, **kwargs)[2]["voice"]
    assert list(first) == list(spoken_words(clips_per_word=2, seed=1, **kwargs)[2]["voice"])
    draws = {tuple(spoken_words(clips_per_word=1, seed=s, **kwargs)[2]["speed"]) for s in range(6)}
    assert len(draws) > 1


def test_flite_clips():
    _need("flite")
    x, y, info = spoken_words(
        words=("one",), engine="flite", voices=("slt", "kal"), speeds=(1.0,), pitches=(None,)
    )
    assert x.shape == (2, 16000) and list(info["voice"]) == ["slt", "kal"]


def test_a_missing_synthesiser_names_the_apt_get_line(monkeypatch):
    monkeypatch.setattr(datasets.shutil, "which", lambda program: None)
    with pytest.raises(DataError, match="apt-get install flite"):
        spoken_words(engine="flite")


def test_unknown_engine_names_the_value():
    with pytest.raises(DataError, match="engine='festival'"):
        spoken_words(engine="festival")


def test_human_digits_are_ten_real_clips_at_16_khz():
    if not datasets.ASTERISK_EN.is_dir():
        pytest.skip("apt-get install asterisk-core-sounds-en-wav")
    x, y = human_digits()
    assert x.shape == (10, 16000) and list(y) == list(range(10))
    # Real speech, not silence: every clip has energy in the speech band.
    assert np.all(np.abs(x).max(axis=1) > 0.4)


def test_missing_recordings_name_the_apt_get_line(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "ASTERISK_EN", tmp_path / "absent")
    with pytest.raises(DataError, match="apt-get install asterisk-core-sounds-en-wav"):
        human_digits()
