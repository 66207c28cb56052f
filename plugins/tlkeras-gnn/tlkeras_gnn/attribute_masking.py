"""AttributeMasking: self-supervised GNN pre-training by masked node attributes (Hu et al. 2020)."""

import keras
from keras import ops

from tlkeras_gnn.graph_batch import NODE_FEATURES
from tlkeras_gnn.segment_ops import num_rows


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class AttributeMasking(keras.Model):
    """Hides the features of random nodes and trains the backbone to restore them.

    Each step draws a fresh mask: a `mask_rate` share of the nodes get all-zero
    features, the backbone embeds the masked graph, and a linear decoder
    predicts the hidden features from the embeddings. The loss is the cosine
    distance on the masked nodes only (scale-free, so it suits normalised
    bag-of-words features as well as one-hots), which the model can only
    lower by reading a node's neighbourhood: that is what transfers. Unlabelled
    graphs are enough; `fit` takes batches with no targets.

    Strategies for Pre-training Graph Neural Networks (Hu et al., ICLR 2020)
    predict categorical attributes with a cross-entropy; the cosine loss here
    is the continuous-feature variant (as in GraphMAE, Hou et al. 2022).

    Args:
        backbone: a `GraphBackbone` (e.g. `tlkeras.builder.get_backbone("gcn", ...)`).
        mask_rate: share of nodes masked per step, in (0, 1). Defaults to
            `0.15`.
        seed: seed of the masks. Defaults to `None`.

    Example:

    ```python
    backbone = get_backbone("gcn", input_dim=256, weights=None)
    pretrainer = AttributeMasking(backbone)
    pretrainer.compile(optimizer="adam")
    pretrainer.fit(node_dataset_without_labels.repeat(), steps_per_epoch=1, epochs=50)
    backbone.save_weights("gcn_wordnet.weights.h5")
    model = tlkeras.build("gcn", head="node_classifier", num_classes=45, input_dim=256,
                          weights="gcn_wordnet.weights.h5", freeze=False)
    ```
    """

    def __init__(self, backbone, mask_rate=0.15, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < float(mask_rate) < 1.0:
            raise ValueError(f"mask_rate must be in (0, 1). Received: mask_rate={mask_rate!r}")
        self.backbone = backbone
        self.mask_rate = float(mask_rate)
        # === Layers ===
        self.decoder = keras.layers.Dense(backbone.input_dim, name="decoder")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        features = inputs[NODE_FEATURES]
        draws = keras.random.uniform((num_rows(features),), seed=self.seed_generator)
        mask = ops.cast(draws < self.mask_rate, features.dtype)
        masked = features * (1.0 - mask[:, None])
        embeddings = self.backbone({**inputs, NODE_FEATURES: masked}, training=training)
        return {"reconstruction": self.decoder(embeddings), "mask": mask, "target": features}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        reconstruction, target = y_pred["reconstruction"], y_pred["target"]
        cosine = ops.sum(reconstruction * target, axis=-1) / (
            ops.norm(reconstruction, axis=-1) * ops.norm(target, axis=-1) + 1e-8
        )
        mask = y_pred["mask"]
        return ops.sum((1.0 - cosine) * mask) / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "mask_rate": self.mask_rate,
        }

    @classmethod
    def from_config(cls, config):
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
