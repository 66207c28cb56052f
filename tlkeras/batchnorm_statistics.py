"""Precise BatchNorm statistics: re-estimate a model's moving averages from data.

Used after training ("precise BN", compare()) and for domain adaptation
(AdaBN, `tlkeras.domain.adapt_batchnorm`); it sits on the model floor so both
can import it.
"""

import keras


def recalibrate_batchnorm(model, inputs):
    """Re-estimates the moving statistics of trainable BatchNorm layers ("precise BN").

    Runs the model in training mode over the data once with a cumulative
    average (momentum `i / (i + 1)` at batch `i`), so the statistics used at
    inference are those of the trained weights. Frozen BatchNorm layers run in
    inference mode and keep theirs. No weight changes.

    Args:
        model: a Keras model.
        inputs: keyword arguments of `predict()`: `x` (arrays or a dataset)
            and, for arrays, `batch_size`.
    """
    layers = trainable_batchnorm_layers(model)
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    # Restored if a batch fails (bad input, interrupt): no half-updated statistics.
    saved = [
        (layer, [keras.ops.copy(v) for v in (layer.moving_mean, layer.moving_variance)])
        for layer in layers
    ]
    try:
        for index, batch in enumerate(_batches(inputs)):
            for layer in layers:
                layer.momentum = index / (index + 1)
            model(batch, training=True)
    except BaseException:
        for layer, (mean, variance) in saved:
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        raise
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def trainable_batchnorm_layers(model):
    """The BatchNorm layers whose statistics training (or recalibration) updates."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def _batches(inputs):
    x = inputs["x"]
    if "batch_size" in inputs:
        size = inputs["batch_size"]
        count = len(keras.tree.flatten(x)[0])
        for start in range(0, count, size):
            yield keras.tree.map_structure(lambda a, s=start: a[s : s + size], x)
        return
    for element in x:
        yield element[0] if isinstance(element, tuple) else element
