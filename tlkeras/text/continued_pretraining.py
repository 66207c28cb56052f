"""Domain-adaptive language-model pre-training of a text transformer (ULMFiT's middle stage)."""

import keras
import numpy as np

from tlkeras.backbones.lookup import get_backbone
from tlkeras.errors import ConfigurationError
from tlkeras.text.language_model_pretrainer import LANGUAGE_MODEL_TASKS
from tlkeras.text.language_model_pretrainer import OBJECTIVE_LABELS


def continue_pretraining(
    backbone,
    texts,
    *,
    objective="auto",
    epochs=1,
    batch_size=32,
    learning_rate=5e-5,
    mask_rate=None,
    checkpoint_dir=None,
    seed=0,
    callbacks=None,
    verbose="auto",
    **backbone_kwargs,
):
    """Continues language-model pre-training on unlabeled `texts`; returns the adapted backbone.

    Runs `tlkeras.pretrain` with a text objective (a `LanguageModelPretrainer`
    over keras-hub's own task and preprocessor) and AdamW at a constant
    `learning_rate`:

    - `"masked_lm"` for BERT, DistilBERT and RoBERTa: 15% of the tokens are
      selected, 80% of those replaced by the mask token, 10% by a random
      token, and the encoder learns to predict the originals;
    - `"next_token"` for GPT-2: every token predicts the next one (keras-hub's
      `CausalLM`), ULMFiT's language-model fine-tuning.

    The transformer's weights are updated in place, so the returned backbone
    is the one passed (or built) with domain-adapted weights, ready for
    `tlkeras.build(backbone, ...)`; `backbone.save_to_preset(folder)` keeps
    it as a keras-hub preset that `build(name, weights=folder)` loads.

    Args:
        backbone: a text transformer backbone (`"bert"`, `"distilbert"`,
            `"roberta"`, `"gpt2"`) or its registered name.
        texts: unlabeled strings (a list, a NumPy array or a
            `tf.data.Dataset` of strings). Lists and arrays are shuffled anew
            each epoch from `(seed, epoch)` and the last partial batch is
            dropped; a dataset is shuffled with a buffer of 10,000.
        objective: `"masked_lm"`, `"next_token"`, or `"auto"`: the one the
            backbone's transformer was pre-trained with. Defaults to `"auto"`.
        epochs: passes over `texts`. Defaults to `1`.
        batch_size: texts per step. Defaults to `32`.
        learning_rate: AdamW learning rate. Defaults to `5e-5`.
        mask_rate: share of tokens selected for prediction, masked LM only.
            Defaults to `None` (`0.15`).
        checkpoint_dir: folder for per-epoch checkpoints; a later call with
            the same folder and settings resumes after the last finished
            epoch. Defaults to `None` (no checkpoints).
        seed: seed of the data order and the masks. Defaults to `0`.
        callbacks: Keras callbacks for the pre-training `fit()` (e.g. a
            `keras.callbacks.History` to read the loss). Defaults to `None`.
        verbose: passed to `fit()` (a progress bar with the loss and the
            token accuracy). Defaults to `"auto"`.
        **backbone_kwargs: passed to the factory when `backbone` is a name
            (`weights=`, `sequence_length=`, ...).

    Returns:
        The `TransformerBackbone`, its `weights_source` noting the
        continued pre-training and its `pretraining_info` the per-epoch
        history.

    Example:

    ```python
    backbone = tlkeras.text.continue_pretraining(
        "gpt2", unlabeled_texts, weights="presets/gpt2", epochs=2
    )
    backbone.save_to_preset("presets/gpt2_adapted")
    model = tlkeras.build("gpt2", weights="presets/gpt2_adapted", num_classes=45,
                          pooling="last", freeze=False)
    ```
    """
    import tensorflow as tf

    from tlkeras.pretrain import pretrain

    backbone = get_backbone(backbone, **backbone_kwargs)
    objective = _resolve_objective(objective, backbone)
    objective_kwargs = {} if mask_rate is None else {"mask_rate": mask_rate}
    if isinstance(texts, tf.data.Dataset):
        count = int(texts.cardinality())
        texts = texts.shuffle(10_000, seed=seed).batch(batch_size)
    else:
        texts = np.asarray(list(texts), dtype=object)
        count = len(texts)
    pretrain(
        backbone,
        texts,
        objective=objective,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate),
        checkpoint_dir=checkpoint_dir,
        seed=seed,
        callbacks=callbacks,
        verbose=verbose,
        **objective_kwargs,
    )
    backbone.weights_source = (
        f"{backbone.weights_source or 'random'} + {OBJECTIVE_LABELS[objective]} on "
        f"{count} texts x {epochs} epochs"
    )
    return backbone


def _resolve_objective(objective, backbone):
    """`"auto"` -> the objective whose keras-hub task fits the backbone's transformer."""
    if objective != "auto":
        return objective
    encoder_class = type(getattr(backbone, "encoder", None)).__name__
    for name, tasks in LANGUAGE_MODEL_TASKS.items():
        if encoder_class in tasks:
            return name
    known = sorted(c for tasks in LANGUAGE_MODEL_TASKS.values() for c in tasks)
    raise ConfigurationError(
        f"Language-model pre-training needs a text transformer backbone with one of the "
        f"keras-hub models {known}. Received: backbone={getattr(backbone, 'name', backbone)!r} "
        f"({type(backbone).__name__}, transformer {encoder_class})"
    )
