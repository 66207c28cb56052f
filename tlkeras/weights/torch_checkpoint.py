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
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from tlkeras.errors import UnsafeCheckpointError
from tlkeras.errors import WeightsError
from tlkeras.errors import short_repr

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001

# The memory a file may make the reader hold (its tensor data and names):
# the larger of a floor and a multiple of its size, so a small file cannot
# inflate (deflated zeros, declared sizes) into gigabytes, while every honest
# checkpoint fits (torch stores tensor bytes uncompressed: about 1x its size;
# bfloat16 widened to float32 is 3x).
MAX_BYTES_ENV = "TLKERAS_MAX_CHECKPOINT_BYTES"
_MIN_BYTES_LIMIT = 256 << 20
_BYTES_PER_FILE_BYTE = 8
# Honest checkpoints nest dicts a few levels (`{"state_dict": {...}}`).
_MAX_DEPTH = 64
_MAX_DIMS = 64

# Storage class name -> NumPy dtype of its elements. bfloat16 has no NumPy
# dtype: it is read as uint16 and widened to float32 (exact) after reading.
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

_short = short_repr


class _Global:
    """A fresh stand-in for one allowed global, made anew for every reference.

    The pickle's `BUILD` opcode sets state on the object it follows; on a
    shared object that state would outlive the file and change how later
    files read. Each file gets its own instances, and they refuse `BUILD`.
    """

    __slots__ = ("name", "function")

    def __init__(self, name, function=None):
        self.name = name
        self.function = function

    def __call__(self, *args):
        if self.function is None:
            raise TypeError(f"torch.{self.name} cannot be called here")
        return self.function(*args)

    def __setstate__(self, state):
        raise UnsafeCheckpointError(
            "The checkpoint tries to set state on an allowed global (pickle BUILD), "
            f"which no honest checkpoint does. Received: global={self.name}, "
            f"state={_short(state)}"
        )

    @property
    def dtype(self):
        return _STORAGE_DTYPES[self.name]


class _Storage:
    """A flat buffer declared by the pickle; its bytes are read once the needed length is known."""

    def __init__(self, storage_type, key, numel):
        self.storage_type = storage_type
        self.key = key
        self.numel = numel
        self.needed = 0  # elements the tensors reach
        self.array = None


class _Tensor:
    """A strided view of a `_Storage`, checked against the storage's declared length."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _Storage):
            raise ValueError(f"a tensor's storage must be a storage. Received: {_short(storage)}")
        size, stride = _ints(size, "size"), _ints(stride, "stride")
        (offset,) = _ints((offset,), "offset")
        if len(size) != len(stride) or len(size) > _MAX_DIMS:
            raise ValueError(f"size {_short(size)} and stride {_short(stride)} do not match")
        elements = int(np.prod(size, dtype=object))
        if elements:
            end = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1
            # A view may not reach past its storage (a read past the buffer)
            # nor hold more elements than it (stride 0 turning one float
            # into gigabytes once a caller copies it).
            if end > storage.numel or elements > storage.numel:
                raise _Refused(
                    f"The checkpoint declares a tensor (offset {offset}, size {size}, stride "
                    f"{stride}) that does not fit its storage {storage.key!r} of {storage.numel} "
                    "elements (it would read past it, or repeat it with a zero stride): refused."
                )
            storage.needed = max(storage.needed, end)
        self.storage = storage
        self.offset, self.size, self.stride = offset, size, stride
        self.array = None

    def to_numpy(self):
        if self.array is None:
            base = self.storage.array
            if not self.size or 0 not in self.size:
                base = base[self.offset :]
            # Views share their storage's memory, as in torch: 400 names on
            # one storage cost one storage. Overlapping views stay read-only.
            self.array = np.lib.stride_tricks.as_strided(
                base,
                shape=self.size,
                strides=tuple(s * base.itemsize for s in self.stride),
                writeable=all(s or n < 2 for n, s in zip(self.size, self.stride, strict=True)),
            )
        return self.array


def _ints(values, what):
    if not isinstance(values, tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
    ):
        raise ValueError(f"tensor {what} must be non-negative ints. Received: {_short(values)}")
    return values


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_):
    # requires_grad, backward hooks and metadata do not matter for weights.
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_):
    return data


_ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): None for name in _STORAGE_DTYPES},
}


# The pure-Python unpickler, not the C one: the C unpickler grows its memo
# table to the largest index a file names and zero-fills it, so a 9-byte
# pickle (`LONG_BINPUT 2**27`) costs 2 GiB and 13 s. Here the memo is a
# dict, and the extra parse time is small next to reading the tensors.
class _RestrictedUnpickler(pickle._Unpickler):
    """Resolves only `_ALLOWED_GLOBALS`, each as a fresh object; storages come from `storages`.

    Args:
        file: binary file positioned at the start of a pickle.
        storages: dict key -> `_Storage` filled with the storages the pickle
            declares, or `None` where none may appear.
    """

    def __init__(self, file, storages=None):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafeCheckpointError(
                "The checkpoint asks to load a Python global that is not "
                "needed to rebuild tensors, so it was refused (the file may "
                f"be malicious). Received: global={module[:100]}.{name[:100]}"
            )
        return _Global(name, _ALLOWED_GLOBALS[(module, name)])

    def persistent_load(self, pid):
        if (
            self._storages is None
            or not isinstance(pid, tuple)
            or len(pid) < 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _Global)
            or pid[1].name not in _STORAGE_DTYPES
            or not isinstance(pid[2], (str, int))
            or not isinstance(pid[4], int)
            or pid[4] < 0
        ):
            raise pickle.UnpicklingError(f"unsupported persistent id {_short(pid)}")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError(f"storage views are not supported: {_short(pid)}")
        key = str(key)
        storage = self._storages.setdefault(key, _Storage(storage_type, key, numel))
        if storage.numel != numel or storage.storage_type.name != storage_type.name:
            raise pickle.UnpicklingError(f"storage {key!r} is declared twice, differently")
        return storage


def load_torch_checkpoint(path, max_bytes=None):
    """Reads a PyTorch checkpoint's tensors without torch and without risk.

    Only what a state dict needs is rebuilt; any other Python object the
    pickle asks for is refused before it is created, and nothing a file
    holds can change how the next file is read. Nested dicts (for example
    `{"state_dict": {...}, "epoch": 3}`) are flattened with `.` joining the
    keys; entries that are not tensors are dropped, and a dict reached a
    second time (shared or containing itself) is listed once, under the
    first name it was found by.

    Work and memory are bounded by the file: each object is visited once,
    dicts nest at most 64 levels, every tensor must fit inside its storage,
    and only the storage bytes the tensors reach are read. Tensors that share
    a storage in the file share memory in the result, as in torch.

    Args:
        path: path to a `.pth`/`.pt`/`.bin` file in PyTorch's legacy
            (pickle) or zip format.
        max_bytes: the most bytes of tensor data (and names) the file may
            make the reader hold. Defaults to `None`: the environment
            variable `TLKERAS_MAX_CHECKPOINT_BYTES` if set, else the larger
            of 256 MiB and 8 times the file's size (room for every
            uncompressed checkpoint; a deflated one may need more).

    Returns:
        A dict mapping tensor names to NumPy arrays, in the file's order.

    Raises:
        UnsafeCheckpointError: the pickle names a global beyond the
            tensor-rebuild functions and storage types, or sets state on one.
        WeightsError: the file is missing, truncated, corrupt, not a
            PyTorch checkpoint, or needs more than `max_bytes`.

    Example:

    ```python
    state = load_torch_checkpoint("mobilenet_v2-b0353104.pth")
    state["features.0.0.weight"].shape  # (32, 3, 3, 3)
    ```
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"No checkpoint file at this path. Received: path={path}")
    limit = _byte_limit(path, max_bytes)
    try:
        if zipfile.is_zipfile(path):
            tensors = _load_zip(path, limit)
        else:
            tensors = _load_legacy(path, limit)
    except UnsafeCheckpointError:
        raise
    except _Refused as e:
        raise WeightsError(f"{e} Received: path={path}") from None
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
        RecursionError,
        NotImplementedError,
        OSError,  # zipfile seeks to a negative offset when a header is shifted
    ) as e:
        raise WeightsError(
            "Could not read this PyTorch checkpoint: it is truncated, corrupt "
            f"or not a checkpoint ({type(e).__name__}: {_short(str(e))}). Received: path={path}"
        ) from e
    if not tensors:
        raise WeightsError(f"The checkpoint holds no tensors. Received: path={path}")
    return tensors


class _Refused(Exception):
    """A well-formed file that asks for more than the reader gives: memory, a view, nesting."""


def _byte_limit(path, max_bytes):
    if max_bytes is None:
        text = os.environ.get(MAX_BYTES_ENV)
        if text:
            try:
                return int(text)
            except ValueError:
                raise WeightsError(
                    f"{MAX_BYTES_ENV} must be a number of bytes. Received: {MAX_BYTES_ENV}={text!r}"
                ) from None
        return max(_MIN_BYTES_LIMIT, _BYTES_PER_FILE_BYTE * path.stat().st_size)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise WeightsError(f"max_bytes must be a positive int. Received: max_bytes={max_bytes!r}")
    return max_bytes


class _Budget:
    """Counts the bytes a file makes the reader hold; raises past the limit."""

    def __init__(self, limit, path):
        self.limit, self.used, self.path = limit, 0, path

    def spend(self, nbytes, what):
        self.used += nbytes
        if self.used > self.limit:
            raise _Refused(
                f"Reading {what} would bring this checkpoint to {_mib(self.used)} in memory, over "
                f"the limit of {_mib(self.limit)} (the default is the larger of 256 MiB and 8x "
                f"the file size, {_mib(self.path.stat().st_size)} here). If you trust the file, "
                "raise the limit: load_torch_checkpoint(path, max_bytes=...) or the environment "
                f"variable {MAX_BYTES_ENV}."
            )


def _mib(nbytes):
    if nbytes < 1 << 20:
        return f"{nbytes / 1024:.1f} KiB"
    return f"{nbytes / (1 << 20):.1f} MiB"


def _load_legacy(path, limit):
    budget = _Budget(limit, path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        if _RestrictedUnpickler(f).load() != _LEGACY_MAGIC_NUMBER:
            raise ValueError("not a PyTorch legacy checkpoint (bad magic number)")
        if _RestrictedUnpickler(f).load() != _LEGACY_PROTOCOL_VERSION:
            raise ValueError("unsupported legacy protocol version")
        sys_info = _RestrictedUnpickler(f).load()
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", 1):
            raise ValueError("big-endian checkpoints are not supported")
        storages = {}
        obj = _RestrictedUnpickler(f, storages).load()
        keys = _RestrictedUnpickler(f).load()
        tensors = _collect_tensors(obj, budget)
        _spend_on_storages(storages, budget)
        if not isinstance(keys, list):
            raise ValueError("the storage key list is not a list")
        for key in keys:
            storage = storages[str(key)]
            (numel,) = struct.unpack("<q", _read_exactly(f, 8))
            if numel != storage.numel:
                raise ValueError(
                    f"storage {storage.key!r} holds {numel} elements, declared {storage.numel}"
                )
            itemsize = storage.storage_type.dtype.itemsize
            start = f.tell()
            if start + numel * itemsize > size:
                raise EOFError(f"storage {storage.key!r} runs past the end of the file")
            storage.array = _read_array(f, storage)
            f.seek(start + numel * itemsize)
    return _materialise(tensors)


def _load_zip(path, limit):
    budget = _Budget(limit, path)
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(
                f"expected one '<root>/data.pkl' in the archive, found {_short(pickles)}"
            )
        root = pickles[0][: -len("data.pkl")]
        info = archive.getinfo(pickles[0])
        budget.spend(info.file_size, "data.pkl")
        with archive.open(info) as f:
            data = f.read(info.file_size + 1)
        storages = {}
        obj = _RestrictedUnpickler(io.BytesIO(data), storages).load()
        del data
        tensors = _collect_tensors(obj, budget)
        _spend_on_storages(storages, budget)
        for storage in storages.values():
            if not storage.needed:
                continue
            member = archive.getinfo(f"{root}data/{storage.key}")
            nbytes = storage.numel * storage.storage_type.dtype.itemsize
            if member.file_size != nbytes:
                raise ValueError(
                    f"storage {storage.key!r} holds {member.file_size} bytes, declared {nbytes}"
                )
            with archive.open(member) as f:
                storage.array = _read_array(f, storage)
    return _materialise(tensors)


def _spend_on_storages(storages, budget):
    # Checked before any storage byte is read or inflated.
    for storage in storages.values():
        nbytes = storage.needed * storage.storage_type.dtype.itemsize
        if storage.storage_type.name == "BFloat16Storage":
            nbytes *= 3  # the uint16 buffer, then its float32 widening
        budget.spend(nbytes, f"storage {storage.key!r} ({storage.needed} elements)")


def _read_array(f, storage):
    """Reads the `needed` leading elements of `storage` into a writable array."""
    dtype = storage.storage_type.dtype
    buffer = bytearray(storage.needed * dtype.itemsize)
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        count = f.readinto(view[filled:])
        if not count:
            raise EOFError(f"storage {storage.key!r} ends after {filled} of {len(buffer)} bytes")
        filled += count
    array = np.frombuffer(buffer, dtype=dtype)
    if storage.storage_type.name == "BFloat16Storage":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _read_exactly(f, nbytes):
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise EOFError(f"expected {nbytes} bytes, file ended after {len(data)}")
    return data


def _collect_tensors(obj, budget):
    """Flattens nested dicts into `{name: _Tensor}`, visiting each dict once, without recursion."""
    if isinstance(obj, _Tensor):
        return {"": obj}
    tensors = {}
    if not isinstance(obj, dict):
        return tensors
    seen = {id(obj)}
    stack = [("", iter(obj.items()))]
    while stack:
        prefix, items = stack[-1]
        entry = next(items, None)
        if entry is None:
            stack.pop()
            continue
        key, value = entry
        if not isinstance(value, (_Tensor, dict)) or not isinstance(key, (str, int)):
            continue
        name = f"{prefix}.{key}" if prefix else str(key)
        budget.spend(len(name), "the tensor names")
        if isinstance(value, _Tensor):
            tensors.setdefault(name, value)
        elif id(value) not in seen:
            seen.add(id(value))
            if len(stack) >= _MAX_DEPTH:
                raise _Refused(
                    f"The checkpoint nests dicts deeper than {_MAX_DEPTH} levels (honest "
                    "checkpoints nest a few): refused."
                )
            stack.append((name, iter(value.items())))
    return tensors


def _materialise(tensors):
    for name, tensor in tensors.items():
        if tensor.storage.array is None:
            raise ValueError(f"the storage of tensor {_short(name)} has no data in the file")
    return {name: tensor.to_numpy() for name, tensor in tensors.items()}
