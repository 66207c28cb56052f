import keras
import numpy as np
import pytest
from tiny import tiny_cnn

import tlkeras
from tlkeras.backbones.backbone import trainable_by_nature
from tlkeras.errors import PluginError


def test_derived_groups_follow_resolution_stages():
    backbone = tlkeras.Backbone.from_model(tiny_cnn())
    groups = [[layer.name for layer in group] for group in backbone.layer_groups]
    assert len(groups) == 3  # 16x16 stem, 8x8 stage 1, 4x4 stage 2
    assert "stem_conv" in groups[0] and "stage1_conv" in groups[1] and "stage2_conv" in groups[2]


def test_explicit_layer_groups_must_partition_trainable_variables():
    model = tiny_cnn()
    with pytest.raises(ValueError, match="leave trainable variables out"):
        tlkeras.Backbone.from_model(model, layer_groups=[["stem_conv"]])
    with pytest.raises(ValueError, match="belongs to layer groups 0 and 1"):
        tlkeras.Backbone.from_model(
            model,
            layer_groups=[
                ["stem_conv", "stem_bn", "stage1_conv"],
                ["stage1_conv", "stage1_bn", "stage2_conv"],
            ],
        )


def test_sequence_model_groups_are_equal_chunks():
    inputs = keras.Input((10, 4))
    x = inputs
    for i in range(6):
        x = keras.layers.Dense(4, name=f"dense_{i}")(x)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x), modality="other")
    sizes = [len(trainable_by_nature(g)) for g in backbone.layer_groups]
    assert sum(sizes) == 12 and len(sizes) == 4


def test_subclassed_model_is_refused_with_a_clear_error():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(PluginError, match="functional"):
        tlkeras.Backbone.from_model(Sub())


def test_unknown_modality_is_named():
    with pytest.raises(ValueError, match="Received: modality='audio'"):
        tlkeras.Backbone.from_model(tiny_cnn(), modality="audio")


def test_image_normalization_layer_matches_formula():
    layer = tlkeras.layers.ImageNormalization(mean=[0.5, 0.4, 0.3], std=[0.2, 0.2, 0.25])
    x = np.full((1, 2, 2, 3), 102.0, dtype="float32")
    out = keras.ops.convert_to_numpy(layer(x))
    # atol: JAX's x / 255 rounds 0.4 - 0.4 to ~1e-8, not to 0.
    assert np.allclose(
        out[0, 0, 0], (0.4 - np.array([0.5, 0.4, 0.3])) / [0.2, 0.2, 0.25], atol=1e-6
    )
    with pytest.raises(ValueError, match="Received: std="):
        tlkeras.layers.ImageNormalization(mean=0.5, std=0.0)
