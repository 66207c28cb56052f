"""The on-disk cache that holds fetched wheels and converted weights.

Every entry is published with an atomic rename, so a reader sees either the
complete previous entry or the complete new one, never a half-written file,
even when a process is killed mid-write. A per-entry lock file keeps two
processes that fill the same entry from doing the work twice.

`verified_entry` adds a manifest beside an entry: the SHA-256 of what it was
made from (a pinned wheel, a checkpoint) and the SHA-256, size and
modification time of every file in it. Each use compares the source digest,
lists and `stat`s the files (re-hashing only a file whose size or time
moved) and rebuilds the entry when anything differs, so a cache folder is
never trusted on its name alone.
"""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from tlkeras.errors import WeightsError

try:
    import fcntl
except ImportError:  # Windows: atomic renames alone still prevent corruption.
    fcntl = None

CACHE_DIR_ENV = "TLKERAS_CACHE_DIR"


def cache_dir():
    """Returns the root folder of the tlkeras cache, creating it if needed.

    The folder is `$TLKERAS_CACHE_DIR` when that variable is set, else
    `~/.cache/tlkeras`.

    Returns:
        A `pathlib.Path` to an existing directory.
    """
    root = os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "tlkeras"
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_file(path):
    """Returns the hex SHA-256 digest of a file, read in 1 MiB chunks.

    Args:
        path: path to a file.

    Returns:
        The 64-character lowercase hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path that replaces `path` only on success.

    The temporary name lies in the same folder (so `os.replace` is a rename,
    atomic on POSIX and Windows) and keeps the final suffix, because some
    writers check it (`model.save_weights` wants `.weights.h5`). On success
    the file is fsynced, then renamed over `path`; on any exception it is
    deleted and `path` keeps its previous content.

    Args:
        path: the final file path.

    Example:

    ```python
    with atomic_path(cache_dir() / "model.weights.h5") as tmp:
        model.save_weights(tmp)
    ```
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # Flush the data before the rename so a crash cannot publish a name
        # that points at blocks never written.
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Opens a file for writing that appears at `path` only when complete.

    Args:
        path: the final file path.
        mode: `"wb"` or `"w"`. Defaults to `"wb"`.

    Example:

    ```python
    with atomic_write(cache_dir() / "index.json", "w") as f:
        json.dump(index, f)
    ```
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"`mode` must be 'wb' or 'w'. Received: mode={mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary folder that is renamed to `path` on success.

    Used for cache entries made of several files (an unpacked wheel, a
    keras-hub preset). If `path` already exists when the block ends (another
    process published it first), the new copy is discarded and the existing
    one kept. On an exception the temporary folder is removed.

    Args:
        path: the final folder path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        for file in tmp.rglob("*"):
            if file.is_file():
                with open(file, "rb") as f:
                    os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def cache_lock(path):
    """Holds an exclusive inter-process lock for the cache entry `path`.

    Callers check for the entry again after acquiring the lock: another
    process may have filled it while this one waited.

    Args:
        path: the cache entry (file or folder) to guard. The lock file is
            `<path>.lock` beside it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "a+b") as f:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _manifest_path(entry):
    return entry.parent / f"{entry.name}.manifest.json"


def _entry_files(entry):
    """`{relative path: file}` of a file entry or of every file in a folder entry."""
    if entry.is_file():
        return {entry.name: entry}
    return {f.relative_to(entry).as_posix(): f for f in sorted(entry.rglob("*")) if f.is_file()}


def _record(file):
    stat = file.stat()
    return {"sha256": sha256_file(file), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def entry_problem(entry, source_sha256=None):
    """Why the cache entry `entry` cannot be trusted, or `None` when its manifest matches.

    Cheap on the common path: the recorded source digest is compared, every
    file is listed and `stat`ed, and a file is re-hashed only when its size
    or modification time differs from the manifest's.

    Args:
        entry: a file or folder published by `verified_entry`.
        source_sha256: the SHA-256 the entry must have been made from, or
            `None` to accept any recorded source.

    Returns:
        `None`, or a sentence naming the missing, changed or unexpected file.
    """
    entry = Path(entry)
    if not entry.exists():
        return f"{entry} is missing"
    try:
        manifest = json.loads(_manifest_path(entry).read_text())
        recorded, files = manifest["source_sha256"], manifest["files"]
        files = {name: (r["sha256"], r["size"], r["mtime_ns"]) for name, r in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{entry} has no readable manifest ({_manifest_path(entry).name})"
    if source_sha256 is not None and recorded != source_sha256.lower():
        return f"{entry} was made from a file with SHA-256 {recorded}, not {source_sha256}"
    actual = _entry_files(entry)
    for name in sorted(set(files) | set(actual)):
        file = actual.get(name)
        if file is None or name not in files:
            state = "missing" if file is None else "unexpected"
            return f"{entry / name if entry.is_dir() else entry} is {state} since it was cached"
        digest, size, mtime_ns = files[name]
        stat = file.stat()
        if stat.st_size != size or (stat.st_mtime_ns != mtime_ns and sha256_file(file) != digest):
            return f"{file} is changed since it was cached"
    return None


def verified_entry(entry, build, source_sha256=None):
    """Returns the cache entry `entry`, building it first when absent or not matching its manifest.

    Args:
        entry: the cache file or folder.
        build: callable `build(entry)` that publishes the entry atomically
            (with `atomic_path` or `atomic_directory`); it may return the
            SHA-256 of what it was made from, recorded when `source_sha256`
            is `None`.
        source_sha256: the SHA-256 of what the entry is made from; recorded
            in the manifest and required to match on use. Defaults to `None`
            (recorded as unknown, not compared).

    Returns:
        `entry` as a `pathlib.Path`.
    """
    entry = Path(entry)
    if entry_problem(entry, source_sha256) is None:
        return entry
    with cache_lock(entry):
        problem = entry_problem(entry, source_sha256)
        if problem is None:  # Rebuilt by another process while we waited.
            return entry
        stale = entry.exists()
        if stale:
            warnings.warn(f"Rebuilding a tlkeras cache entry: {problem}.", stacklevel=3)
            _discard(entry)
        try:
            made_from = build(entry)
        except Exception as error:
            if not stale:
                raise
            raise WeightsError(
                f"The cache entry {entry} failed verification ({problem}) and could not be "
                f"rebuilt: {error}. Received: entry={entry}"
            ) from error
        with atomic_write(_manifest_path(entry), "w") as f:
            recorded = source_sha256 or made_from
            files = {name: _record(file) for name, file in _entry_files(entry).items()}
            json.dump({"source_sha256": recorded, "files": files}, f, indent=1)
    return entry


def _discard(entry):
    # Renamed first, so no reader ever sees a half-deleted entry.
    aside = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".stale", dir=entry.parent))
    os.replace(entry, aside / entry.name)
    shutil.rmtree(aside, ignore_errors=True)
    _manifest_path(entry).unlink(missing_ok=True)
