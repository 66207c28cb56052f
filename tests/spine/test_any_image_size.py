"""Image backbones take any image size by default: one model serves 64, 96 and 224 px."""

import numpy as np
import pytest
from tiny import tiny_cnn

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.errors import DataError

RNG = np.random.default_rng(0)


def images(size, n=4):
    return RNG.uniform(0, 255, (n, size, size, 3)).astype("float32")


def test_one_efficientnet_fits_at_96_and_predicts_at_64_and_224():
    model = tlkeras.build("efficientnet", weights=None, num_classes=3, freeze=True)
    assert tuple(model.input.shape) == (None, None, None, 3)
    model.fit(images(96), np.array([0, 1, 2, 0]), epochs=1, batch_size=2, verbose=0)
    for size in (64, 224):
        # Called eagerly: predict() would trace the whole graph once per size.
        probabilities = np.asarray(model(images(size, n=2), training=False))
        assert probabilities.shape == (2, 3)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "mobilenet_v2", "resnet"])
def test_image_backbones_default_to_any_size(name):
    backbone = tlkeras.get_backbone(name, weights=None)
    assert tuple(backbone.input.shape) == (None, None, None, 3)
    for size in (64, 96):
        features = backbone(images(size, n=1))
        assert features.shape[0] == 1 and features.shape[-1] == backbone.feature_shape[-1]


def test_layer_groups_follow_the_stages_at_any_size():
    free = tlkeras.Backbone.from_model(tiny_cnn(input_shape=(None, None, 3)))
    fixed = tlkeras.Backbone.from_model(tiny_cnn(input_shape=(16, 16, 3)))
    # One group per resolution stage, as at a fixed size (not equal chunks).
    assert [len(g) for g in free.layer_groups] == [len(g) for g in fixed.layer_groups] == [4, 3, 1]
    assert [group[0].name for group in free.layer_groups][1:] == ["stage1_conv", "stage2_conv"]
    mobilenet = tlkeras.get_backbone("mobilenet_v2", weights=None)
    sized = tlkeras.get_backbone("mobilenet_v2", weights=None, input_shape=(224, 224, 3))
    assert mobilenet._layer_group_names == sized._layer_group_names


def test_feature_cache_and_freezing_work_at_any_size():
    backbone = tlkeras.Backbone.from_model(
        tiny_cnn(input_shape=(None, None, 3)), weights_source="test"
    )
    model = tlkeras.build(backbone)  # pretrained: frozen; the head sized by fit()
    before = [w.copy() for w in model.backbone.get_weights()]
    history = model.fit(
        images(24, n=8), np.arange(8) % 2, epochs=2, batch_size=4, cache_features=True, verbose=0
    )
    assert len(history.history["loss"]) == 2
    assert all(
        np.array_equal(a, b) for a, b in zip(before, model.backbone.get_weights(), strict=True)
    )
    assert model.predict(images(40, n=2), verbose=0).shape == (2, 2)


def test_vit_names_input_shape_and_the_size_it_needs():
    with pytest.raises(ConfigurationError, match=r"input_shape=\(224, 224, 3\)") as info:
        tlkeras.get_backbone("vit", weights=None, input_shape=(None, None, 3))
    assert "Received: input_shape=(None, None, 3)" in str(info.value)
    vit = tlkeras.build("vit", weights=None, input_shape=(32, 32, 3), num_classes=2)
    with pytest.raises(DataError, match=r"32x32.*input_shape=\(16, 16, 3\)"):
        vit.fit(images(16), np.array([0, 1, 0, 1]), verbose=0)
