"""GPT-2, the causal text backbone: a local keras-hub preset in, last-token features out."""

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.layers.sequence_pooling import SequencePooling


def _weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def test_a_local_preset_loads_with_its_byte_pair_merges_and_saves_back(tiny_gpt2_preset, tmp_path):
    import keras_hub

    backbone = tlkeras.get_backbone("gpt2", weights=tiny_gpt2_preset, sequence_length=8)
    tokens = backbone.tokenize(["the cat"])
    # The merges apply: "the" and " cat" are one token each, between end-of-text markers.
    pieces = ("<|endoftext|>", "the", "Ġcat", "<|endoftext|>")
    expected = [backbone.tokenizer.token_to_id(piece) for piece in pieces]
    assert tokens["token_ids"][0, :4].tolist() == expected
    assert tokens["padding_mask"][0].tolist() == [True] * 4 + [False] * 4
    saved = keras_hub.models.GPT2Backbone.from_preset(tiny_gpt2_preset)
    for ours, theirs in zip(_weights(backbone.encoder), _weights(saved), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    copy = backbone.save_to_preset(tmp_path / "copy")
    reloaded = tlkeras.get_backbone("gpt2", weights=copy, sequence_length=8)
    assert reloaded.tokenizer.get_vocabulary() == backbone.tokenizer.get_vocabulary()
    assert reloaded.tokenizer.merges == backbone.tokenizer.merges
    for ours, theirs in zip(_weights(backbone), _weights(reloaded), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_layer_groups_are_embeddings_each_decoder_block_then_the_final_norm(tiny_gpt2_preset):
    backbone = tlkeras.get_backbone("gpt2", weights=tiny_gpt2_preset, sequence_length=8)
    names = [[layer.name for layer in group] for group in backbone.layer_groups]
    assert names == [
        ["token_embedding", "position_embedding"],
        ["transformer_layer_0"],
        ["transformer_layer_1"],
        ["layer_norm"],
    ]
    # LoRA adapts the query/key/value/output and both feed-forward projections of each block.
    assert len(backbone.lora_targets()) == 2 * 6


def test_pooled_features_of_a_text_do_not_depend_on_the_padding_of_its_batch(tiny_gpt2_preset):
    backbone = tlkeras.get_backbone("gpt2", weights=tiny_gpt2_preset, sequence_length=16)
    alone = np.array(["the cat"], dtype=object)
    batched = np.array(["the cat", "a dog chased the cat on the mat"], dtype=object)
    for pooling in ("last", "avg"):
        model = tlkeras.build(backbone, num_classes=2, pooling=pooling)
        features = keras.Model(model.input, model.get_layer("pool").output)
        # Eager calls: tracing predict() would cost more than the check.
        single = keras.ops.convert_to_numpy(features(alone))
        pair = keras.ops.convert_to_numpy(features(batched))
        np.testing.assert_allclose(single[0], pair[0], atol=1e-5, err_msg=pooling)
        # Not a trivial pass: the longer text's features differ.
        assert np.abs(pair[0] - pair[1]).max() > 1e-3, pooling


def test_last_token_pooling_takes_the_last_unmasked_position():
    sequence = np.arange(2 * 4 * 3, dtype="float32").reshape(2, 4, 3)
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    pooled = keras.ops.convert_to_numpy(SequencePooling("last")(sequence, mask=mask))
    np.testing.assert_array_equal(pooled, sequence[[0, 1], [1, 3]])


def test_last_token_pooling_of_feature_maps_is_refused():
    with pytest.raises(ConfigurationError, match="Received: pooling='last'"):
        images = keras.Input((8, 8, 3))
        cnn = keras.Model(images, keras.layers.Conv2D(4, 3)(images))
        tlkeras.build(cnn, num_classes=2, pooling="last")


def test_architecture_arguments_with_a_preset_are_refused(tiny_gpt2_preset):
    with pytest.raises(ConfigurationError, match=r"Received: \['num_layers'\]"):
        tlkeras.get_backbone("gpt2", weights=tiny_gpt2_preset, num_layers=4)
