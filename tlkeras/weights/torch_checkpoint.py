"""Read PyTorch checkpoints into NumPy arrays without importing torch.

A `.pth` file is a pickle, and unpickling runs whatever callables the file
names. A checkpoint downloaded from anywhere is untrusted input, so this
reader never calls `pickle.load` on it: a restricted unpickler resolves only
the handful of globals a state dict needs (the tensor-rebuild functions,
`collections.OrderedDict` and the typed storage classes) and refuses every
other one with `UnsafeCheckpointError` before anything runs.

Both on-disk layouts are supported:

- the legacy format (`torch.save(..., _use_new_zipfile_serialization=False)`
  and every file written by torch < 1.6): a magic-number pickle, a protocol
  pickle, a sys-info pickle, the object pickle, a pickle listing storage keys,
  then each storage's raw bytes preceded by its element count;
- the zip format (torch >= 1.6): `<root>/data.pkl` plus one raw file per
  storage in `<root>/data/<key>`.
"""

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from tlkeras.errors import UnsafeCheckpointError
from tlkeras.errors import WeightsError

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001

# Storage class name -> NumPy dtype of its elements. bfloat16 has no NumPy
# dtype: it is read as uint16 and widened to float32 (exact) after reshaping.
_STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """Stands in for `torch.<X>Storage`: only its name and dtype matter."""

    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A flat buffer whose bytes may arrive after the pickle (legacy format)."""

    def __init__(self, storage_type, key, numel):
        self.storage_type = storage_type
        self.key = key
        self.numel = numel
        self.array = None


class _Tensor:
    """A strided view of a `_Storage`, materialised once its bytes are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = offset
        self.size = tuple(size)
        self.stride = tuple(stride)

    def to_numpy(self):
        array = self.storage.array
        if array is None:
            raise ValueError(f"storage {self.storage.key!r} has no data")
        if any(s < 0 for s in self.size + self.stride) or self.offset < 0:
            raise ValueError(f"negative size, stride or offset: {self!r}")
        # `as_strided` reads raw memory: prove the view stays inside the
        # buffer, or a crafted file could read past it.
        if 0 not in self.size:
            last = self.offset + sum(
                (n - 1) * s for n, s in zip(self.size, self.stride, strict=True)
            )
            if last >= array.size:
                raise ValueError(
                    f"tensor view ends at element {last} of a storage of {array.size} elements"
                )
        itemsize = array.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            array[self.offset :] if array.size else array,
            shape=self.size,
            strides=tuple(s * itemsize for s in self.stride),
            writeable=False,
        )
        result = np.array(view)
        if self.storage.storage_type.name == "BFloat16Storage":
            result = (result.astype(np.uint32) << 16).view(np.float32)
        return result

    def __repr__(self):
        return (
            f"_Tensor(storage={self.storage.key!r}, offset={self.offset}, "
            f"size={self.size}, stride={self.stride})"
        )


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, *_):
    del requires_grad, backward_hooks  # Irrelevant for inference weights.
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *_):
    del requires_grad, backward_hooks
    return data


_ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only `_ALLOWED_GLOBALS`; storages come from `storage_loader`.

    Args:
        file: binary file positioned at the start of a pickle.
        storage_loader: callable `(storage_type, key, numel) -> _Storage`.
    """

    def __init__(self, file, storage_loader=None):
        super().__init__(file)
        self._storage_loader = storage_loader

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                "The checkpoint asks to load a Python global that is not "
                "needed to rebuild tensors, so it was refused (the file may "
                f"be malicious). Received: global={module}.{name}"
            ) from None

    def persistent_load(self, pid):
        if (
            self._storage_loader is None
            or not isinstance(pid, tuple)
            or len(pid) < 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
        ):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError(f"storage views are not supported: {pid!r}")
        return self._storage_loader(storage_type, str(key), int(numel))


def load_torch_checkpoint(path):
    """Reads a PyTorch checkpoint's tensors without torch and without risk.

    Only what a state dict needs is rebuilt; any other Python object the
    pickle asks for is refused before it is created. Nested dicts (for
    example `{"state_dict": {...}, "epoch": 3}`) are flattened with `.`
    joining the keys; entries that are not tensors are dropped.

    Args:
        path: path to a `.pth`/`.pt`/`.bin` file in PyTorch's legacy
            (pickle) or zip format.

    Returns:
        A dict mapping tensor names to NumPy arrays, in the file's order.

    Raises:
        UnsafeCheckpointError: the pickle names a global beyond the
            tensor-rebuild functions and storage types.
        WeightsError: the file is missing, truncated, corrupt or not a
            PyTorch checkpoint.

    Example:

    ```python
    state = load_torch_checkpoint("mobilenet_v2-b0353104.pth")
    state["features.0.0.weight"].shape  # (32, 3, 3, 3)
    ```
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"No checkpoint file at this path. Received: path={path}")
    try:
        if zipfile.is_zipfile(path):
            obj = _load_zip(path)
        else:
            obj = _load_legacy(path)
        tensors = {}
        _collect_tensors(obj, "", tensors)
    except UnsafeCheckpointError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        struct.error,
        zipfile.BadZipFile,
        OverflowError,
        MemoryError,
    ) as e:
        raise WeightsError(
            "Could not read this PyTorch checkpoint: it is truncated, corrupt "
            f"or not a checkpoint ({type(e).__name__}: {e}). Received: path={path}"
        ) from e
    if not tensors:
        raise WeightsError(f"The checkpoint holds no tensors. Received: path={path}")
    return tensors


def _load_legacy(path):
    with open(path, "rb") as f:
        if _RestrictedUnpickler(f).load() != _LEGACY_MAGIC_NUMBER:
            raise ValueError("not a PyTorch legacy checkpoint (bad magic number)")
        if _RestrictedUnpickler(f).load() != _LEGACY_PROTOCOL_VERSION:
            raise ValueError("unsupported legacy protocol version")
        sys_info = _RestrictedUnpickler(f).load()
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", 1):
            raise ValueError("big-endian checkpoints are not supported")

        storages = {}

        def new_storage(storage_type, key, numel):
            if key not in storages:
                storages[key] = _Storage(storage_type, key, numel)
            return storages[key]

        obj = _RestrictedUnpickler(f, new_storage).load()
        keys = _RestrictedUnpickler(f).load()
        for key in keys:
            storage = storages[str(key)]
            (numel,) = struct.unpack("<q", _read_exactly(f, 8))
            nbytes = numel * storage.storage_type.dtype.itemsize
            storage.array = np.frombuffer(
                _read_exactly(f, nbytes), dtype=storage.storage_type.dtype
            )
    return obj


def _load_zip(path):
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"expected one '<root>/data.pkl' in the archive, found {pickles}")
        root = pickles[0][: -len("data.pkl")]
        storages = {}

        def read_storage(storage_type, key, numel):
            if key not in storages:
                storage = _Storage(storage_type, key, numel)
                data = archive.read(f"{root}data/{key}")
                storage.array = np.frombuffer(data, dtype=storage_type.dtype)
                storages[key] = storage
            return storages[key]

        with archive.open(pickles[0]) as f:
            return _RestrictedUnpickler(io.BytesIO(f.read()), read_storage).load()


def _read_exactly(f, nbytes):
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise EOFError(f"expected {nbytes} bytes, file ended after {len(data)}")
    return data


def _collect_tensors(obj, prefix, out):
    if isinstance(obj, _Tensor):
        out[prefix] = obj.to_numpy()
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _collect_tensors(value, f"{prefix}.{key}" if prefix else str(key), out)
