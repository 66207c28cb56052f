"""Masked-LM continued pre-training through keras-hub, then build() fine-tunes the result."""

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import ConfigurationError

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the rug",
    "a cat chased a mouse",
    "a dog chased a cat",
] * 8


@pytest.mark.slow  # ~45 s of CPU: tracing keras-hub's masked-LM pipeline and train step
def test_masked_lm_lowers_its_loss_and_updates_the_encoder_in_place():
    backbone = tlkeras.get_backbone("bert", weights=None, sequence_length=24)
    embeddings = backbone.encoder.token_embedding.embeddings
    before = keras.ops.convert_to_numpy(embeddings).copy()
    history = keras.callbacks.History()
    adapted = tlkeras.text.continue_pretraining(
        backbone, CORPUS, epochs=6, batch_size=8, learning_rate=2e-3, callbacks=[history], verbose=0
    )
    assert adapted is backbone
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert not np.array_equal(before, keras.ops.convert_to_numpy(embeddings))
    assert "masked-LM on 32 texts" in adapted.weights_source
    model = tlkeras.build(adapted, num_classes=2, freeze=False)
    result = model.fit(np.array(CORPUS[:4], dtype=object), np.array([0, 1, 0, 1]), verbose=0)
    assert np.isfinite(result.history["loss"][-1])


def test_a_backbone_without_masked_lm_is_refused():
    with pytest.raises(ConfigurationError, match="Received: backbone='word_vectors'"):
        tlkeras.text.continue_pretraining("word_vectors", CORPUS)
