"""Structured tiny images for the pre-training tests."""

import numpy as np
import pytest


@pytest.fixture
def images():
    """48 grey 12x12 images with structure (bright squares at random places), uint8."""
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 40, size=(48, 12, 12)).astype("uint8")
    for image, (row, col) in zip(batch, rng.integers(0, 8, size=(48, 2)), strict=True):
        image[row : row + 4, col : col + 4] = 230
    return batch
