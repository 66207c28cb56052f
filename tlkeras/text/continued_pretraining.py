"""Domain-adaptive masked-language-model pre-training of a text transformer (ULMFiT's middle stage)."""

import keras

from tlkeras.errors import ConfigurationError

# keras-hub encoder class -> (its MaskedLM task, that task's preprocessor).
MASKED_LM_TASKS = {
    "BertBackbone": ("BertMaskedLM", "BertMaskedLMPreprocessor"),
    "DistilBertBackbone": ("DistilBertMaskedLM", "DistilBertMaskedLMPreprocessor"),
    "RobertaBackbone": ("RobertaMaskedLM", "RobertaMaskedLMPreprocessor"),
}


def continue_pretraining(
    backbone,
    texts,
    *,
    epochs=1,
    batch_size=32,
    learning_rate=5e-5,
    mask_rate=0.15,
    callbacks=None,
    verbose="auto",
    **backbone_kwargs,
):
    """Continues masked-LM pre-training on unlabeled `texts`; returns the adapted backbone.

    Wraps the backbone's keras-hub encoder in keras-hub's own `MaskedLM`
    task (BERT, DistilBERT or RoBERTa) with its `MaskedLMPreprocessor` over
    the backbone's tokenizer: 15% of the tokens are selected, 80% of those
    replaced by the mask token, 10% by a random token, and the encoder learns
    to predict the originals. The encoder's weights are updated in place, so
    the returned backbone is the one passed (or built) with domain-adapted
    weights, ready for `tlkeras.build(backbone, ...)`.

    Args:
        backbone: a text transformer backbone (`"bert"`, `"distilbert"`,
            `"roberta"`) or its registered name.
        texts: unlabeled strings (a list, a NumPy array or a
            `tf.data.Dataset` of strings).
        epochs: passes over `texts`. Defaults to `1`.
        batch_size: texts per step. Defaults to `32`.
        learning_rate: AdamW learning rate. Defaults to `5e-5`.
        mask_rate: share of tokens selected for prediction. Defaults to `0.15`.
        callbacks: Keras callbacks for the pre-training `fit()` (e.g. a
            `keras.callbacks.History` to read the loss). Defaults to `None`.
        verbose: passed to `fit()`. Defaults to `"auto"`.
        **backbone_kwargs: passed to the factory when `backbone` is a name
            (`weights=`, `sequence_length=`, ...).

    Returns:
        The `TransformerBackbone`, its `weights_source` noting the
        continued pre-training.

    Example:

    ```python
    backbone = tlkeras.text.continue_pretraining(
        "bert", unlabeled_texts, weights="all-minilm-l6-v2", epochs=2
    )
    model = tlkeras.build(backbone, num_classes=45, freeze=False)
    ```
    """
    import keras_hub
    import tensorflow as tf

    from tlkeras.backbones.transformer_backbone import TransformerBackbone
    from tlkeras.builder import get_backbone

    backbone = get_backbone(backbone, **backbone_kwargs)
    encoder_class = type(getattr(backbone, "encoder", None)).__name__
    if not isinstance(backbone, TransformerBackbone) or encoder_class not in MASKED_LM_TASKS:
        raise ConfigurationError(
            "Masked-LM pre-training needs a text transformer backbone with one of the "
            f"encoders {sorted(MASKED_LM_TASKS)}. Received: backbone={backbone.name!r} "
            f"({type(backbone).__name__}, encoder {encoder_class})"
        )
    if not 0.0 < float(mask_rate) < 1.0:
        raise ConfigurationError(f"mask_rate must be in (0, 1). Received: mask_rate={mask_rate!r}")
    task_name, preprocessor_name = MASKED_LM_TASKS[encoder_class]
    preprocessor = getattr(keras_hub.models, preprocessor_name)(
        tokenizer=backbone.tokenizer,
        sequence_length=backbone.sequence_length,
        mask_selection_rate=mask_rate,
        mask_selection_length=max(1, round(backbone.sequence_length * mask_rate * 2)),
    )
    task = getattr(keras_hub.models, task_name)(
        backbone=backbone.encoder, preprocessor=preprocessor
    )
    task.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), dtype=tf.string))
    count = int(texts.cardinality())
    # The preprocessor masks anew each epoch, inside the input pipeline.
    data = texts.shuffle(max(1, min(count, 10_000)), seed=0).batch(batch_size)
    task.fit(data, epochs=epochs, callbacks=callbacks, verbose=verbose)
    backbone.weights_source = (
        f"{backbone.weights_source or 'random'} + masked-LM on {count} texts x {epochs} epochs"
    )
    return backbone
