"""Next-token continued pre-training of GPT-2 through keras-hub's CausalLM, then build() fine-tunes it."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.pretrain import list_objectives

# Lowercase words only: the tiny GPT-2's byte-pair vocabulary (conftest.py) covers them.
TINY_CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the rug",
    "a cat chased a mouse",
    "a dog chased the cat",
] * 8


def _weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def test_next_token_training_lowers_the_loss_and_build_loads_the_moved_weights(
    tiny_gpt2_preset, tmp_path
):
    backbone = tlkeras.get_backbone("gpt2", weights=tiny_gpt2_preset, sequence_length=12)
    before = _weights(backbone)
    pretrainer = tlkeras.text.LanguageModelPretrainer(backbone, objective="next_token")
    # Eager steps: tracing the tokenizer and train step would take longer than the training.
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-2), run_eagerly=True)
    batch = tf.constant(TINY_CORPUS[:8])

    def loss():
        return float(pretrainer.compute_loss(y_pred=pretrainer(batch)))

    initial = loss()
    for _ in range(6):
        pretrainer.train_on_batch(batch)
    # Random init predicts ~ln(45) = 3.8 nats per token; these 8 texts have a few dozen bigrams.
    # (Deterministic: the preset's dropout is 0; measured 3.58 -> 2.92 after 5 steps.)
    assert loss() < 0.85 * initial, (initial, loss())
    after = _weights(backbone)
    moved = [not np.array_equal(a, b) for a, b in zip(before, after, strict=True)]
    assert all(moved), [v.path for v, m in zip(backbone.weights, moved, strict=True) if not m]

    folder = backbone.save_to_preset(tmp_path / "adapted")
    model = tlkeras.build("gpt2", weights=folder, sequence_length=12, num_classes=2)
    for ours, loaded in zip(after, _weights(model.backbone), strict=True):
        np.testing.assert_array_equal(ours, loaded)


@pytest.mark.slow  # ~60 s of CPU: traces the tokenizing train step, then a classifier's
def test_continue_pretraining_checkpoints_and_build_fine_tunes_the_result(
    tiny_gpt2_preset, tmp_path
):
    backbone = tlkeras.get_backbone("gpt2", weights=tiny_gpt2_preset, sequence_length=12)
    before = _weights(backbone)
    history = keras.callbacks.History()
    adapted = tlkeras.text.continue_pretraining(
        backbone,
        TINY_CORPUS,
        epochs=4,
        batch_size=8,
        learning_rate=1e-2,
        checkpoint_dir=tmp_path / "checkpoints",
        callbacks=[history],
        verbose=0,
    )
    assert adapted is backbone
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
    assert adapted.pretraining_info["objective"] == "next_token"
    assert adapted.pretraining_info["history"]["loss"] == losses
    assert "next-token LM on 32 texts x 4 epochs" in adapted.weights_source
    assert os.path.isfile(tmp_path / "checkpoints" / "state.json")
    assert not np.array_equal(before[0], _weights(adapted)[0])

    folder = adapted.save_to_preset(tmp_path / "adapted")
    model = tlkeras.build(
        "gpt2", weights=folder, sequence_length=12, num_classes=2, pooling="last", freeze=False
    )
    for ours, loaded in zip(_weights(adapted), _weights(model.backbone), strict=True):
        np.testing.assert_array_equal(ours, loaded)
    result = model.fit(np.array(TINY_CORPUS[:4], dtype=object), np.array([0, 1, 0, 1]), verbose=0)
    assert np.isfinite(result.history["loss"][-1])


def test_text_objectives_are_in_the_pretrain_registry():
    assert list_objectives("text") == ["masked_lm", "next_token"]


def test_next_token_on_a_masked_lm_encoder_is_refused():
    with pytest.raises(ConfigurationError, match="Received: backbone='bert'") as error:
        tlkeras.text.continue_pretraining(
            "bert", TINY_CORPUS, objective="next_token", weights=None, sequence_length=8
        )
    assert "objective='masked_lm'" in str(error.value)


def test_mask_rate_with_next_token_is_refused(tiny_gpt2_preset):
    backbone = tlkeras.get_backbone("gpt2", weights=tiny_gpt2_preset, sequence_length=8)
    with pytest.raises(ConfigurationError, match="Received: mask_rate=0.3"):
        tlkeras.text.continue_pretraining(backbone, TINY_CORPUS, mask_rate=0.3)


def test_an_unknown_text_objective_is_refused(tiny_gpt2_preset):
    backbone = tlkeras.get_backbone("gpt2", weights=tiny_gpt2_preset, sequence_length=8)
    with pytest.raises(ConfigurationError, match="Received: objective='next_word'"):
        tlkeras.pretrain(backbone, np.array(TINY_CORPUS, dtype=object), objective="next_word")
