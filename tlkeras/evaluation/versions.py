"""Package versions recorded with every report, so a result can be reproduced."""

import importlib.metadata
import platform

PACKAGES = (
    "tlkeras",
    "keras",
    "tensorflow",
    "keras-hub",
    "numpy",
    "pandas",
    "scikit-learn",
    "matplotlib",
)


def package_versions(packages=PACKAGES):
    """Returns `{"python": ..., package: version or None}` for `packages`."""
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions
