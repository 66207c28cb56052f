"""GCNConv: Kipf & Welling (2017) graph convolution over an edge list."""

import keras
from keras import ops

from tlkeras_gnn.segment_ops import in_degree
from tlkeras_gnn.segment_ops import num_rows
from tlkeras_gnn.segment_ops import propagate
from tlkeras_gnn.sublayers import inherit as _inherit


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class GCNConv(keras.layers.Layer):
    """`D^-1/2 (A + I) D^-1/2 X W + b`, computed per edge, never as a dense matrix.

    Self-loops are added inside the layer so a node keeps its own signal.

    Args:
        units: output features per node.
        use_bias: add a bias. Defaults to `True`.

    Example:

    ```python
    conv = GCNConv(32)
    h = conv(node_features, edge_index)  # (num_nodes, 32)
    ```
    """

    def __init__(self, units, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        _check_units(units)
        self.units = units
        self.use_bias = use_bias
        # === Layers ===
        self.dense = keras.layers.Dense(units, use_bias=use_bias, name="dense", **_inherit(self))

    def build(self, node_features_shape, edge_index_shape=None):
        # Keras's naming (`<call argument>_shape`), which its layer tests build with.
        self.dense.build(node_features_shape)

    def call(self, node_features, edge_index):
        n = num_rows(node_features)
        loops = ops.cast(ops.arange(n), edge_index.dtype)
        edges = ops.concatenate([edge_index, ops.stack([loops, loops])], axis=1)
        # Symmetric normalisation: with A + I every degree is >= 1.
        scale = ops.rsqrt(in_degree(edges, n, node_features.dtype))
        weights = ops.take(scale, edges[0], axis=0) * ops.take(scale, edges[1], axis=0)
        # Transform first: messages then carry `units` numbers, not the input width.
        h = ops.matmul(node_features, self.dense.kernel)
        out = propagate(h, edges, n, edge_weights=weights)
        return out + self.dense.bias if self.use_bias else out

    def compute_output_shape(self, node_features_shape, edge_index_shape):
        return tuple(node_features_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias}


def _check_units(units):
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"units must be an integer >= 1. Received: units={units!r}")
