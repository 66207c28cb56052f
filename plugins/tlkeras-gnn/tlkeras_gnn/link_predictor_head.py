"""LinkPredictorHead: scores node pairs with a dot product of projected embeddings."""

import keras
import numpy as np
from keras import ops

from tlkeras.heads.head import DenseHead


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class LinkPredictorHead(DenseHead):
    """Projects node embeddings; a pair `(u, v)` scores `sigmoid(z_u . z_v)`.

    Registered as `head="link_predictor"`. The model outputs the projected
    node embeddings `z` `(num_nodes, units)`; the pairs to score travel in the
    targets, so any number of positive and negative pairs per batch trains
    with a plain `fit()` and never enters message passing. A target is an
    int array `(num_pairs, 3)` of rows `(u, v, label)`, label 1 for an edge
    and 0 for a non-edge (see `link_targets`). The "auto" loss is
    `LinkPredictionLoss`, the metric `LinkAUC`.

    Args:
        units: width of the projected embeddings. Defaults to `64`.
        dropout: dropout before the projection. Defaults to `0.0`.

    Example:

    ```python
    model = tlkeras.build("graphsage", head="link_predictor", input_dim=34)
    model.fit(tf.data.Dataset.from_tensors((batch, link_targets(pos, neg))), epochs=50)
    probabilities = LinkPredictorHead.score(model(batch), test_pairs)
    ```
    """

    pooled = False
    modalities = ("graph",)

    def __init__(self, units=64, dropout=0.0, **kwargs):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be an integer >= 1. Received: units={units!r}")
        super().__init__(units, activation=None, dropout=dropout, **kwargs)
        self.units = units

    @staticmethod
    def score(embeddings, pairs):
        """Edge probabilities `(num_pairs,)` of `pairs` `(num_pairs, 2+)` (u, v first)."""
        return ops.sigmoid(_logits(embeddings, pairs))

    def default_loss(self):
        return LinkPredictionLoss()

    def default_metrics(self):
        return [LinkAUC(name="auc")]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "dropout": self.dropout}


def _logits(embeddings, pairs):
    pairs = ops.cast(pairs, "int32")
    senders = ops.take(embeddings, pairs[:, 0], axis=0)
    receivers = ops.take(embeddings, pairs[:, 1], axis=0)
    return ops.sum(senders * receivers, axis=-1)


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class LinkPredictionLoss(keras.losses.Loss):
    """Binary cross-entropy of `sigmoid(z_u . z_v)` against the pair labels.

    `y_true` is `(num_pairs, 3)` rows `(u, v, label)`; `y_pred` the node
    embeddings `(num_nodes, d)`.
    """

    def __init__(self, name="link_prediction_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true[:, 2], "float32")
        return ops.binary_crossentropy(labels, _logits(y_pred, y_true), from_logits=True)


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class LinkAUC(keras.metrics.AUC):
    """ROC AUC of the pair scores, with targets and outputs as in `LinkPredictionLoss`."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = ops.cast(y_true[:, 2], "float32")
        return super().update_state(labels, LinkPredictorHead.score(y_pred, y_true), sample_weight)


def link_targets(positive_pairs, negative_pairs):
    """Stacks `(2, p)` positive and `(2, q)` negative pairs into `(p + q, 3)` targets."""
    positive = np.asarray(positive_pairs, "int32").reshape(2, -1)
    negative = np.asarray(negative_pairs, "int32").reshape(2, -1)
    labels = np.concatenate([np.ones(positive.shape[1]), np.zeros(negative.shape[1])])
    return np.concatenate(
        [np.concatenate([positive, negative], axis=1), labels[None].astype("int32")]
    ).T


def negative_pairs(edge_index, num_nodes, count, seed=None):
    """`(2, count)` random node pairs that are not edges of `edge_index` (nor self-loops)."""
    rng = np.random.default_rng(seed)
    existing = set(zip(*np.asarray(edge_index).tolist(), strict=True))
    pairs = []
    # Rejection sampling: sparse graphs reject few candidates.
    while len(pairs) < count:
        u, v = (int(i) for i in rng.integers(0, num_nodes, size=2))
        if u != v and (u, v) not in existing:
            pairs.append((u, v))
    return np.asarray(pairs, "int32").T.reshape(2, count)
