"""ViT through keras-hub: token features, layer groups, LoRA targets."""

import keras
import numpy as np

import tlkeras


def test_vit_groups_features_and_lora_targets():
    backbone = tlkeras.get_backbone("vit", weights=None, input_shape=(32, 32, 3))
    features = backbone(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)))
    assert tuple(features.shape) == (2, 1 + 16, 64)  # class token + 4x4 patches
    assert [g[0].name for g in backbone.layer_groups] == [
        "vit_patching_and_embedding",
        "transformer_block_1",
        "transformer_block_2",
    ]
    targets = backbone.lora_targets()
    assert len(targets) == 6 * 2  # query, key, value, attention output, MLP in and out
    assert not any(isinstance(t, keras.layers.Conv2D) for t in targets)
    model = tlkeras.build(backbone, num_classes=3, pooling="cls", compile=False)
    assert model.output.shape[-1] == 3
