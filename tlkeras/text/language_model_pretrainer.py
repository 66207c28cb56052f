"""LanguageModelPretrainer: masked-LM or next-token pre-training of a text transformer backbone."""

import keras
from keras import ops

from tlkeras.errors import ConfigurationError

# keras-hub transformer class -> (its language-model task, that task's preprocessor), per objective.
LANGUAGE_MODEL_TASKS = {
    "masked_lm": {
        "BertBackbone": ("BertMaskedLM", "BertMaskedLMPreprocessor"),
        "DistilBertBackbone": ("DistilBertMaskedLM", "DistilBertMaskedLMPreprocessor"),
        "RobertaBackbone": ("RobertaMaskedLM", "RobertaMaskedLMPreprocessor"),
    },
    "next_token": {
        "GPT2Backbone": ("GPT2CausalLM", "GPT2CausalLMPreprocessor"),
    },
}
OBJECTIVE_LABELS = {"masked_lm": "masked-LM", "next_token": "next-token LM"}


@keras.saving.register_keras_serializable(package="tlkeras")
class LanguageModelPretrainer(keras.Model):
    """Trains a text transformer backbone as a language model on raw strings.

    Wraps the backbone's keras-hub transformer in keras-hub's own task and
    preprocessor for the objective, over the backbone's tokenizer and
    sequence length:

    - `"masked_lm"` (BERT, DistilBERT, RoBERTa): `MaskedLM` with its
      `MaskedLMPreprocessor`. `mask_rate` of the tokens are selected, 80% of
      those replaced by the mask token, 10% by a random token, and the model
      predicts the originals.
    - `"next_token"` (GPT-2): `CausalLM` with its `CausalLMPreprocessor`. The
      packed text shifted by one token is the target; every real position
      predicts the token after it (ULMFiT's language-model stage).

    The strings are tokenized inside the step, so `fit()` takes batches of
    raw strings with no targets, as `tlkeras.pretrain` feeds them; XLA is off
    by default because tokenizing is string work. The loss is the mean
    cross-entropy over the predicted tokens; `accuracy` is the share of them
    predicted right. The task's output layer is the tied token embedding
    (GPT-2) or an extra head (masked LM) that is discarded afterwards: only
    `backbone` transfers, its weights updated in place.

    Args:
        backbone: a `tlkeras` text transformer backbone (`"bert"`,
            `"distilbert"`, `"roberta"`, `"gpt2"`).
        objective: `"masked_lm"` or `"next_token"`. Defaults to `"next_token"`.
        mask_rate: share of tokens selected for prediction (masked LM only).
            Defaults to `None` (`0.15` for masked LM).
        seed: unused: the masks draw from the global seed that
            `tlkeras.pretrain` sets. Accepted for the objective-factory
            contract. Defaults to `None`.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    pretrainer = LanguageModelPretrainer(tlkeras.get_backbone("gpt2", weights=folder))
    pretrainer.compile(optimizer=keras.optimizers.AdamW(5e-5))
    pretrainer.fit(tf.data.Dataset.from_tensor_slices(texts).batch(16), epochs=2)
    ```
    """

    def __init__(self, backbone, objective="next_token", mask_rate=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        import keras_hub
        import tensorflow as tf

        task_name, preprocessor_name = _task_names(backbone, objective)
        preprocessor_class = getattr(keras_hub.models, preprocessor_name)
        if objective == "masked_lm":
            rate = 0.15 if mask_rate is None else mask_rate
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
                raise ConfigurationError(
                    f"mask_rate must be in (0, 1). Received: mask_rate={mask_rate!r}"
                )
            preprocessor = preprocessor_class(
                tokenizer=backbone.tokenizer,
                sequence_length=backbone.sequence_length,
                mask_selection_rate=rate,
                mask_selection_length=max(1, round(backbone.sequence_length * rate * 2)),
            )
        else:
            if mask_rate is not None:
                raise ConfigurationError(
                    "mask_rate applies to objective='masked_lm'; next-token prediction "
                    f"predicts every token. Received: mask_rate={mask_rate!r}, "
                    f"objective={objective!r}"
                )
            preprocessor = preprocessor_class(
                tokenizer=backbone.tokenizer, sequence_length=backbone.sequence_length
            )
        self.backbone = backbone
        self.objective = objective
        self.mask_rate = mask_rate
        self.seed = seed
        # === Layers ===
        self.preprocessor = preprocessor
        self.task = getattr(keras_hub.models, task_name)(
            backbone=backbone.encoder, preprocessor=None
        )
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        # keras-hub preprocessors return Python lists when called eagerly (a
        # first call that builds the model, predict on a few strings); in a
        # graph they return the tensors the task takes.
        self._graph_preprocessor = tf.function(preprocessor, reduce_retracing=True)

    def preprocess(self, texts):
        """`(inputs, target token ids, target weights)` for a batch of strings."""
        import tensorflow as tf

        texts = tf.reshape(tf.convert_to_tensor(texts, dtype=tf.string), [-1])
        return self._graph_preprocessor(texts)

    def call(self, texts, training=False):
        inputs, targets, weights = self.preprocess(texts)
        logits = self.task(inputs, training=training)
        return {"logits": logits, "targets": targets, "weights": weights}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        logits = ops.cast(y_pred["logits"], "float32")
        targets = y_pred["targets"]
        weights = ops.cast(y_pred["weights"], "float32")
        losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        count = ops.maximum(ops.sum(weights), 1.0)
        hits = ops.cast(
            ops.equal(ops.argmax(logits, axis=-1), ops.cast(targets, "int64")), "float32"
        )
        self.accuracy_tracker.update_state(ops.sum(hits * weights) / count)
        return ops.sum(losses * weights) / count

    def compile(self, optimizer="adam", jit_compile=False, **kwargs):
        """As `keras.Model.compile`, with XLA off: the step tokenizes strings."""
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "objective": self.objective,
            "mask_rate": self.mask_rate,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def masked_lm(backbone, seed=None, mask_rate=None):
    """The `"masked_lm"` objective of `tlkeras.pretrain` for text backbones."""
    return LanguageModelPretrainer(backbone, "masked_lm", mask_rate=mask_rate, seed=seed)


def next_token(backbone, seed=None, mask_rate=None):
    """The `"next_token"` objective of `tlkeras.pretrain` for text backbones."""
    # mask_rate is taken only to be refused by name: next-token prediction masks nothing.
    return LanguageModelPretrainer(backbone, "next_token", mask_rate=mask_rate, seed=seed)


def _task_names(backbone, objective):
    from tlkeras.backbones.transformer_backbone import TransformerBackbone

    if objective not in LANGUAGE_MODEL_TASKS:
        raise ConfigurationError(
            f"Unknown language-model objective. Received: objective={objective!r}; "
            f"expected one of {sorted(LANGUAGE_MODEL_TASKS)}."
        )
    tasks = LANGUAGE_MODEL_TASKS[objective]
    encoder_class = type(getattr(backbone, "encoder", None)).__name__
    if not isinstance(backbone, TransformerBackbone) or encoder_class not in tasks:
        others = [name for name, table in LANGUAGE_MODEL_TASKS.items() if encoder_class in table]
        hint = f"; this one supports objective={others[0]!r}" if others else ""
        raise ConfigurationError(
            f"objective={objective!r} needs a text transformer backbone with one of the "
            f"keras-hub models {sorted(tasks)}{hint}. Received: "
            f"backbone={getattr(backbone, 'name', backbone)!r} "
            f"({type(backbone).__name__}, transformer {encoder_class})"
        )
    return tasks[encoder_class]
