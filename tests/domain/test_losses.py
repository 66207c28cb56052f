import numpy as np
import pytest
from keras import ops

from tlkeras.domain import coral_loss
from tlkeras.domain import mmd_loss

SOURCE = np.array([[0.0, 0.0], [1.0, 0.0]], "float32")
TARGET = np.array([[0.0, 1.0], [2.0, 2.0], [1.0, 1.0]], "float32")


def _numpy_mmd(s, t, sigmas):
    def kernel(a, b):
        d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.mean([np.exp(-d / (2 * sigma**2)) for sigma in sigmas], axis=0)

    return kernel(s, s).mean() + kernel(t, t).mean() - 2 * kernel(s, t).mean()


def test_mmd_matches_hand_computed_single_kernel():
    # sigma = 1: k = exp(-d/2). Source pair distance 1; target distances 5, 1, 2;
    # cross distances: (0,0)->1,8,2 and (1,0)->2,5,1.
    e = np.exp
    k_ss = (2 * 1 + 2 * e(-0.5)) / 4
    k_tt = (3 + 2 * (e(-2.5) + e(-0.5) + e(-1.0))) / 9
    k_st = (e(-0.5) + e(-4.0) + e(-1.0) + e(-1.0) + e(-2.5) + e(-0.5)) / 6
    expected = k_ss + k_tt - 2 * k_st

    value = float(ops.convert_to_numpy(mmd_loss(SOURCE, TARGET, bandwidths=[1.0])))

    assert value == pytest.approx(expected, rel=1e-5)


def test_mmd_multi_kernel_matches_numpy_and_vanishes_on_equal_batches():
    sigmas = [0.5, 1.0, 4.0]
    value = float(ops.convert_to_numpy(mmd_loss(SOURCE, TARGET, bandwidths=sigmas)))
    same = float(ops.convert_to_numpy(mmd_loss(TARGET, TARGET)))

    assert value == pytest.approx(_numpy_mmd(SOURCE, TARGET, sigmas), rel=1e-5)
    assert abs(same) < 1e-6


def test_mmd_default_bandwidths_follow_the_mean_distance():
    # Mean off-diagonal squared distance of the joint batch is the centre width.
    joint = np.concatenate([SOURCE, TARGET])
    d = ((joint[:, None] - joint[None]) ** 2).sum(-1)
    centre = d.sum() / (len(joint) ** 2 - len(joint))
    sigmas = [np.sqrt(centre * 2.0**k) for k in range(-2, 3)]

    value = float(ops.convert_to_numpy(mmd_loss(SOURCE, TARGET)))

    assert value == pytest.approx(_numpy_mmd(SOURCE, TARGET, sigmas), rel=1e-5)


def test_coral_matches_hand_computed_covariances():
    # Source covariance [[0.5, 0], [0, 0]]; target: mean (1, 4/3),
    # cov [[1, 0.5], [0.5, 1/3]] (n - 1 = 2). Difference [[-0.5, -0.5], [-0.5, -1/3]].
    expected = (0.25 + 0.25 + 0.25 + 1 / 9) / (4 * 2**2)

    value = float(ops.convert_to_numpy(coral_loss(SOURCE, TARGET)))

    assert value == pytest.approx(expected, rel=1e-5)


def test_losses_reject_mismatched_widths_naming_shapes():
    with pytest.raises(ValueError, match=r"Received: source.shape=\(2, 2\), target.shape=\(3, 1\)"):
        coral_loss(SOURCE, TARGET[:, :1])
    with pytest.raises(ValueError, match="Received: bandwidths="):
        mmd_loss(SOURCE, TARGET, bandwidths=[0.0])
