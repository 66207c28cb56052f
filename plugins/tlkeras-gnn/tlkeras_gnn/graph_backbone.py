"""GraphBackbone: a tlkeras Backbone whose batch is a disjoint union of graphs."""

import keras
import numpy as np

from tlkeras import Backbone
from tlkeras_gnn.graph_batch import EDGE_INDEX
from tlkeras_gnn.graph_batch import GRAPH_IDS
from tlkeras_gnn.graph_batch import GRAPH_SIZES
from tlkeras_gnn.graph_batch import NODE_FEATURES
from tlkeras_gnn.graph_batch import batch_graphs

# Sizes of the random graphs in example_inputs: small, varied, several per batch.
EXAMPLE_NODES = (3, 7)


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class GraphBackbone(Backbone):
    """A functional backbone from a graph batch to node embeddings.

    Its inputs are the dict of `tlkeras_gnn.graph_batch` (node features
    `(num_nodes, input_dim)`, edge index `(2, num_edges)`, graph ids
    `(num_nodes,)`, graph sizes `(num_graphs,)`) and its output is
    `(num_nodes, hidden_dim)`: the leading axis of every tensor is nodes,
    edges or graphs, not examples. Heads that need the batch structure
    (`graph_classifier` reads `graph_ids` and `graph_sizes`) receive the model
    inputs from `tlkeras.build`. Feed it `tf.data` batches from
    `graph_dataset`: Keras cannot slice a disjoint union along axis 0.

    `example_inputs(batch_size)` is a batch of `batch_size` random graphs and
    `example_targets` one label per graph, matching `default_head`.

    Args:
        *args, **kwargs: as for `tlkeras.Backbone`; `modality` is `"graph"`.

    Example:

    ```python
    backbone = tlkeras.build("gcn", head="node_classifier", num_classes=4).backbone
    embeddings = backbone(batch_graphs(graphs))
    ```
    """

    default_head = "graph_classifier"

    def __init__(self, *args, **kwargs):
        kwargs["modality"] = "graph"
        super().__init__(*args, **kwargs)

    @property
    def input_dim(self):
        """Width of the node features this backbone takes."""
        return self._inputs_struct[NODE_FEATURES].shape[-1]

    def example_inputs(self, batch_size=2, seed=0):
        """A disjoint-union batch of `batch_size` random graphs (3 to 6 nodes each)."""
        rng = np.random.default_rng(seed)
        graphs = []
        for _ in range(batch_size):
            n = int(rng.integers(*EXAMPLE_NODES))
            # A ring (every node connected) plus random chords, both directions.
            senders = np.concatenate([np.arange(n), rng.integers(0, n, size=n)])
            receivers = np.concatenate([(np.arange(n) + 1) % n, rng.integers(0, n, size=n)])
            edges = np.stack([senders, receivers])
            graphs.append(
                {
                    NODE_FEATURES: rng.uniform(0, 1, (n, self.input_dim)).astype("float32"),
                    EDGE_INDEX: np.concatenate([edges, edges[::-1]], axis=1).astype("int32"),
                }
            )
        return batch_graphs(graphs)

    def example_targets(self, num_classes=2, batch_size=2, seed=0):
        """One random label per graph of `example_inputs(batch_size)`."""
        return np.random.default_rng(seed).integers(0, num_classes, size=(batch_size,))


def graph_inputs(input_dim):
    """The four `keras.Input`s of a graph batch, keyed as in `graph_batch`."""
    return {
        NODE_FEATURES: keras.Input(shape=(input_dim,), name=NODE_FEATURES),
        EDGE_INDEX: keras.Input(batch_shape=(2, None), dtype="int32", name=EDGE_INDEX),
        GRAPH_IDS: keras.Input(shape=(), dtype="int32", name=GRAPH_IDS),
        GRAPH_SIZES: keras.Input(shape=(), dtype="int32", name=GRAPH_SIZES),
    }
