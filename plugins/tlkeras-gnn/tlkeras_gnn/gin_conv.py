"""GINConv: the Graph Isomorphism Network layer (Xu et al. 2019)."""

import keras

from tlkeras_gnn.gcn_conv import _check_units
from tlkeras_gnn.segment_ops import num_rows
from tlkeras_gnn.segment_ops import propagate
from tlkeras_gnn.sublayers import inherit as _inherit


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class GINConv(keras.layers.Layer):
    """`MLP((1 + eps) x_i + sum_{j -> i} x_j)` with a learnable `eps` (GIN-eps).

    The sum aggregator with an injective MLP is as discriminative as the
    Weisfeiler-Lehman test, which mean or max aggregation is not.

    Args:
        units: output features per node (both MLP layers).
        train_eps: learn `eps` (else it stays 0). Defaults to `True`.

    Example:

    ```python
    h = GINConv(32)(node_features, edge_index)  # (num_nodes, 32)
    ```
    """

    def __init__(self, units, train_eps=True, **kwargs):
        super().__init__(**kwargs)
        _check_units(units)
        self.units = units
        self.train_eps = train_eps
        # === Layers ===
        self.hidden = keras.layers.Dense(
            units, activation="relu", name="mlp_hidden", **_inherit(self)
        )
        self.out = keras.layers.Dense(units, name="mlp_out", **_inherit(self))

    def build(self, node_features_shape, edge_index_shape=None):
        # Keras's naming (`<call argument>_shape`), which its layer tests build with.
        self.eps = self.add_weight(
            shape=(), initializer="zeros", trainable=self.train_eps, name="eps"
        )
        self.hidden.build(node_features_shape)
        self.out.build(tuple(node_features_shape[:-1]) + (self.units,))

    def call(self, node_features, edge_index):
        total = propagate(node_features, edge_index, num_rows(node_features))
        return self.out(self.hidden((1.0 + self.eps) * node_features + total))

    def compute_output_shape(self, node_features_shape, edge_index_shape):
        return tuple(node_features_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "train_eps": self.train_eps}
