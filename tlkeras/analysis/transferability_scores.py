"""Transferability scores: how well a frozen backbone's features suit a labelled task, without training.

Each score reads one forward pass of a backbone over the target data (its
pooled features, or its source classifier's predictions) and returns one
number; higher means "expected to transfer better". They rank candidate
backbones before any fine-tuning:

- `logme`: log marginal evidence of a Bayesian linear model on the features,
  maximised over its prior and noise precisions (You et al., ICML 2021).
- `leep`: log expected empirical prediction through the source classifier's
  soft labels (Nguyen et al., ICML 2020).
- `nce`: negative conditional entropy of target labels given the source
  classifier's hard labels (Tran et al., ICCV 2019).
- `hscore`: the H-score `tr(cov(f)^-1 cov(E[f | y]))` (Bao et al., ICIP 2019).
- `knn_accuracy` and `linear_probe_accuracy`: the plain baselines.

All are NumPy, vectorised over classes.
"""

import numpy as np

from tlkeras.errors import ConfigurationError

# Relative change of alpha / beta at which LogME's fixed point has converged.
LOGME_TOLERANCE = 1e-3
# Guards the fixed-point updates against a zero |m|^2 or residual. The paper's
# code adds 1e-5; here it is relative to the features' scale, which keeps
# LogME exactly invariant to scaling them (an absolute 1e-5 moves the score
# by 0.07 when features are multiplied by 100).
LOGME_EPSILON = 1e-12


def _check(features, labels, name="features"):
    features = np.asarray(features, dtype="float64")
    labels = np.asarray(labels)
    if features.ndim != 2:
        raise ConfigurationError(
            f"{name} must be a 2D array (examples, dims). Received: {name} of shape {features.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(features):
        raise ConfigurationError(
            f"labels must be a 1D array with one label per row of {name}. Received: labels of "
            f"shape {labels.shape} for {name} of shape {features.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0:
        raise ConfigurationError(
            "labels must be non-negative integer class ids. Received: labels of dtype "
            f"{labels.dtype} with minimum {labels.min(initial=0)}"
        )
    if not np.all(np.isfinite(features)):
        raise ConfigurationError(
            f"{name} hold NaN or infinite values. Received: {name} with NaN/inf"
        )
    return features, labels.astype("int64")


def logme_evidence(features, targets, alpha, beta):
    """Log marginal evidence per example of `targets` under a Bayesian linear model.

    The model is `t = F w + noise` with prior `w ~ N(0, alpha^-1 I)` and
    noise `N(0, beta^-1 I)`; the evidence is `log N(t; 0, beta^-1 I + alpha^-1 F F^T)`,
    written (as in the paper) through the posterior mean `m = beta A^-1 F^T t`,
    `A = alpha I + beta F^T F`:

    `n/2 log beta + D/2 log alpha - n/2 log 2pi - beta/2 |t - F m|^2 - alpha/2 |m|^2 - 1/2 log|A|`.

    Args:
        features: `(n, D)` array `F`.
        targets: `(n,)` array `t`.
        alpha: prior precision (> 0).
        beta: noise precision (> 0).

    Returns:
        The log evidence divided by `n`.
    """
    f = np.asarray(features, dtype="float64")
    t = np.asarray(targets, dtype="float64")
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ t)
    residual = float(np.sum((t - f @ m) ** 2))
    _, log_det = np.linalg.slogdet(a)
    evidence = (
        n / 2 * np.log(beta)
        + d / 2 * np.log(alpha)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * residual
        - alpha / 2 * float(m @ m)
        - log_det / 2
    )
    return evidence / n


def logme(features, labels, max_iter=100, tolerance=LOGME_TOLERANCE, return_details=False):
    """LogME (You et al., ICML 2021): the maximised log evidence of linear models on the features.

    For each class `k`, the one-hot column `t_k = [y == k]` is regressed on
    the features by Bayesian linear regression; its prior precision `alpha`
    and noise precision `beta` are set by MacKay's fixed-point iteration
    (`gamma = sum sigma_i / (sigma_i + alpha / beta)`,
    `alpha = gamma / |m|^2`, `beta = (n - gamma) / |t - F m|^2`), which
    maximises the evidence (`logme_evidence`). LogME is the mean over
    classes of the maximised log evidence per example. One SVD of the
    features serves every class and every iteration: with `F = U S V^T` and
    `x = U^T t`, all quantities are sums over the singular values. The
    features are used as given (no centring or scaling): LogME is invariant
    to scaling them, since `alpha` absorbs the scale.

    Args:
        features: `(n, D)` array of features.
        labels: `(n,)` integer class ids.
        max_iter: most fixed-point iterations per class. Defaults to `100`
            (convergence takes a handful).
        tolerance: stop a class once `alpha / beta` changes by less than this
            fraction. Defaults to `1e-3`.
        return_details: also return the per-class `alpha`, `beta` and
            evidence. Defaults to `False`.

    Returns:
        The LogME score (a float, typically in [-2, 2]; higher is better), or
        `(score, details)` with `details` a dict of `(C,)` arrays.

    Example:

    ```python
    score = logme(pooled_features, labels)
    ```
    """
    f, y = _check(features, labels)
    n, d = f.shape
    targets = np.eye(int(y.max()) + 1)[y]  # (n, C) one-hot columns
    u, s, _ = np.linalg.svd(f, full_matrices=False)  # u: (n, min(n, D))
    # Directions with (numerically) zero variance carry no signal; dropping
    # them keeps constant or all-zero features finite. Relative, so scale-free.
    rank = int(np.sum(s > s.max(initial=0.0) * 1e-10)) if s.size and s.max() > 0 else 0
    u, s = u[:, :rank], s[:rank]
    sigma = (s**2)[:, None]  # (k, 1): the non-zero eigenvalues of F^T F
    scale = float(sigma.max()) if rank else 1.0
    x2 = (u.T @ targets) ** 2  # (k, C)
    # The part of each target outside the span of F: the residual it always keeps.
    outside = np.maximum(np.sum(targets**2, axis=0) - np.sum(x2, axis=0), 0.0)
    classes = targets.shape[1]
    alpha, beta = np.ones(classes), np.ones(classes)
    active = np.ones(classes, dtype=bool)
    for _ in range(max_iter):
        ratio = alpha / beta
        gamma, m2, res2 = _logme_sums(sigma, x2, outside, ratio)
        # With no signal direction (gamma = 0) alpha is free; it stays.
        new_alpha = np.where(gamma > 0, gamma / (m2 + LOGME_EPSILON * n / scale), alpha)
        new_beta = (n - gamma) / (res2 + LOGME_EPSILON * n)
        alpha = np.where(active, new_alpha, alpha)
        beta = np.where(active, new_beta, beta)
        active &= np.abs(alpha / beta - ratio) / ratio > tolerance
        if not active.any():
            break
    _, m2, res2 = _logme_sums(sigma, x2, outside, alpha / beta)
    # log|A| has D eigenvalues; the D - k zero ones give log(alpha) each,
    # which cancel D - k of the D/2 log(alpha) term: k/2 log(alpha) remains.
    evidence = (
        n / 2 * np.log(beta)
        + rank / 2 * np.log(alpha)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * res2
        - alpha / 2 * m2
        - np.sum(np.log(alpha + beta * sigma), axis=0) / 2
    ) / n
    score = float(np.mean(evidence))
    if return_details:
        return score, dict(alpha=alpha, beta=beta, evidence=evidence)
    return score


def _logme_sums(sigma, x2, outside, ratio):
    """gamma, |m|^2 and |t - F m|^2 in the SVD basis, for every class at once."""
    gamma = np.sum(sigma / (sigma + ratio), axis=0)
    m2 = np.sum(sigma * x2 / (sigma + ratio) ** 2, axis=0)
    res2 = np.sum(x2 * (ratio / (sigma + ratio)) ** 2, axis=0) + outside
    return gamma, m2, res2


def _source_probabilities(source_probabilities):
    p = np.asarray(source_probabilities, dtype="float64")
    if p.ndim != 2 or np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ConfigurationError(
            "source_probabilities must be an (n, source classes) array of probabilities "
            "(rows summing to 1; apply a softmax to logits). Received: array of shape "
            f"{p.shape} with row sums in [{p.sum(axis=-1).min():.3g}, {p.sum(axis=-1).max():.3g}]"
        )
    return p


def leep(source_probabilities, labels):
    """LEEP (Nguyen et al., ICML 2020): log expected empirical prediction.

    With `theta(x)` the source classifier's probabilities over source labels
    `z`, the empirical joint `P(y, z) = 1/n sum_i theta(x_i)_z [y_i = y]`
    gives the conditional `P(y | z)`; LEEP is the mean log-likelihood of the
    true target labels under the "expected empirical predictor"
    `sum_z P(y | z) theta(x)_z`.

    Args:
        source_probabilities: `(n, Z)` source-classifier probabilities.
        labels: `(n,)` integer target class ids.

    Returns:
        LEEP, a float <= 0 (0 when the source labels determine the target ones).
    """
    theta = _source_probabilities(source_probabilities)
    _, y = _check(theta, labels, "source_probabilities")
    one_hot = np.eye(int(y.max()) + 1)[y]  # (n, C)
    joint = one_hot.T @ theta / len(y)  # (C, Z)
    marginal = joint.sum(axis=0, keepdims=True)  # P(z)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    expected = theta @ conditional.T  # (n, C): sum_z P(y | z) theta_z
    return float(np.mean(np.log(expected[np.arange(len(y)), y] + 1e-300)))


def nce(source_labels, labels):
    """NCE (Tran et al., ICCV 2019): negative conditional entropy `-H(Y | Z)`.

    Args:
        source_labels: `(n,)` integer hard labels of the source classifier
            (its arg-max), or `(n, Z)` probabilities (their arg-max is taken).
        labels: `(n,)` integer target class ids.

    Returns:
        `-H(Y | Z)` in nats, a float <= 0 (0 when each source label determines
        the target label).
    """
    z = np.asarray(source_labels)
    if z.ndim == 2:
        z = np.argmax(z, axis=1)
    _, y = _check(z[:, None].astype("float64"), labels, "source_labels")
    _, z = np.unique(z, return_inverse=True)
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (y, z), 1.0)
    joint /= len(y)
    marginal = joint.sum(axis=0, keepdims=True)
    conditional = np.divide(joint, marginal, out=np.ones_like(joint), where=joint > 0)
    return float(np.sum(joint * np.log(conditional)))


def hscore(features, labels, shrinkage=False):
    """H-score (Bao et al., ICIP 2019): `tr(cov(f)^+ cov(E[f | y]))`.

    How much of the features' variance lies between classes, in the
    features' own whitened metric. It ranges from 0 (class means equal) to
    `C - 1` (features constant within each class). Computed through the SVD
    of the centred features, so its cost is `O(n^2 D)`, not `O(D^3)`: with
    `F = U S V^T` and `P` the projector onto per-class means,
    `cov(f)^+ cov(E[f | y])` has trace `sum_i |P u_i|^2` (and, with
    shrinkage, each term weighted by `s_i^2 / (s_i^2 + n shrunk variance)`).

    Args:
        features: `(n, D)` features.
        labels: `(n,)` integer class ids.
        shrinkage: estimate `cov(f)` with Ledoit-Wolf shrinkage towards
            `mu I` instead of the sample covariance (the regularised H-score
            of Ibrahim et al., ICLR 2023), steadier when `D` is near or above
            `n`, where the plain H-score saturates at `C - 1`. Defaults to
            `False` (pseudo-inverse of the sample covariance, as in the paper).

    Returns:
        The H-score, a float (higher is better).
    """
    f, y = _check(features, labels)
    n, d = f.shape
    f = f - f.mean(axis=0)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > s.max(initial=0.0) * 1e-10 if s.size and s.max() > 0 else np.zeros_like(s, bool)
    u, sigma = u[:, keep], s[keep] ** 2 / n  # eigenvalues of the sample covariance
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    class_sums = np.zeros((len(counts), u.shape[1]))
    np.add.at(class_sums, inverse, u)
    # |P u_i|^2 = sum over classes of (sum of u_i over the class)^2 / class size.
    between = np.sum(class_sums**2 / counts[:, None], axis=0)
    if not shrinkage:
        return float(np.sum(between))
    delta, mu = _ledoit_wolf(f)
    return float(np.sum(between * sigma / ((1 - delta) * sigma + delta * mu)))


def _ledoit_wolf(f):
    """Ledoit-Wolf shrinkage `delta` and target scale `mu` of centred `f`, in O(n^2 D)."""
    n, d = f.shape
    squared_norms = np.sum(f**2, axis=1)
    mu = np.sum(squared_norms) / (n * d)
    gram_fro2 = np.sum((f @ f.T) ** 2) / n**2  # |S|_F^2, S = f^T f / n
    # |S - mu I|_F^2 / d, and the variance of S's estimate (its bias-corrected part).
    distance = (gram_fro2 - 2 * mu * np.sum(squared_norms) / n + d * mu**2) / d
    spread = (np.sum(squared_norms**2) / n - gram_fro2) / (n * d)
    spread = min(spread, distance)
    return (0.0 if spread <= 0 else spread / distance), mu


def knn_accuracy(features, labels, k=5):
    """Leave-one-out accuracy of a `k`-nearest-neighbour vote on cosine similarity.

    Args:
        features: `(n, D)` features.
        labels: `(n,)` integer class ids.
        k: neighbours per vote. Defaults to `5`.

    Returns:
        The share of examples whose `k` nearest other examples vote their class.
    """
    f, y = _check(features, labels)
    if not 1 <= k < len(f):
        raise ConfigurationError(f"k must be in [1, n - 1] = [1, {len(f) - 1}]. Received: k={k}")
    f = f - f.mean(axis=0)
    f /= np.linalg.norm(f, axis=1, keepdims=True) + 1e-12
    similarity = f @ f.T
    np.fill_diagonal(similarity, -np.inf)  # leave the example itself out
    neighbours = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    votes = np.zeros((len(f), int(y.max()) + 1))
    np.add.at(votes, (np.repeat(np.arange(len(f)), k), y[neighbours].ravel()), 1.0)
    return float(np.mean(np.argmax(votes, axis=1) == y))


def linear_probe_accuracy(features, labels, folds=3, seed=0, C=1.0, max_iter=500):
    """Cross-validated accuracy of a linear probe (standardised logistic regression).

    Args:
        features: `(n, D)` features.
        labels: `(n,)` integer class ids.
        folds: stratified folds. Defaults to `3`.
        seed: seed of the fold split. Defaults to `0`.
        C: inverse L2 strength. Defaults to `1.0`.
        max_iter: solver iterations. Defaults to `500`.

    Returns:
        The mean held-out accuracy over the folds.
    """
    from sklearn.model_selection import StratifiedKFold

    from tlkeras.analysis.transferability import linear_probe

    f, y = _check(features, labels)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = [
        linear_probe(f[train], y[train], f[test], y[test], max_iter=max_iter, C=C)["accuracy"]
        for train, test in split.split(f, y)
    ]
    return float(np.mean(scores))


def kendall_tau(a, b):
    """Kendall's tau-b rank correlation of two equally long sequences (ties counted once).

    Returns:
        A float in [-1, 1]; NaN when either sequence is constant.
    """
    from scipy.stats import kendalltau

    return float(kendalltau(np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"))[0])
