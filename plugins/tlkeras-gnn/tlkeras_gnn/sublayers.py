"""Keeps a layer's sublayers in step with it when Keras revives it from a config."""


def inherit(layer):
    """Constructor kwargs that give a sublayer its parent's `trainable` and dtype policy.

    A layer saved frozen comes back with `trainable=False`, but sublayers made
    in its `__init__` start trainable, and setting `layer.trainable = False`
    again does not reach them: TensorFlow's attribute tracking skips an
    assignment of the value an attribute already has.
    """
    return {"trainable": layer.trainable, "dtype": layer.dtype_policy}
