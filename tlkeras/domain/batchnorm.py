"""adapt_batchnorm: AdaBN, the target domain's statistics in every BatchNorm layer (Li et al., 2016)."""

import keras
import numpy as np

from tlkeras.batchnorm_statistics import recalibrate_batchnorm
from tlkeras.batchnorm_statistics import trainable_batchnorm_layers
from tlkeras.errors import ConfigurationError


def adapt_batchnorm(model, x_target, batch_size=256):
    """Re-estimates the moving statistics of a model's BatchNorm layers on target inputs.

    Adaptive Batch Normalization (AdaBN, Li et al., 2016): the weights keep
    what the source taught, while each normalisation layer standardises
    target activations with the *target's* mean and variance instead of the
    source's (or, after DANN / MMD / CORAL training on concatenated batches,
    of the mixture). It needs no labels and no training, and composes with
    any of them: call it after `fit()`, before predicting on the target.

    Only BatchNorm layers that are trainable adapt; frozen ones (a frozen
    backbone's, which run in inference mode) keep their statistics. No
    weight changes. If a batch fails, every statistic is restored.

    Args:
        model: a Keras model, or a `DomainAdaptationModel` (its task model is adapted).
        x_target: unlabeled target inputs: an array (or dict of arrays) or a
            `tf.data.Dataset` of batches (`(x, ...)` tuples are fine).
        batch_size: examples per pass for arrays. Defaults to `256`.

    Returns:
        The adapted model (the same object).

    Example:

    ```python
    dann.fit(tlkeras.domain.pair_datasets((x_source, y_source), x_target), epochs=8)
    tlkeras.domain.adapt_batchnorm(dann.task_model, x_target)
    dann.task_model.predict(x_target)
    ```
    """
    model = getattr(model, "task_model", model)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(
            f"batch_size must be a positive int. Received: batch_size={batch_size!r}"
        )
    if not trainable_batchnorm_layers(model):
        raise ConfigurationError(
            f"The model {model.name!r} has no trainable BatchNormalization layer to adapt "
            "(frozen ones keep their statistics). Build it with a bottleneck "
            "(normalization 'batch', the default) or unfreeze the backbone's."
        )
    if hasattr(x_target, "element_spec"):
        recalibrate_batchnorm(model, {"x": x_target})
        return model
    count = len(keras.tree.flatten(x_target)[0]) if x_target is not None else 0
    if count == 0:
        raise ConfigurationError(
            "adapt_batchnorm needs target inputs to estimate statistics from. "
            f"Received: x_target with {count} examples"
        )
    x_target = keras.tree.map_structure(np.asarray, x_target)
    recalibrate_batchnorm(model, {"x": x_target, "batch_size": batch_size})
    return model
