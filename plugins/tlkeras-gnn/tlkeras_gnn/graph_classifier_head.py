"""GraphClassifierHead: one prediction per graph from node embeddings."""

import keras

from tlkeras.heads import ClassifierHead
from tlkeras_gnn.graph_batch import GRAPH_IDS
from tlkeras_gnn.graph_batch import GRAPH_SIZES
from tlkeras_gnn.graph_readout import GraphReadout
from tlkeras_gnn.sublayers import inherit as _inherit


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class GraphClassifierHead(ClassifierHead):
    """Readout over graph ids -> dropout -> Dense(num_classes) with softmax.

    Registered as `head="graph_classifier"`. It takes the backbone's node
    embeddings unpooled and reads `graph_ids` and `graph_sizes` from the model
    inputs, so its output has one row per graph of the batch.

    Args:
        num_classes: number of classes, an int >= 2.
        readout: `"sum"`, `"mean"`, `"max"` or `"attention"`. Defaults to
            `"mean"`.
        multi_label: independent sigmoids instead of a softmax. Defaults to
            `False`.
        dropout: dropout before the Dense layer. Defaults to `0.0`.

    Example:

    ```python
    model = tlkeras.build("gin", head="graph_classifier", num_classes=2, input_dim=7)
    model.fit(graph_dataset(graphs, labels, batch_size=32), epochs=5)
    ```
    """

    pooled = False
    modalities = ("graph",)
    uses_model_inputs = True

    def __init__(self, num_classes, readout="mean", **kwargs):
        super().__init__(num_classes, **kwargs)
        # === Layers ===
        self.readout = GraphReadout(readout, name="readout", **_inherit(self))

    def build(self, input_shape):
        self.readout.build(input_shape)
        super().build(input_shape)

    def call(self, inputs, model_inputs=None, training=None):
        if not isinstance(model_inputs, dict) or not {GRAPH_IDS, GRAPH_SIZES} <= set(model_inputs):
            raise ValueError(
                f"GraphClassifierHead needs the model inputs with {GRAPH_IDS!r} and "
                f"{GRAPH_SIZES!r} (tlkeras.build passes them). Received: model_inputs={model_inputs!r}"
            )
        graphs = self.readout(inputs, model_inputs[GRAPH_IDS], model_inputs[GRAPH_SIZES])
        return super().call(graphs, training=training)

    def compute_output_spec(self, inputs, model_inputs=None, training=None):
        # One row per graph, not per node; float32 like every head.
        sizes = (model_inputs or {}).get(GRAPH_SIZES)
        num_graphs = None if sizes is None else sizes.shape[0]
        return keras.KerasTensor((num_graphs, self.dense.units), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "readout": self.readout.mode}
