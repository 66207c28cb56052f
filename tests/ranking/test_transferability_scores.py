"""Transferability scores: values worked out by hand on tiny problems, and their known properties."""

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from tlkeras.analysis import transferability_scores as ts
from tlkeras.errors import ConfigurationError

TINY_F = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.5]])
TINY_Y = np.array([0, 1, 1, 0])


def blobs(separation, n=120, d=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(size=(classes, d)) * separation
    return centres[y] + rng.normal(size=(n, d)), y


# === LogME ===
def test_logme_tiny_problem_matches_the_papers_algorithm():
    # -0.8184768: Algorithm 1 of You et al. (MacKay updates on the eigenvectors
    # of F^T F, 11 steps, 1e-2 stop) followed by hand on this problem; ours
    # iterates to a tighter stop, hence the 1e-4 tolerance.
    assert ts.logme(TINY_F, TINY_Y) == pytest.approx(-0.8184768, abs=1e-4)


def test_logme_is_the_maximised_gaussian_evidence():
    f, y = blobs(1.0, n=30, d=4)
    score, details = ts.logme(f, y, return_details=True)
    for k in range(3):
        t = (y == k).astype(float)
        alpha, beta = details["alpha"][k], details["beta"][k]
        marginal = multivariate_normal(np.zeros(len(t)), np.eye(len(t)) / beta + f @ f.T / alpha)
        best = ts.logme_evidence(f, t, alpha, beta)
        assert best == pytest.approx(marginal.logpdf(t) / len(t), abs=1e-9)
        assert best == pytest.approx(details["evidence"][k], abs=1e-9)
        # A maximum: moving either precision lowers the evidence.
        for a, b in [
            (alpha * 1.3, beta),
            (alpha / 1.3, beta),
            (alpha, beta * 1.3),
            (alpha, beta / 1.3),
        ]:
            assert ts.logme_evidence(f, t, a, b) < best
    assert score == pytest.approx(np.mean(details["evidence"]))


def test_logme_is_invariant_to_feature_scaling():
    f, y = blobs(1.0)
    base = ts.logme(f, y)
    for scale in (1e-3, 0.5, 100.0, 1e4):
        assert ts.logme(f * scale, y) == pytest.approx(base, abs=1e-6)


def test_logme_is_higher_for_linearly_separable_features():
    separable, y = blobs(6.0)
    overlapping, _ = blobs(0.2)
    random = np.random.default_rng(1).normal(size=separable.shape)
    assert ts.logme(separable, y) > ts.logme(overlapping, y) > ts.logme(random, y) - 0.05
    assert ts.logme(separable, y) - ts.logme(random, y) > 0.3


def test_logme_with_more_dimensions_than_examples_counts_every_eigenvalue():
    f, y = blobs(1.0, n=10, d=25)
    score, details = ts.logme(f, y, return_details=True)
    t = (y == 0).astype(float)
    direct = ts.logme_evidence(f, t, details["alpha"][0], details["beta"][0])
    assert details["evidence"][0] == pytest.approx(direct, abs=1e-9)


def test_logme_of_constant_features_is_the_no_feature_limit():
    # No signal: each one-hot column t is N(0, 1/beta) noise with beta = n / |t|^2.
    y = np.array([0, 1, 1, 0, 1, 1])
    expected = np.mean([-0.5 * (np.log(2 * np.pi * np.sum(t**2) / 6) + 1) for t in np.eye(2)[y].T])
    assert ts.logme(np.zeros((6, 3)), y) == pytest.approx(expected, abs=1e-6)
    assert np.isfinite(ts.logme(np.ones((6, 3)), y))


# === LEEP and NCE ===
def test_leep_by_hand():
    # P(y, z) = [[.4, .1], [.2, .3]], P(z) = [.6, .4]; both examples get 7/12.
    theta = np.array([[0.8, 0.2], [0.4, 0.6]])
    assert ts.leep(theta, np.array([0, 1])) == pytest.approx(math.log(7 / 12))


def test_leep_and_nce_are_zero_for_a_perfect_source_target_mapping():
    y = np.array([0, 1, 2, 2, 1, 0, 1])
    source = np.array([5, 3, 0, 0, 3, 5, 3])  # a relabelling of y
    theta = np.eye(6)[source]
    assert ts.leep(theta, y) == pytest.approx(0.0, abs=1e-12)
    assert ts.nce(source, y) == pytest.approx(0.0, abs=1e-12)
    assert ts.nce(theta, y) == pytest.approx(0.0, abs=1e-12)


def test_leep_and_nce_drop_when_the_source_labels_say_nothing():
    y = np.array([0, 1, 0, 1])
    assert ts.leep(np.full((4, 3), 1 / 3), y) == pytest.approx(math.log(0.5))
    assert ts.nce(np.array([0, 0, 0, 0]), y) == pytest.approx(-math.log(2))


def test_nce_by_hand():
    # Z = 0 splits Y evenly (entropy log 2), Z = 1 determines it: H(Y|Z) = log(2) / 2.
    assert ts.nce(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])) == pytest.approx(-math.log(2) / 2)


def test_leep_rejects_logits():
    with pytest.raises(ConfigurationError, match="softmax"):
        ts.leep(np.array([[2.0, -1.0], [0.5, 3.0]]), np.array([0, 1]))


# === H-score ===
def test_hscore_by_hand():
    # Mean 0, variance 5; class means +-2, so between-class variance 4.
    f = np.array([[1.0], [3.0], [-1.0], [-3.0]])
    assert ts.hscore(f, np.array([0, 0, 1, 1])) == pytest.approx(0.8)


def test_hscore_of_label_identical_features_is_classes_minus_one():
    y = np.arange(60) % 4
    assert ts.hscore(np.eye(4)[y], y) == pytest.approx(3.0, abs=1e-6)


def test_hscore_matches_the_covariance_formula():
    # The SVD route against tr(cov^+ cov(E[f|y])) and sklearn's Ledoit-Wolf covariance.
    from sklearn.covariance import LedoitWolf

    f, y = blobs(0.7, n=40, d=6)
    centred = f - f.mean(axis=0)
    means = np.stack([centred[y == k].mean(axis=0) for k in range(3)])[y]
    between = means.T @ means / len(f)
    plain = np.trace(np.linalg.pinv(centred.T @ centred / len(f)) @ between)
    shrunk = np.trace(np.linalg.inv(LedoitWolf().fit(f).covariance_) @ between)
    assert ts.hscore(f, y) == pytest.approx(plain, rel=1e-9)
    assert ts.hscore(f, y, shrinkage=True) == pytest.approx(shrunk, rel=1e-9)


def test_hscore_of_random_features_is_near_zero():
    rng = np.random.default_rng(0)
    y = np.arange(2000) % 4
    assert ts.hscore(rng.normal(size=(2000, 5)), y) < 0.05
    assert ts.hscore(rng.normal(size=(2000, 5)), y, shrinkage=True) < 0.05


# === Baselines ===
def test_knn_accuracy_separable_vs_random():
    separable, y = blobs(6.0)
    assert ts.knn_accuracy(separable, y) == pytest.approx(1.0)
    random = np.random.default_rng(1).normal(size=separable.shape)
    assert ts.knn_accuracy(random, y) < 0.55


def test_linear_probe_accuracy_separable_vs_random():
    separable, y = blobs(6.0)
    assert ts.linear_probe_accuracy(separable, y) > 0.97
    random = np.random.default_rng(1).normal(size=separable.shape)
    assert ts.linear_probe_accuracy(random, y) < 0.55


def test_kendall_tau():
    assert ts.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert ts.kendall_tau([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    assert ts.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)


# === Errors ===
@pytest.mark.parametrize(
    "features, labels, match",
    [
        (np.ones((4,)), np.zeros(4, int), "2D array"),
        (np.ones((4, 2)), np.zeros(3, int), "one label per row"),
        (np.ones((4, 2)), np.array([0.0, 1.0, 0.0, 1.0]), "integer class ids"),
        (np.full((4, 2), np.nan), np.zeros(4, int), "NaN"),
    ],
)
def test_bad_inputs_name_what_was_received(features, labels, match):
    with pytest.raises(ConfigurationError, match=match):
        ts.logme(features, labels)
