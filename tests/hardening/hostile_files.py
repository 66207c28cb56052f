"""Builders of hostile files, shared by the regression tests, the fuzz suite and the measurements.

Checkpoints are pickled with stand-ins for torch's globals (a fake `torch`
module lives only while a file is written), so no torch is needed and every
opcode is under the test's control.
"""

import collections
import contextlib
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_NAMES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("float16"): "HalfStorage",
    np.dtype("int64"): "LongStorage",
}


@contextlib.contextmanager
def _fake_torch():
    """A `torch` / `torch._utils` pair whose names pickle as torch's own globals."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for name in set(_STORAGE_NAMES.values()):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module


class Storage:
    """A storage to write: its key, element dtype and raw data (or a declared count)."""

    def __init__(self, key, array, numel=None, zeros=0):
        self.key = str(key)
        self.array = np.ascontiguousarray(array)
        self.numel = self.array.size if numel is None else numel
        # A storage of `zeros` zero elements, streamed: the bomb is never held in memory.
        self.zeros = zeros

    def write_to(self, file):
        if not self.zeros:
            file.write(self.array.tobytes())
            return
        chunk = bytes(1 << 20)
        left = self.zeros * self.array.itemsize
        while left:
            file.write(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))


class Tensor:
    """A view of a `Storage` as torch pickles it."""

    def __init__(self, storage, offset=0, size=None, stride=None):
        self.storage = storage
        self.offset = offset
        self.size = tuple(storage.array.shape if size is None else size)
        if stride is None:
            stride = tuple(int(np.prod(self.size[i + 1 :])) for i in range(len(self.size)))
        self.stride = tuple(stride)

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        args = (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())
        return rebuild, args


class _Pickler(pickle.Pickler):
    def __init__(self, file, torch):
        super().__init__(file, protocol=2)
        self.torch = torch
        self.storages = {}

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        self.storages[obj.key] = obj
        kind = getattr(self.torch, _STORAGE_NAMES[obj.array.dtype])
        return ("storage", kind, obj.key, "cpu", obj.numel)


def checkpoint_pickle(obj):
    """`(pickle bytes, storages by key)` of `obj` (dicts of `Tensor`s)."""
    import io

    buffer = io.BytesIO()
    with _fake_torch() as torch:
        pickler = _Pickler(buffer, torch)
        pickler.dump(obj)
    return buffer.getvalue(), pickler.storages


def write_zip(path, obj, compress=False, data_pkl=None):
    """Writes `obj` as a torch zip checkpoint (`data_pkl` replaces its pickle when given)."""
    data, storages = checkpoint_pickle(obj)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        archive.writestr("archive/data.pkl", data if data_pkl is None else data_pkl)
        for key, storage in storages.items():
            with archive.open(f"archive/data/{key}", "w") as member:
                storage.write_to(member)
        archive.writestr("archive/version", "3\n")
    return path


def write_legacy(path, obj):
    """Writes `obj` in torch's legacy (pre-1.6) format."""
    data, storages = checkpoint_pickle(obj)
    with open(path, "wb") as f:
        for part in (LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(part, f, protocol=2)
        f.write(data)
        pickle.dump(list(storages), f, protocol=2)
        for storage in storages.values():
            f.write(struct.pack("<q", storage.zeros or storage.array.size))
            storage.write_to(f)
    return path


def genuine_state():
    """A small honest state dict: `(objects to write, expected arrays)`."""
    base = Storage("0", np.arange(10, dtype="float32"))
    weight = Storage("1", np.arange(6, dtype="float32"))
    half = Storage("2", np.array([1.5, -2.0], dtype="float16"))
    state = collections.OrderedDict(
        [
            ("base", Tensor(base)),
            ("view", Tensor(base, offset=4, size=(3,), stride=(1,))),
            ("linear.weight", Tensor(weight, size=(3, 2), stride=(1, 3))),
            ("half", Tensor(half)),
        ]
    )
    expected = {
        "base": np.arange(10, dtype="float32"),
        "view": np.arange(4, 7, dtype="float32"),
        "linear.weight": np.arange(6, dtype="float32").reshape(2, 3).T,
        "half": np.array([1.5, -2.0], dtype="float16"),
    }
    return state, expected


# === Attacks on the checkpoint reader (issue 22, items 1 and 2) ===


def poisoning_pickle():
    """BUILD on the allowed global `torch.FloatStorage`: its dtype becomes float16."""
    state = pickle.dumps({"dtype": "<f2", "name": "HalfStorage"}, protocol=2)[2:-1]
    return b"\x80\x02ctorch\nFloatStorage\n" + state + b"b."


def shared_subdict_dag(depth=24):
    """Dicts whose two keys point at the same child, `depth` levels: 2**depth paths."""
    leaf = {"w": Tensor(Storage("0", np.zeros(1, "float32")))}
    node = leaf
    for _ in range(depth):
        node = {"a": node, "b": node}
    return node


def self_containing_dict():
    """A dict that holds itself (and one tensor)."""
    loop = {"w": Tensor(Storage("0", np.zeros(1, "float32")))}
    loop["self"] = loop
    return loop


def stride_zero(elements=200_000_000):
    """One float whose tensor claims `elements` entries at stride 0 (800 MB as float32)."""
    return {"w": Tensor(Storage("0", np.zeros(1, "float32")), size=(elements,), stride=(0,))}


def aliased_names(names=400, elements=1_000_000):
    """`names` tensors on one storage of `elements` floats, each shifted by one."""
    storage = Storage("0", np.zeros(elements, "float32"))
    return {
        f"w{i}": Tensor(storage, offset=i, size=(elements - names,), stride=(1,))
        for i in range(names)
    }


def deflate_bomb(elements=1 << 28):
    """One deflated storage of `elements` zero floats (1 GiB at the default)."""
    storage = Storage("0", np.zeros(1, "float32"), numel=elements, zeros=elements)
    return {"w": Tensor(storage, size=(elements,), stride=(1,))}


def memo_index_pickle(index=1 << 27):
    """9 bytes: store None at memo slot `index` (the C unpickler zero-fills a table that long)."""
    return b"\x80\x02N" + b"r" + index.to_bytes(4, "little") + b"."
