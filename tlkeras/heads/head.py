"""The Head contract: a layer that maps features to a task's outputs."""

import keras


class Head(keras.layers.Layer):
    """Base class of task heads: knows its loss and metrics for `compile("auto")`.

    A head is one layer (its own layer group) and computes in float32 so that
    losses stay numerically stable under mixed precision.

    Subclasses set `pooled` (whether they take pooled features, one vector per
    example) and implement `default_loss()` and `default_metrics()`. A head
    that sets `uses_model_inputs = True` is called by `tlkeras.build` as
    `head(features, model_inputs=inputs)`, the model's input structure: a
    graph head reads which graph each node belongs to from there.
    """

    pooled = True
    uses_model_inputs = False

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def default_loss(self):
        raise NotImplementedError

    def default_metrics(self):
        return []
