"""pseudo_label: confident target predictions as labels, for one more round of semi-supervised adaptation."""

import keras
import numpy as np

from tlkeras.errors import ConfigurationError


def pseudo_label(model, x_target, threshold=0.9, batch_size=256):
    """Keeps the target examples the model classifies with probability ≥ `threshold`.

    Self-training (Lee, 2013; the pseudo-label step of many adaptation
    recipes): an adapted model's confident target predictions are mostly
    right, so they can go back into training as the `labeled_target` part of
    `pair_datasets(source, x_target, pseudo_label(...))`. The threshold trades
    how many are kept against how many are wrong; it needs no target labels.

    Args:
        model: a single-label classifier (a `TransferModel`, or a
            `DomainAdaptationModel`, whose task model predicts).
        x_target: unlabeled target inputs (an array or a dict of arrays).
        threshold: the smallest top-class probability kept, in `(0, 1]`.
            Defaults to `0.9`.
        batch_size: examples per prediction batch. Defaults to `256`.

    Returns:
        `(x_kept, y_kept)`: the confident examples and their predicted class
        indices (int32); empty arrays when none reaches the threshold.

    Example:

    ```python
    dann.fit(tlkeras.domain.pair_datasets((x_source, y_source), x_target), epochs=8)
    confident = tlkeras.domain.pseudo_label(dann, x_target, threshold=0.9)
    dann.fit(tlkeras.domain.pair_datasets((x_source, y_source), x_target, confident), epochs=4)
    ```
    """
    model = getattr(model, "task_model", model)
    is_number = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if not is_number or not 0.0 < threshold <= 1.0:
        raise ConfigurationError(
            f"threshold must be a probability in (0, 1]. Received: threshold={threshold!r}"
        )
    if len(model.outputs) != 1 or model.outputs[0].shape[-1] in (None, 1):
        raise ConfigurationError(
            "pseudo_label needs a single-label classifier with one probability per class. "
            f"Received: a model {model.name!r} with outputs "
            f"{[tuple(o.shape) for o in model.outputs]}"
        )
    probabilities = model.predict(x_target, batch_size=batch_size, verbose=0)
    keep = probabilities.max(axis=-1) >= float(threshold)
    labels = probabilities.argmax(axis=-1).astype("int32")[keep]
    kept = keras.tree.map_structure(lambda a: np.asarray(a)[keep], x_target)
    return kept, labels
