"""Every public tlkeras-gnn layer passes Keras's own layer test harness (`run_layer_test`).

The harness's training check wraps a layer in a model that calls it with ONE
input; the message-passing layers and readouts take several arguments (and
the graph head the model's inputs), so their training step is checked by the
plugin's own tests instead (test_jax_backend.py: one SGD step on TF and JAX).
"""

import numpy as np
from keras.src import testing
from tlkeras_gnn import GCNConv
from tlkeras_gnn import GINConv
from tlkeras_gnn import GraphClassifierHead
from tlkeras_gnn import GraphReadout
from tlkeras_gnn import LinkPredictorHead
from tlkeras_gnn import NodeClassifierHead
from tlkeras_gnn import SAGEConv

# Two graphs: a triangle (nodes 0-2) and an edge (nodes 3-4).
NODES = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
GRAPH_IDS = np.array([0, 0, 0, 1, 1], dtype="int32")
GRAPH_SIZES = np.array([3, 2], dtype="int32")


class GNNLayerHarnessTest(testing.TestCase):
    def test_convolutions(self):
        for layer, kwargs, trainable in [
            (GCNConv, {"units": 3}, 2),
            (SAGEConv, {"units": 3, "normalize": True}, 3),
            (GINConv, {"units": 3}, 5),
        ]:
            self.run_layer_test(
                layer,
                init_kwargs=kwargs,
                # Shapes, not data: the harness then builds with Keras's own
                # `<argument>_shape` names. Its random ints (0..2) are valid node ids.
                input_shape={"node_features_shape": (5, 4), "edge_index_shape": (2, 8)},
                input_dtype={"node_features_shape": "float32", "edge_index_shape": "int32"},
                expected_output_shape=(5, 3),
                expected_num_trainable_weights=trainable,
                run_training_check=False,  # several call arguments (module docstring)
            )

    def test_readouts(self):
        for mode, trainable in [("mean", 0), ("sum", 0), ("max", 0), ("attention", 2)]:
            self.run_layer_test(
                GraphReadout,
                init_kwargs={"mode": mode},
                # Random ids 0..2: three graphs.
                input_shape={
                    "node_embeddings_shape": (5, 4),
                    "graph_ids_shape": (5,),
                    "graph_sizes_shape": (3,),
                },
                input_dtype={
                    "node_embeddings_shape": "float32",
                    "graph_ids_shape": "int32",
                    "graph_sizes_shape": "int32",
                },
                expected_output_shape=(3, 4),
                expected_num_trainable_weights=trainable,
                run_training_check=False,  # several call arguments (module docstring)
            )

    def test_node_and_link_heads(self):
        for head, kwargs, width in [
            (NodeClassifierHead, {"num_classes": 3}, 3),
            (LinkPredictorHead, {"units": 6, "dropout": 0.1}, 6),
        ]:
            self.run_layer_test(
                head,
                init_kwargs=kwargs,
                input_data=NODES,
                expected_output_shape=(5, width),
                expected_output_dtype="float32",  # heads stay float32 on purpose
                expected_num_trainable_weights=2,
            )

    def test_graph_classifier_head(self):
        self.run_layer_test(
            GraphClassifierHead,
            init_kwargs={"num_classes": 3, "readout": "attention"},
            input_data=NODES,
            call_kwargs={"model_inputs": {"graph_ids": GRAPH_IDS, "graph_sizes": GRAPH_SIZES}},
            expected_output_shape=(2, 3),
            expected_output_dtype="float32",
            expected_num_trainable_weights=4,
            run_training_check=False,  # needs the model's inputs (module docstring)
        )
