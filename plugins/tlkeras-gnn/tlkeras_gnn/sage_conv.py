"""SAGEConv: GraphSAGE (Hamilton et al. 2017) with the mean aggregator."""

import keras
from keras import ops

from tlkeras_gnn.gcn_conv import _check_units
from tlkeras_gnn.segment_ops import num_rows
from tlkeras_gnn.segment_ops import propagate
from tlkeras_gnn.sublayers import inherit as _inherit


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class SAGEConv(keras.layers.Layer):
    """`W_self x_i + W_neigh mean_{j -> i} x_j + b`.

    Args:
        units: output features per node.
        normalize: L2-normalise each output row (as in the paper). Defaults to
            `False`.

    Example:

    ```python
    h = SAGEConv(32)(node_features, edge_index)  # (num_nodes, 32)
    ```
    """

    def __init__(self, units, normalize=False, **kwargs):
        super().__init__(**kwargs)
        _check_units(units)
        self.units = units
        self.normalize = normalize
        # === Layers ===
        self.self_dense = keras.layers.Dense(units, name="self", **_inherit(self))
        self.neighbour_dense = keras.layers.Dense(
            units, use_bias=False, name="neighbours", **_inherit(self)
        )

    def build(self, node_features_shape, edge_index_shape=None):
        # Keras's naming (`<call argument>_shape`), which its layer tests build with.
        self.self_dense.build(node_features_shape)
        self.neighbour_dense.build(node_features_shape)

    def call(self, node_features, edge_index):
        neighbours = propagate(node_features, edge_index, num_rows(node_features), reduce="mean")
        out = self.self_dense(node_features) + self.neighbour_dense(neighbours)
        if self.normalize:
            out = out / ops.maximum(ops.norm(out, axis=-1, keepdims=True), 1e-12)
        return out

    def compute_output_shape(self, node_features_shape, edge_index_shape):
        return tuple(node_features_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "normalize": self.normalize}
