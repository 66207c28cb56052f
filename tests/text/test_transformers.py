"""Text transformers: raw strings in, MiniLM against sentence-transformers, pooling, heads, LoRA."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.backbones.backbone import trainable_by_nature
from tlkeras.errors import ConfigurationError
from tlkeras.errors import WeightsError
from tlkeras.heads import TokenClassifierHead

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())
TEXTS = np.array(["a short text", "another, slightly longer piece of text here"], dtype=object)


@pytest.fixture(scope="module")
def minilm():
    return tlkeras.get_backbone("bert", weights="all-minilm-l6-v2")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _sentence_embeddings(backbone, texts, pooling="avg"):
    features = backbone(np.array(texts, dtype=object))
    pooled = _numpy(tlkeras.layers.SequencePooling(pooling)(features))
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_minilm_embeddings_match_sentence_transformers(minilm):
    embeddings = _sentence_embeddings(minilm, REFERENCE["sentences"])
    np.testing.assert_allclose(embeddings, np.array(REFERENCE["embeddings"]), rtol=0, atol=1e-4)


def test_minilm_tokenizes_like_hugging_face(minilm):
    tokens = minilm.tokenize(REFERENCE["sentences"])
    for expected, ids, mask in zip(
        REFERENCE["token_ids"], tokens["token_ids"], tokens["padding_mask"], strict=True
    ):
        assert ids[mask].tolist() == expected


def test_tokenizer_round_trip(minilm):
    sentence = "transfer learning reuses features ."
    ids = minilm.tokenize([sentence])["token_ids"][0]
    pieces = ids[1 : list(ids).index(minilm.tokenizer.end_token_id)]
    assert str(minilm.tokenizer.detokenize(pieces)) == sentence


def test_minilm_layer_groups_are_embeddings_then_blocks(minilm):
    groups = minilm.layer_groups
    assert len(groups) == 7
    assert {layer.name for layer in groups[0]} >= {"token_embedding", "position_embedding"}
    assert [group[0].name for group in groups[1:]] == [f"transformer_layer_{i}" for i in range(6)]
    # keras-hub's pooler dense, unused by the features, shares the last block's group.
    assert groups[-1][-1].name == "pooled_dense"


def test_mean_pooling_ignores_padding():
    short = tlkeras.get_backbone("bert", weights=None, sequence_length=64)
    long = tlkeras.get_backbone("bert", weights=None, sequence_length=96)
    long.set_weights(short.get_weights())
    for pooling in ("avg", "max", "cls"):
        np.testing.assert_allclose(
            _sentence_embeddings(short, TEXTS, pooling),
            _sentence_embeddings(long, TEXTS, pooling),
            atol=1e-5,
        )


def test_poolings_differ_and_a_bad_one_is_named():
    backbone = tlkeras.get_backbone("bert", weights=None)
    avg, cls = (_sentence_embeddings(backbone, TEXTS, p) for p in ("avg", "cls"))
    assert np.abs(avg - cls).max() > 1e-3
    with pytest.raises(ConfigurationError, match=r"Received: pooling='max2'; expected one of"):
        tlkeras.build(backbone, num_classes=2, pooling="max2")


def test_local_preset_round_trip(tmp_path):
    backbone = tlkeras.get_backbone("distilbert", weights=None)
    backbone.encoder.save_to_preset(str(tmp_path))
    backbone.tokenizer.save_to_preset(str(tmp_path))
    loaded = tlkeras.get_backbone("distilbert", weights=str(tmp_path))
    assert loaded.weights_source == str(tmp_path)
    np.testing.assert_allclose(_numpy(loaded(TEXTS)), _numpy(backbone(TEXTS)), atol=1e-6)


def test_preset_without_weights_gives_same_architecture_random(tmp_path):
    backbone = tlkeras.get_backbone("bert", weights=None, num_layers=3)
    backbone.encoder.save_to_preset(str(tmp_path))
    backbone.tokenizer.save_to_preset(str(tmp_path))
    scratch = tlkeras.get_backbone("bert", weights=None, preset=str(tmp_path))
    assert scratch.weights_source is None
    assert len(scratch.layer_groups) == len(backbone.layer_groups) == 4
    assert not np.allclose(_numpy(scratch(TEXTS)), _numpy(backbone(TEXTS)))


def test_bad_weights_name_the_value(tmp_path):
    with pytest.raises(WeightsError, match="Received: weights="):
        tlkeras.get_backbone("bert", weights=str(tmp_path))  # a folder with no config.json
    with pytest.raises(WeightsError, match=r"all-minilm-l6-v2.*Received: weights='no_such_bert'"):
        tlkeras.get_backbone("bert", weights="no_such_bert")
    with pytest.raises(ConfigurationError, match="num_layers"):
        tlkeras.get_backbone("bert", weights=str(tmp_path), num_layers=2)


@pytest.mark.slow  # three heads: the costliest trace here; the heads are tested on images too
def test_sequence_heads_single_multi_label_and_regression_train():
    # No dropout: with two examples, its noise could hide a few steps of progress.
    backbone = tlkeras.get_backbone("bert", weights=None, sequence_length=16, dropout=0.0)
    heads = {
        "topic": "classifier",
        "tags": tlkeras.heads.ClassifierHead(3, multi_label=True, name="tags"),
        "score": "regressor",
    }
    model = tlkeras.build(backbone, heads=heads, num_classes={"topic": 4}, freeze=False)
    outputs = model.predict(TEXTS, verbose=0)
    assert outputs["topic"].shape == (2, 4)
    assert outputs["tags"].shape == (2, 3)
    assert outputs["score"].shape == (2, 1)
    targets = {
        "topic": np.array([0, 3]),
        "tags": np.array([[1, 0, 1], [0, 1, 0]], dtype="float32"),
        "score": np.array([[0.2], [0.9]], dtype="float32"),
    }
    # A random post-LayerNorm encoder is unstable at the "auto" 1e-3.
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    history = model.fit(TEXTS, targets, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_token_head_outputs_one_distribution_per_token_and_masks_padding():
    backbone = tlkeras.get_backbone("bert", weights=None, sequence_length=24)
    model = tlkeras.build(backbone, head="token_classifier", num_classes=5, freeze=False)
    assert isinstance(
        model.heads["head"] if "head" in model.heads else model.layers[-1], TokenClassifierHead
    )
    probabilities = model.predict(TEXTS, verbose=0)
    assert probabilities.shape == (2, 24, 5)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    labels = np.zeros((2, 24), dtype="int32")
    mask = backbone.tokenize(TEXTS)["padding_mask"]
    noisy = np.where(mask, labels, 4)  # padded positions hold a wrong label
    loss_clean = model.evaluate(TEXTS, labels, verbose=0, return_dict=True)["loss"]
    loss_noisy = model.evaluate(TEXTS, noisy, verbose=0, return_dict=True)["loss"]
    assert loss_clean == pytest.approx(loss_noisy, rel=1e-6)


def test_lora_trains_only_attention_and_feed_forward_factors():
    backbone = tlkeras.get_backbone("bert", weights=None, sequence_length=16)
    model = tlkeras.build(backbone, num_classes=2, strategy="lora")
    targets = backbone.lora_targets()
    # query, key, value, attention output, feed-forward in and out, per block.
    assert len(targets) == 6 * len(backbone.encoder_blocks)
    assert not any(isinstance(t, keras.layers.Embedding) for t in targets)
    variables = trainable_by_nature([model])
    before = [_numpy(v).copy() for v in variables]
    model.fit(TEXTS, np.array([0, 1]), epochs=1, verbose=0)
    moved = {
        v.path for v, b in zip(variables, before, strict=True) if not np.array_equal(b, _numpy(v))
    }
    head = {v.path for v in model.layers[-1].weights}
    assert moved, "nothing trained"
    assert all(path.split("/")[-1].startswith("lora_") or path in head for path in moved)
    # B starts at zero, so the first step moves every B factor (A gets no gradient yet).
    assert sum(path.endswith("lora_kernel_b") for path in moved) == len(targets)


def test_ulmfit_recipe_applies_to_text_groups():
    backbone = tlkeras.get_backbone("bert", weights=None, sequence_length=16)
    model = tlkeras.build(backbone, num_classes=2, strategy=["gradual", "discriminative"])
    factors = tlkeras.optimizers.group_multipliers(model)
    assert factors == pytest.approx([2.6**-3, 2.6**-2, 2.6**-1, 1.0])
    embeddings = backbone.encoder.token_embedding.embeddings
    head = model.layers[-1].weights[0]
    before = [_numpy(v).copy() for v in (embeddings, head)]
    model.fit(TEXTS, np.array([0, 1]), epochs=1, verbose=0)
    assert np.array_equal(before[0], _numpy(embeddings))  # still frozen in epoch 1
    assert not np.array_equal(before[1], _numpy(head))


def test_exact_gelu_of_hugging_face_bert_survives_a_keras_file(tmp_path):
    from tlkeras.backbones.transformer_backbone import assemble

    small = tlkeras.get_backbone("bert", weights=None, sequence_length=16)
    approximate = _numpy(small(TEXTS))
    exact = assemble(
        small.encoder,
        small.tokenizer,
        sequence_length=16,
        name="exact",
        weights_source=None,
        feedforward_activation="gelu",
    )
    expected = _numpy(exact(TEXTS))
    assert np.abs(expected - approximate).max() > 0  # the activation really changed
    model = tlkeras.build(exact, head="regressor", freeze=False, compile=False)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.backbone.feedforward_activation == "gelu"
    activation = loaded.backbone.encoder_blocks[0]._feedforward_intermediate_dense.activation
    x = np.linspace(-3.0, 3.0, 7, dtype="float32")
    exact_gelu = _numpy(keras.activations.gelu(x, approximate=False))
    assert np.abs(exact_gelu - _numpy(keras.activations.gelu(x, approximate=True))).max() > 1e-4
    np.testing.assert_allclose(_numpy(activation(x)), exact_gelu, atol=1e-7)
    np.testing.assert_allclose(_numpy(loaded(TEXTS)), _numpy(model(TEXTS)), atol=1e-6)


@pytest.mark.slow  # loads MiniLM twice and writes a 90 MB .keras file
def test_minilm_from_its_folder_and_after_a_keras_file_still_matches(tmp_path):
    from tlkeras.weights.text_presets import packaged_checkpoint

    folder = packaged_checkpoint("all-minilm-l6-v2")
    backbone = tlkeras.get_backbone("bert", weights=str(folder))
    model = tlkeras.build(backbone, num_classes=3, compile=False)
    model.save(tmp_path / "minilm.keras")
    loaded = keras.models.load_model(tmp_path / "minilm.keras").backbone
    embeddings = _sentence_embeddings(loaded, REFERENCE["sentences"])
    np.testing.assert_allclose(embeddings, np.array(REFERENCE["embeddings"]), rtol=0, atol=1e-4)
