"""Tiny models and data for the evaluation tests: a 16x16 CNN on sklearn digits."""

import numpy as np
import pytest
from eval_helpers import TINY
from eval_helpers import tiny_eval_cnn

import tlkeras


@pytest.fixture(scope="session", autouse=True)
def tiny_backbone():
    tlkeras.register_backbone(TINY, modality="image")(tiny_eval_cnn)
    yield TINY
    tlkeras.unregister_backbone(TINY)


@pytest.fixture(scope="session")
def digits():
    """sklearn's bundled digits (offline): 8x8 upscaled to 16x16 RGB, 3 classes, int labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = data.target < 3
    images = data.images[keep].repeat(2, axis=1).repeat(2, axis=2)
    x = np.repeat(images[..., None], 3, axis=-1).astype("float32")
    y = data.target[keep].astype("int64")
    return x[:240], y[:240], x[240:360], y[240:360]
