"""GraphContrastive: graph-level self-supervised pre-training by contrasting two augmented views."""

import keras
from keras import ops

from tlkeras.pretrain.nt_xent import nt_xent as simclr_nt_xent
from tlkeras_gnn.graph_batch import EDGE_INDEX
from tlkeras_gnn.graph_batch import GRAPH_IDS
from tlkeras_gnn.graph_batch import GRAPH_SIZES
from tlkeras_gnn.graph_batch import NODE_FEATURES
from tlkeras_gnn.graph_readout import GraphReadout
from tlkeras_gnn.segment_ops import num_rows


def nt_xent(z1, z2, temperature=0.5):
    """The NT-Xent (normalised temperature-scaled cross-entropy) loss of SimCLR / GraphCL.

    Row `i` of `z1` and row `i` of `z2` are two views of the same graph (a
    positive pair); the other `2 * (batch - 1)` rows of both are its
    negatives. Rows are L2-normalised, similarities divided by `temperature`,
    and the loss is the mean over all `2 * batch` anchors of the cross-entropy
    of picking the positive among all other rows.

    Args:
        z1: `(batch, d)` embeddings of the first views.
        z2: `(batch, d)` embeddings of the second views.
        temperature: softmax temperature, `> 0`. Defaults to `0.5`.

    Returns:
        A scalar loss.

    Example:

    ```python
    loss = nt_xent(projections_view_1, projections_view_2, temperature=0.2)
    ```
    """
    # One NT-Xent for tlkeras: the image SimCLR loss, at GraphCL's default temperature.
    return simclr_nt_xent(z1, z2, temperature=temperature)


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class GraphContrastive(keras.Model):
    """Graph-level contrastive pre-training (GraphCL, You et al. 2020) of a GNN backbone.

    Each step makes two random views of every graph of the batch: a
    `feature_mask_rate` share of nodes gets all-zero features and an
    `edge_drop_rate` share of edges is dropped, both on the disjoint-union
    batch (a dropped edge is redirected to one extra isolated node, so no
    shape is data-dependent and there is never a dense adjacency). The
    backbone embeds both views, a readout pools each graph, a two-layer
    projection head maps the graph vectors, and the NT-Xent loss pulls the two
    views of a graph together and pushes the other graphs of the batch away.
    Unlabelled graphs are enough; `fit` takes batches with no targets (use
    batches of several graphs: the other graphs are the negatives).

    It is the graph-level companion of `AttributeMasking`: Strategies for
    Pre-training Graph Neural Networks (Hu et al., ICLR 2020) pair node-level
    with graph-level pre-training; their graph-level step is supervised
    multi-task, this one needs no labels.

    Args:
        backbone: a `GraphBackbone` (e.g. `tlkeras.builder.get_backbone("gin", ...)`).
        feature_mask_rate: share of nodes whose features are zeroed per view,
            in `[0, 1)`. Defaults to `0.2`.
        edge_drop_rate: share of edges dropped per view, in `[0, 1)`.
            Defaults to `0.2`.
        temperature: NT-Xent temperature, `> 0`. Defaults to `0.5`.
        projection_dim: width of the projection head. Defaults to `64`.
        readout: graph pooling, `"sum"`, `"mean"`, `"max"` or `"attention"`.
            Defaults to `"mean"`.
        seed: seed of the augmentations. Defaults to `None`.

    Example:

    ```python
    backbone = get_backbone("gin", input_dim=8, weights=None)
    pretrainer = GraphContrastive(backbone, temperature=0.5)
    pretrainer.compile(optimizer="adam")
    pretrainer.fit(graph_dataset(unlabelled_graphs, batch_size=64, shuffle=True), epochs=20)
    backbone.save_weights("gin_graphcl.weights.h5")
    model = tlkeras.build("gin", head="graph_classifier", num_classes=2, input_dim=8,
                          weights="gin_graphcl.weights.h5", freeze=False)
    ```
    """

    def __init__(
        self,
        backbone,
        feature_mask_rate=0.2,
        edge_drop_rate=0.2,
        temperature=0.5,
        projection_dim=64,
        readout="mean",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, rate in [
            ("feature_mask_rate", feature_mask_rate),
            ("edge_drop_rate", edge_drop_rate),
        ]:
            if not 0.0 <= float(rate) < 1.0:
                raise ValueError(f"{name} must be in [0, 1). Received: {name}={rate!r}")
        if not float(temperature) > 0.0:
            raise ValueError(f"temperature must be > 0. Received: temperature={temperature!r}")
        if int(projection_dim) < 1:
            raise ValueError(
                f"projection_dim must be a positive int. Received: projection_dim={projection_dim!r}"
            )
        self.backbone = backbone
        self.feature_mask_rate = float(feature_mask_rate)
        self.edge_drop_rate = float(edge_drop_rate)
        self.temperature = float(temperature)
        self.projection_dim = int(projection_dim)
        self.readout_mode = readout
        # === Layers ===
        self.readout = GraphReadout(readout, name="readout")
        self.projection = keras.Sequential(
            [
                keras.layers.Dense(self.projection_dim, activation="relu"),
                keras.layers.Dense(self.projection_dim),
            ],
            name="projection",
        )
        self.seed_generator = keras.random.SeedGenerator(seed)

    def augment(self, inputs):
        """One random view of a batch: masked node features and dropped edges.

        The view has one extra isolated node (zero features, its own graph id)
        at the end that receives the dropped edges; its embedding is not read
        out, and `graph_sizes` stays that of the real graphs. Call it twice
        for two independent views.

        Args:
            inputs: a graph batch dict (`tlkeras_gnn.graph_batch`).

        Returns:
            A graph batch dict with `num_nodes + 1` nodes and as many edges.
        """
        features, edge_index = inputs[NODE_FEATURES], inputs[EDGE_INDEX]
        graph_ids = inputs[GRAPH_IDS]
        num_nodes = num_rows(features)
        draws = keras.random.uniform((num_nodes,), seed=self.seed_generator)
        keep_node = ops.cast(draws >= self.feature_mask_rate, features.dtype)
        features = ops.concatenate(
            [features * keep_node[:, None], ops.zeros_like(features[:1])], axis=0
        )
        edge_draws = keras.random.uniform((ops.shape(edge_index)[1],), seed=self.seed_generator)
        spare = ops.cast(num_nodes, edge_index.dtype)
        edge_index = ops.where(
            (edge_draws >= self.edge_drop_rate)[None, :],
            edge_index,
            ops.zeros_like(edge_index) + spare,
        )
        spare_graph = ops.cast(ops.max(graph_ids) + 1, graph_ids.dtype)
        graph_ids = ops.concatenate([graph_ids, ops.reshape(spare_graph, (1,))], axis=0)
        return {
            NODE_FEATURES: features,
            EDGE_INDEX: edge_index,
            GRAPH_IDS: graph_ids,
            GRAPH_SIZES: ops.convert_to_tensor(inputs[GRAPH_SIZES]),
        }

    def embed(self, inputs, training=False):
        """Projected graph vectors `(num_graphs, projection_dim)` of a (view) batch.

        A batch from `augment` (one node more than its graph ids) has its
        spare node dropped before the readout.
        """
        embeddings = self.backbone(inputs, training=training)
        graph_ids = inputs[GRAPH_IDS]
        real = num_rows(graph_ids) - 1
        graph_vectors = self.readout(embeddings[:real], graph_ids[:real], inputs[GRAPH_SIZES])
        return self.projection(graph_vectors, training=training)

    def call(self, inputs, training=False):
        view_1 = self.embed(self.augment(inputs), training=training)
        view_2 = self.embed(self.augment(inputs), training=training)
        return {"view_1": view_1, "view_2": view_2}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return nt_xent(y_pred["view_1"], y_pred["view_2"], self.temperature)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "feature_mask_rate": self.feature_mask_rate,
            "edge_drop_rate": self.edge_drop_rate,
            "temperature": self.temperature,
            "projection_dim": self.projection_dim,
            "readout": self.readout_mode,
        }

    @classmethod
    def from_config(cls, config):
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
