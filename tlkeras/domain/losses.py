"""Discrepancy losses between source and target feature batches: MMD and CORAL."""

from keras import ops

from tlkeras.errors import ConfigurationError


def mmd_loss(source, target, bandwidths=None, num_kernels=5, kernel_mul=2.0):
    """Squared maximum mean discrepancy under a mixture of Gaussian kernels.

    The biased estimator of Gretton et al. (2012), with the multi-kernel
    mixture of DAN (Long et al., 2015):
    `mean(K(s, s)) + mean(K(t, t)) - 2 mean(K(s, t))`, where `K` is the average
    of Gaussian kernels `exp(-||a - b||² / (2 σ²))` over several bandwidths σ.
    Zero when both batches are identical; it grows as their distributions
    move apart in any moment the kernels can see.

    Args:
        source: a `(n, d)` batch of source features.
        target: a `(m, d)` batch of target features.
        bandwidths: a list of kernel widths σ. Defaults to `None`: `num_kernels`
            widths spaced by `kernel_mul` around the mean pairwise distance of
            the joint batch (held constant for the gradient), so the kernels
            adapt to the scale of the features.
        num_kernels: number of kernels when `bandwidths` is `None`. Defaults
            to `5`.
        kernel_mul: ratio between consecutive squared widths when `bandwidths`
            is `None`. Defaults to `2.0`.

    Returns:
        A scalar tensor.

    Example:

    ```python
    loss = tlkeras.domain.mmd_loss(source_features, target_features)
    ```
    """
    source, target = _as_float_matrices(source, target)
    joint = ops.concatenate([source, target], axis=0)
    distances = _squared_distances(joint, joint)
    if bandwidths is None:
        if int(num_kernels) < 1 or float(kernel_mul) <= 0.0:
            raise ConfigurationError(
                "mmd_loss needs num_kernels >= 1 and kernel_mul > 0. Received: "
                f"num_kernels={num_kernels!r}, kernel_mul={kernel_mul!r}"
            )
        n = ops.cast(ops.shape(joint)[0], distances.dtype)
        # The width follows the data but is not optimised through: shrinking
        # the features would otherwise shrink the kernels with them.
        mean_distance = ops.stop_gradient(ops.sum(distances) / (n * n - n))
        centre = num_kernels // 2
        variances = [
            mean_distance * float(kernel_mul) ** (k - centre) for k in range(int(num_kernels))
        ]
    else:
        widths = [float(b) for b in bandwidths]
        if not widths or min(widths) <= 0.0:
            raise ConfigurationError(
                f"bandwidths must be a non-empty list of positive widths. Received: "
                f"bandwidths={bandwidths!r}"
            )
        variances = [w * w for w in widths]
    kernel = sum(ops.exp(-distances / (2.0 * v)) for v in variances) / len(variances)
    n_source = ops.shape(source)[0]
    k_ss = kernel[:n_source, :n_source]
    k_tt = kernel[n_source:, n_source:]
    k_st = kernel[:n_source, n_source:]
    return ops.mean(k_ss) + ops.mean(k_tt) - 2.0 * ops.mean(k_st)


def coral_loss(source, target):
    """CORAL: squared Frobenius distance between the feature covariances.

    Deep CORAL (Sun & Saenko, 2016): `||C_s - C_t||²_F / (4 d²)`, with the
    unbiased covariance of each batch over its `d` feature dimensions. It
    aligns second-order statistics, cheaply and without a discriminator.

    Args:
        source: a `(n, d)` batch of source features, `n >= 2`.
        target: a `(m, d)` batch of target features, `m >= 2`.

    Returns:
        A scalar tensor.

    Example:

    ```python
    loss = tlkeras.domain.coral_loss(source_features, target_features)
    ```
    """
    source, target = _as_float_matrices(source, target)
    d = ops.cast(ops.shape(source)[1], source.dtype)
    difference = _covariance(source) - _covariance(target)
    return ops.sum(ops.square(difference)) / (4.0 * d * d)


def _covariance(x):
    n = ops.cast(ops.shape(x)[0], x.dtype)
    centred = x - ops.mean(x, axis=0, keepdims=True)
    return ops.matmul(ops.transpose(centred), centred) / (n - 1.0)


def _squared_distances(a, b):
    squared = (
        ops.sum(ops.square(a), axis=1, keepdims=True)
        - 2.0 * ops.matmul(a, ops.transpose(b))
        + ops.transpose(ops.sum(ops.square(b), axis=1, keepdims=True))
    )
    # Rounding can make the distance of a point to itself slightly negative.
    return ops.maximum(squared, 0.0)


def _as_float_matrices(source, target):
    # Discrepancies are computed in float32 even under mixed precision: the
    # kernel sums and covariances lose too much in float16.
    source = ops.cast(source, "float32")
    target = ops.cast(target, "float32")
    if len(source.shape) != 2 or len(target.shape) != 2:
        raise ConfigurationError(
            "Discrepancy losses take (batch, features) matrices; pool or flatten "
            f"first. Received: source.shape={tuple(source.shape)}, "
            f"target.shape={tuple(target.shape)}"
        )
    if source.shape[1] != target.shape[1]:
        raise ConfigurationError(
            "Source and target features must have the same width. Received: "
            f"source.shape={tuple(source.shape)}, target.shape={tuple(target.shape)}"
        )
    return source, target
