"""NodeClassifierHead: one prediction per node."""

import keras

from tlkeras.heads import ClassifierHead


@keras.saving.register_keras_serializable(package="tlkeras_gnn")
class NodeClassifierHead(ClassifierHead):
    """Dropout -> Dense(num_classes) on each node embedding (no pooling).

    Registered as `head="node_classifier"`. Labels are one per node of the
    batch; for semi-supervised node classification give unlabelled nodes
    `sample_weight` 0 (see `tlkeras_gnn.node_dataset`).

    Args:
        num_classes: number of classes, an int >= 2.
        multi_label: independent sigmoids instead of a softmax. Defaults to
            `False`.
        dropout: dropout before the Dense layer. Defaults to `0.0`.

    Example:

    ```python
    model = tlkeras.build("gcn", head="node_classifier", num_classes=2, input_dim=34)
    ```
    """

    pooled = False
    modalities = ("graph",)
