"""The NT-Xent loss of SimCLR and its contrastive accuracy."""

import keras
from keras import ops

# Subtracted from an anchor's similarity with itself so it is never a candidate.
_SELF_MASK = 1e9


def _logits_and_positives(z1, z2, temperature):
    if not float(temperature) > 0.0:
        raise ValueError(f"temperature must be > 0. Received: temperature={temperature!r}")
    z = ops.concatenate([z1, z2], axis=0)
    z = z / (ops.norm(z, axis=-1, keepdims=True) + 1e-8)
    n = ops.shape(z1)[0]
    logits = ops.matmul(z, ops.transpose(z)) / temperature
    logits = logits - _SELF_MASK * ops.eye(2 * n, dtype=logits.dtype)
    positives = ops.concatenate([ops.arange(n) + n, ops.arange(n)], axis=0)
    return logits, positives


def nt_xent(z1, z2, temperature=0.1):
    """The NT-Xent (normalised temperature-scaled cross-entropy) loss of SimCLR.

    Row `i` of `z1` and row `i` of `z2` are two views of one example (a
    positive pair); the other `2 * (batch - 1)` rows are its negatives. Rows
    are L2-normalised, cosine similarities divided by `temperature`, and the
    loss is the mean over all `2 * batch` anchors of the cross-entropy of
    picking the positive among every other row (Chen et al., 2020, eq. 1).

    Args:
        z1: `(batch, d)` projections of the first views.
        z2: `(batch, d)` projections of the second views.
        temperature: softmax temperature, `> 0`. Defaults to `0.1`.

    Returns:
        A scalar loss.

    Example:

    ```python
    loss = nt_xent(projections_1, projections_2, temperature=0.2)
    ```
    """
    logits, positives = _logits_and_positives(z1, z2, temperature)
    losses = keras.losses.sparse_categorical_crossentropy(positives, logits, from_logits=True)
    return ops.mean(losses)


def contrastive_accuracy(z1, z2):
    """Share of the `2 * batch` anchors whose most similar other row is their positive.

    Args:
        z1: `(batch, d)` projections of the first views.
        z2: `(batch, d)` projections of the second views.

    Returns:
        A scalar in `[0, 1]`; chance is `1 / (2 * batch - 1)`.
    """
    logits, positives = _logits_and_positives(z1, z2, 1.0)
    predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
    hits = ops.equal(predicted, ops.cast(positives, "int32"))
    return ops.mean(ops.cast(hits, "float32"))
