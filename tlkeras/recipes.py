"""Recipes: the classic fine-tuning procedures, written with tlkeras' parts."""

import math

import keras

from tlkeras import strategies
from tlkeras.errors import ConfigurationError
from tlkeras.feature_cache import cache_problem
from tlkeras.optimizers import ULMFIT_DECAY


def fine_tune(
    model,
    train_data,
    validation_data=None,
    *,
    head_epochs=1,
    epochs=3,
    decay=ULMFIT_DECAY,
    gradual=False,
    cache_features="auto",
    batch_size=None,
    callbacks=None,
    verbose="auto",
):
    """Two-stage transfer learning: train the new head, then fine-tune with layer-wise rates.

    Stage 1 trains the new layers on a frozen backbone (from cached features
    when possible). Stage 2 unfreezes the backbone, all at once or one group
    per epoch (`gradual=True`), with each group's learning rate `decay` times
    smaller than the group above (ULMFiT). The model is compiled again for
    each stage with the arguments it was compiled with; with the "auto"
    optimizer, stage 2 starts a fresh Adam at the fine-tuning rate.

    Args:
        model: a compiled `tlkeras.TransferModel`.
        train_data: a `tf.data.Dataset` of batches, or a tuple `(x, y)` or
            `(x, y, sample_weight)` of arrays.
        validation_data: as for `keras.Model.fit`. Defaults to `None`.
        head_epochs: epochs of stage 1; an int >= 0. Defaults to `1`.
        epochs: epochs of stage 2; an int >= 0. Defaults to `3`.
        decay: learning-rate factor between neighbouring backbone groups.
            Defaults to `2.6`.
        gradual: unfreeze one group per epoch in stage 2 instead of all at
            once. Defaults to `False`.
        cache_features: cache the backbone's features in stage 1: `"auto"`
            does when the backbone allows it (no dropout or noise layers).
            Defaults to `"auto"`.
        batch_size: for array data. Defaults to `None` (Keras' 32).
        callbacks: callbacks for both stages. Defaults to `None`.
        verbose: as for `keras.Model.fit`. Defaults to `"auto"`.

    Returns:
        A `keras.callbacks.History` holding both stages, epochs numbered on.

    Example:

    ```python
    model = tlkeras.build("efficientnet_lite0", num_classes=10)
    history = tlkeras.fine_tune(model, train_ds, val_ds, head_epochs=2, epochs=5)
    ```
    """
    for name, value in (("head_epochs", head_epochs), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{name} must be an int >= 0. Received: {name}={value!r}")
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
        train_data if isinstance(train_data, tuple) else (train_data,)
    )
    fit = dict(
        x=x,
        y=y,
        sample_weight=sample_weight,
        batch_size=batch_size,
        validation_data=validation_data,
        callbacks=callbacks,
        verbose=verbose,
    )

    model.configure("feature_extraction")
    cache = cache_features is True or (
        cache_features == "auto" and cache_problem(model, callbacks) is None
    )
    head = model.fit(**fit, epochs=head_epochs, cache_features=cache)

    unfreeze = strategies.Gradual() if gradual else strategies.Full()
    model.configure([unfreeze, strategies.Discriminative(decay=decay)])
    tuned = model.fit(**fit, epochs=head_epochs + epochs, initial_epoch=head_epochs)
    return _joined(head, tuned)


def _joined(first, second):
    history = keras.callbacks.History()
    history.set_model(second.model)
    history.epoch = list(first.epoch) + list(second.epoch)
    keys = list(dict.fromkeys([*first.history, *second.history]))
    history.history = {
        key: _padded(first, key) + _padded(second, key)
        for key in keys  # a key one stage lacks (e.g. trainable_groups) reads NaN there
    }
    return history


def _padded(history, key):
    return list(history.history.get(key, [math.nan] * len(history.epoch)))
