import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tlkeras.errors import UnsafeCheckpointError
from tlkeras.errors import WeightsError
from tlkeras.weights.torch_checkpoint import load_torch_checkpoint

DATA = Path(__file__).parent / "data"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def expected_fixture_arrays():
    """The tensors of `make_checkpoint_fixtures.state_dict()`, in NumPy."""
    base = np.arange(10, dtype="float32")
    return {
        "conv.weight": np.arange(24, dtype="float32").reshape(2, 3, 2, 2),
        "linear.weight": np.arange(6, dtype="float32").reshape(2, 3).T,
        "view": base[4:7],
        "base": base,
        "bn.num_batches_tracked": np.array(7, dtype="int64"),
        "half": np.array([1.5, -2.0], dtype="float16"),
        "bf16": np.array([1.0, -3.5], dtype="float32"),
    }


@pytest.mark.parametrize("name, prefix", [("tiny_legacy.pth", ""), ("tiny_zip.pth", "state_dict.")])
def test_real_torch_files_round_trip(name, prefix):
    loaded = load_torch_checkpoint(DATA / name)
    expected = {prefix + k: v for k, v in expected_fixture_arrays().items()}
    assert list(loaded) == list(expected)
    for key, value in expected.items():
        assert loaded[key].dtype == value.dtype, key
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)


class _Exec:
    """Unpickling this runs `builtins.exec(code)`."""

    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


class _System:
    """Unpickling this runs `os.system(command)`."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _payloads(marker):
    return {
        "exec": _Exec(f"open({str(marker)!r}, 'w').write('pwned')"),
        "system": _System(f"touch {marker}"),
    }


def _write_legacy(path, obj):
    with open(path, "wb") as f:
        for part in (LEGACY_MAGIC, 1001, {"little_endian": True}, obj, []):
            pickle.dump(part, f, protocol=2)


def _write_zip(path, obj):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        archive.writestr("archive/version", "3\n")


@pytest.mark.parametrize("payload", ["exec", "system"])
@pytest.mark.parametrize("writer", [_write_legacy, _write_zip])
def test_code_in_the_pickle_is_refused_and_never_runs(tmp_path, writer, payload):
    marker = tmp_path / "marker"
    evil = {"weight": _payloads(marker)[payload]}
    # Prove the payload is live: a plain unpickler does run it.
    pickle.loads(pickle.dumps(evil))
    assert marker.exists()
    marker.unlink()

    path = tmp_path / "evil.pth"
    writer(path, evil)
    with pytest.raises(UnsafeCheckpointError, match=r"exec|system"):
        load_torch_checkpoint(path)
    assert not marker.exists()


def test_refusal_names_the_global(tmp_path):
    path = tmp_path / "evil.pth"
    _write_zip(path, _Exec("pass"))
    with pytest.raises(UnsafeCheckpointError, match=r"global=(__builtin__|builtins)\.exec"):
        load_torch_checkpoint(path)


@pytest.mark.parametrize("name", ["tiny_legacy.pth", "tiny_zip.pth"])
def test_truncated_file_names_its_path(tmp_path, name):
    data = (DATA / name).read_bytes()
    path = tmp_path / f"truncated_{name}"
    path.write_bytes(data[: len(data) - 40])
    with pytest.raises(WeightsError, match=str(path)) as info:
        load_torch_checkpoint(path)
    assert not isinstance(info.value, UnsafeCheckpointError)


def test_garbage_and_missing_files_raise_weights_error(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="garbage.pth"):
        load_torch_checkpoint(garbage)
    with pytest.raises(WeightsError, match="missing.pth"):
        load_torch_checkpoint(tmp_path / "missing.pth")


def test_view_past_its_storage_is_refused(tmp_path):
    # A valid file whose tensor claims more elements than its storage holds
    # must not read memory beyond the buffer.
    source = zipfile.ZipFile(DATA / "tiny_zip.pth")
    path = tmp_path / "overrun.pth"
    with zipfile.ZipFile(path, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("data/0"):
                data = data[:8]  # Shrink the first storage to 2 floats.
            out.writestr(item, data)
    with pytest.raises(WeightsError, match="overrun.pth"):
        load_torch_checkpoint(path)
