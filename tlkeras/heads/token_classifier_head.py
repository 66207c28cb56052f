"""Token classification head: one label per token (tagging)."""

import keras

from tlkeras.heads.classifier_head import ClassifierHead


@keras.saving.register_keras_serializable(package="tlkeras")
class TokenClassifierHead(ClassifierHead):
    """Dropout -> Dense(num_classes) softmax applied to every token.

    Takes the backbone's token sequence, not pooled features (`pooled =
    False`), and outputs `(batch, sequence_length, num_classes)`. The
    sequence's padding mask passes through, so the "auto" loss and accuracy
    count real tokens only: labels at padded positions may hold any value.
    Labels are per token as the backbone tokenizes (`backbone.tokenize(texts)`
    shows the positions, start token first).

    Args:
        num_classes: number of tags; an int >= 2.
        dropout: dropout rate before the Dense layer. Defaults to `0.0`.

    Example:

    ```python
    model = tlkeras.build("bert", head="token_classifier", num_classes=9)
    ```
    """

    pooled = False
    # Backbones whose features fit this head; build() refuses the others.
    modalities = ("text",)

    def __init__(self, num_classes, dropout=0.0, **kwargs):
        kwargs.pop("multi_label", None)
        super().__init__(num_classes, multi_label=False, dropout=dropout, **kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.pop("multi_label")
        return config
