"""Offline-aware dataset loaders used by the demo, benchmarks and examples."""

from tlkeras.data.fashion_mnist import CLASS_NAMES
from tlkeras.data.fashion_mnist import as_rgb_dataset
from tlkeras.data.fashion_mnist import load_fashion_mnist
from tlkeras.data.fashion_mnist import subsample

__all__ = ["CLASS_NAMES", "as_rgb_dataset", "load_fashion_mnist", "subsample"]
