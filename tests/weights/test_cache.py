import threading
import time

import pytest

from tlkeras.weights import cache


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))


def test_cache_dir_follows_the_environment(tmp_path):
    assert cache.cache_dir() == tmp_path / "cache"
    assert cache.cache_dir().is_dir()


def test_interrupted_write_keeps_the_previous_file(tmp_path):
    target = cache.cache_dir() / "entry.bin"
    with cache.atomic_write(target) as f:
        f.write(b"good")
    with pytest.raises(RuntimeError, match="interrupted"):
        with cache.atomic_write(target) as f:
            f.write(b"half of the new con")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in target.parent.iterdir()) == ["entry.bin"]


def test_interrupted_first_write_leaves_no_file():
    target = cache.cache_dir() / "model.weights.h5"
    with pytest.raises(RuntimeError):
        with cache.atomic_path(target) as tmp:
            assert tmp.name.endswith(".weights.h5")  # Writers check suffixes.
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert list(target.parent.iterdir()) == []


def test_interrupted_directory_leaves_no_folder():
    target = cache.cache_dir() / "preset"
    with pytest.raises(RuntimeError):
        with cache.atomic_directory(target) as tmp:
            (tmp / "config.json").write_text("{}")
            raise RuntimeError("killed")
    assert list(target.parent.iterdir()) == []
    with cache.atomic_directory(target) as tmp:
        (tmp / "config.json").write_text("{}")
    assert (target / "config.json").read_text() == "{}"


def test_atomic_write_rejects_other_modes():
    with pytest.raises(ValueError, match="mode='a'"):
        with cache.atomic_write(cache.cache_dir() / "x", mode="a"):
            pass


def test_lock_serialises_two_fillers():
    target = cache.cache_dir() / "entry"
    events = []

    def fill(name):
        with cache.cache_lock(target):
            events.append(f"{name} in")
            time.sleep(0.2)
            events.append(f"{name} out")

    threads = [threading.Thread(target=fill, args=(n,)) for n in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Never interleaved: each holder leaves before the other enters.
    assert events[0][0] == events[1][0] and events[2][0] == events[3][0]


def test_sha256_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert cache.sha256_file(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
