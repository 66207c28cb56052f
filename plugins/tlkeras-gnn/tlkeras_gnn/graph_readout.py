"""GraphReadout: pools node embeddings into one vector per graph of the batch."""

import keras
from keras import ops

from tlkeras_gnn.segment_ops import safe_segment_max
from tlkeras_gnn.segment_ops import segment_softmax
from tlkeras_gnn.sublayers import inherit as _inherit

READOUTS = ("sum", "mean", "max", "attention")


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class GraphReadout(keras.layers.Layer):
    """Sum, mean, max or attention pooling of nodes over their graph ids.

    Attention pooling is the gated readout of Li et al. (2016): a softmax over
    the nodes of each graph of a learned score weights their embeddings.

    Args:
        mode: `"sum"`, `"mean"`, `"max"` or `"attention"`. Defaults to `"mean"`.

    Call arguments:
        node_embeddings: `(num_nodes, d)`.
        graph_ids: `(num_nodes,)` int, `0 .. num_graphs - 1`.
        graph_sizes: optional `(num_graphs,)` nodes per graph; only its
            length is read, as the number of graphs (a static shape, which a
            jitted JAX step needs). Without it the count is `max(graph_ids) + 1`,
            a value, which works eagerly and on TensorFlow but not inside
            `jax.jit`. Defaults to `None`.

    Example:

    ```python
    graph_vectors = GraphReadout("sum")(embeddings, batch["graph_ids"], batch["graph_sizes"])
    ```
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in READOUTS:
            raise ValueError(
                f"Unknown readout. Received: mode={mode!r}; expected one of {READOUTS}."
            )
        self.mode = mode
        # === Layers ===
        self.gate = (
            keras.layers.Dense(1, name="gate", **_inherit(self)) if mode == "attention" else None
        )

    def build(self, node_embeddings_shape, graph_ids_shape=None, graph_sizes_shape=None):
        # Keras's naming (`<call argument>_shape`), which its layer tests build with.
        if self.gate is not None:
            self.gate.build(node_embeddings_shape)

    def call(self, node_embeddings, graph_ids, graph_sizes=None):
        if graph_sizes is None:
            num_graphs = ops.max(graph_ids) + 1
        else:
            num_graphs = ops.shape(graph_sizes)[0]
        if self.mode == "max":
            return safe_segment_max(node_embeddings, graph_ids, num_graphs)
        if self.mode == "attention":
            weights = segment_softmax(self.gate(node_embeddings), graph_ids, num_graphs)
            node_embeddings = node_embeddings * weights
        total = ops.segment_sum(node_embeddings, graph_ids, num_segments=num_graphs)
        if self.mode != "mean":
            return total
        ones = ops.ones_like(graph_ids, dtype=total.dtype)
        counts = ops.segment_sum(ones, graph_ids, num_segments=num_graphs)
        return total / ops.maximum(counts, 1.0)[:, None]

    def compute_output_shape(self, node_embeddings_shape, graph_ids_shape, graph_sizes_shape=None):
        num_graphs = None if graph_sizes_shape is None else graph_sizes_shape[0]
        return (num_graphs, node_embeddings_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
