"""`mobilenet_v1`: TF-slim's MobileNetV1 read as data from a frozen graph, checked against that graph run by TF (slow)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tlkeras
from tlkeras.backbones.mobilenet_v1 import mobilenet_v1
from tlkeras.errors import WeightsError
from tlkeras.testing import backbone_checks
from tlkeras.weights import mobilenet_v1 as slim

sys.path.insert(0, str(Path(__file__).parent))
from imagenet_photos import EXPECTED_CLASSES  # noqa: E402
from imagenet_photos import photo  # noqa: E402

# A quarter-width network: slim's names, 0.47 M values, a 2 MB graph.
ALPHA = 0.25
HEAD = ("final_training_ops/weights/final_weights", "final_training_ops/biases/final_biases")


def _epsilon_names():
    return [
        f"MobilenetV1/MobilenetV1/{scope}/BatchNorm/batchnorm/add/y"
        for scope in slim._batch_norm_scopes()
    ]


def _write_graph(path, tensors, extra=None):
    """A frozen GraphDef of Const nodes only, laid out like retrain.py's output."""
    graph = tf.compat.v1.GraphDef()
    constants = {
        **tensors,
        **{name: np.float32(slim.BATCH_NORM_EPSILON) for name in _epsilon_names()},
    }
    constants.update({HEAD[0]: np.ones((1001, 2), "float32"), HEAD[1]: np.zeros(2, "float32")})
    constants.update(extra or {})
    for name, value in constants.items():
        node = graph.node.add(name=name, op="Const")
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        node.attr["dtype"].type = node.attr["value"].tensor.dtype
    graph.node.add(name="input", op="Placeholder")  # ops other than Const are ignored
    path.write_bytes(graph.SerializeToString())
    return path


def _fake_tensors(seed=0):
    rng = np.random.default_rng(seed)
    return {
        name: rng.normal(size=shape).astype("float32")
        for name, shape in slim.expected_tensors(ALPHA).items()
    }


def test_each_slim_tensor_lands_on_its_keras_layer_and_the_background_class_is_dropped(tmp_path):
    tensors = _fake_tensors()
    read, unused = slim.read_slim_graph(_write_graph(tmp_path / "g.pb", tensors), alpha=ALPHA)
    model = slim.mobilenet_v1(include_top=True, alpha=ALPHA)
    slim.load_slim_weights(model, read)

    def weights(layer):
        return model.get_layer(layer).get_weights()

    np.testing.assert_array_equal(weights("conv1")[0], tensors["MobilenetV1/Conv2d_0/weights"])
    depthwise = tensors["MobilenetV1/Conv2d_4_depthwise/depthwise_weights"]
    assert depthwise.shape == (3, 3, 32, 1)
    np.testing.assert_array_equal(weights("conv_dw_4")[0], depthwise)
    pointwise = tensors["MobilenetV1/Conv2d_13_pointwise/weights"]
    np.testing.assert_array_equal(weights("conv_pw_13")[0], pointwise)
    # Keras' BatchNormalization order is gamma, beta, moving mean, moving variance.
    scope = "MobilenetV1/Conv2d_7_pointwise/BatchNorm"
    for got, part in zip(weights("conv_pw_7_bn"), slim._BATCH_NORM, strict=True):
        np.testing.assert_array_equal(got, tensors[f"{scope}/{part}"])
    logits = tensors["MobilenetV1/Logits/Conv2d_1c_1x1/weights"]
    kernel, bias = weights("predictions")
    assert kernel.shape == (256, 1000)
    # Keras class 0 (tench) is slim's class 1: slim's 0 is "background".
    np.testing.assert_array_equal(kernel[:, 0], logits[0, 0, :, 1])
    np.testing.assert_array_equal(bias, tensors["MobilenetV1/Logits/Conv2d_1c_1x1/biases"][1:])
    # Every tensor read is used but the background column; the retrain head is reported.
    total = sum(v.size for v in tensors.values())
    assert model.count_params() == total - (256 + 1)
    assert unused == sorted(HEAD)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"MobilenetV1/Conv2d_5_pointwise/BatchNorm/moving_mean": None}, r"no constant 'MobilenetV1/Conv2d_5_pointwise/BatchNorm/moving_mean'"),
        ({"MobilenetV1/Conv2d_3_depthwise/depthwise_weights": np.zeros((3, 3, 16, 2), "float32")}, r"Conv2d_3_depthwise/depthwise_weights' is float32 \(3, 3, 16, 2\), expected float32 \(3, 3, 32, 1\)"),
        ({"MobilenetV1/Conv2d_0/BatchNorm/gamma": np.zeros(8, "float64")}, r"Conv2d_0/BatchNorm/gamma' is float64"),
        ({"MobilenetV1/Logits/Conv2d_1c_1x1/biases": np.full(1001, np.nan, "float32")}, r"Conv2d_1c_1x1/biases' holds NaN"),
        ({"MobilenetV1/MobilenetV1/Conv2d_9_depthwise/BatchNorm/batchnorm/add/y": np.float32(1e-5)}, r"Conv2d_9_depthwise/BatchNorm/batchnorm/add/y' is 1e-05"),
    ],
    ids=["missing", "shape", "dtype", "nan", "epsilon"],
)  # fmt: skip
def test_a_bad_tensor_is_refused_naming_it(tmp_path, change, match):
    tensors = _fake_tensors()
    for name, value in change.items():
        if value is None:
            del tensors[name]
    extra = {name: value for name, value in change.items() if value is not None}
    path = _write_graph(tmp_path / "bad.pb", tensors, extra)
    with pytest.raises(WeightsError, match=match):
        slim.read_slim_graph(path, alpha=ALPHA)


def test_a_graph_of_the_wrong_width_names_the_first_mismatch(tmp_path):
    path = _write_graph(tmp_path / "g.pb", _fake_tensors())
    with pytest.raises(
        WeightsError,
        match=r"Conv2d_0/weights' is float32 \(3, 3, 3, 8\), expected float32 \(3, 3, 3, 32\)",
    ):
        slim.read_slim_graph(path)  # alpha 1.0 expected


def test_not_a_graph_and_an_oversized_file_are_refused(tmp_path, monkeypatch):
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff" * 64)
    with pytest.raises(WeightsError, match="Not a TensorFlow GraphDef.*junk.pb"):
        slim.read_slim_graph(junk)
    monkeypatch.setattr(slim, "MAX_GRAPH_BYTES", 32)
    with pytest.raises(WeightsError, match="64 bytes, more than the 32"):
        slim.read_slim_graph(junk)


def test_a_declared_huge_shape_is_refused_before_any_array_is_made(tmp_path):
    # One float_val with a 2**40-element shape: make_ndarray would fill 4 TB.
    graph = tf.compat.v1.GraphDef()
    node = graph.node.add(name="MobilenetV1/Conv2d_0/weights", op="Const")
    proto = node.attr["value"].tensor
    proto.dtype = tf.float32.as_datatype_enum
    proto.tensor_shape.dim.add(size=1 << 20)
    proto.tensor_shape.dim.add(size=1 << 20)
    proto.float_val.append(1.0)
    path = tmp_path / "huge.pb"
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(
        WeightsError, match=r"\(1048576, 1048576\), expected float32 \(3, 3, 3, 32\)"
    ):
        slim.read_slim_graph(path)


def test_an_unknown_dtype_enum_is_named(tmp_path):
    tensors = _fake_tensors()
    path = _write_graph(tmp_path / "g.pb", tensors)
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(path.read_bytes())
    node = next(n for n in graph.node if n.name == "MobilenetV1/Conv2d_0/weights")
    node.attr["value"].tensor.dtype = 999
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(WeightsError, match=r"Conv2d_0/weights' is dtype enum 999"):
        slim.read_slim_graph(path, alpha=ALPHA)


def test_a_constant_given_twice_is_refused(tmp_path):
    # Which copy a reader took would be arbitrary: a hostile file could hide one.
    path = _write_graph(tmp_path / "g.pb", _fake_tensors())
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(path.read_bytes())
    graph.node.append(next(n for n in graph.node if n.name.endswith("Conv2d_2_pointwise/weights")))
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(
        WeightsError, match=r"two constants named 'MobilenetV1/Conv2d_2_pointwise/weights'"
    ):
        slim.read_slim_graph(path, alpha=ALPHA)


def test_inputs_are_mapped_to_slims_minus_one_to_one():
    backbone = mobilenet_v1(input_shape=(4, 4, 3), weights=None)
    pixels = np.array([0.0, 127.5, 255.0], "float32").reshape(1, 1, 1, 3)
    np.testing.assert_allclose(
        np.asarray(backbone.get_layer("slim_norm")(pixels)).ravel(), [-1, 0, 1], atol=1e-6
    )


def test_features_follow_tensorflows_same_padding_at_sizes_not_a_multiple_of_32():
    # TF SAME at stride 2 gives ceil(n / 2): 33 and 34 give 2x2 (Keras' MobileNet: 1x1).
    for size in (33, 34, 64):
        shape = mobilenet_v1(input_shape=(size, size, 3), weights=None).output.shape
        assert tuple(shape[1:]) == (2, 2, 1024)


def test_saved_weights_load_back(tmp_path):
    first = mobilenet_v1(input_shape=(32, 32, 3), weights=None, alpha=ALPHA)
    path = tmp_path / "mnv1.weights.h5"
    first.save_weights(path)
    second = mobilenet_v1(input_shape=(32, 32, 3), weights=str(path), alpha=ALPHA)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert second.weights_source == str(path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(weights="hed_bsds500"), r"Received: weights='hed_bsds500'"),
        (dict(weights=3), r"Received: weights=3"),
        (dict(weights="missing.weights.h5"), r"weights='missing.weights.h5'"),
        (dict(weights="imagenet", alpha=0.5), r"Received: alpha=0.5"),
    ],
)
def test_bad_weights_values_are_named(kwargs, match):
    with pytest.raises(WeightsError, match=match):
        mobilenet_v1(**kwargs)


def test_passes_the_conformance_checks():
    if "mobilenet_v1" not in tlkeras.list_backbones():  # entry point not yet installed
        tlkeras.register_backbone("mobilenet_v1", modality="image")(mobilenet_v1)
    for check in backbone_checks(
        "mobilenet_v1", weights=None, input_shape=(32, 32, 3), alpha=ALPHA
    ):
        check()


def _original_graph_outputs(graph_path, image, output):
    """Runs retrain.py's frozen graph itself (tests only: the library never imports a graph)."""
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(graph_path).read_bytes())
    with tf.Graph().as_default() as graph:
        pixels = tf.compat.v1.placeholder(tf.float32, (1, None, None, 3))
        tf.import_graph_def(graph_def, input_map={"input:0": pixels}, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            return session.run(graph.get_tensor_by_name(output), {pixels: image})


@pytest.mark.slow
def test_real_weights_reproduce_the_original_graphs_logits():
    from tlkeras.weights import source_heads

    graph = slim.graph_file()
    kernel, bias = source_heads.imagenet_classifier("mobilenet_v1")
    backbone = mobilenet_v1(input_shape=(224, 224, 3))
    for name, expected in EXPECTED_CLASSES.items():
        pixels = photo(name, 224)[None].astype("float32")
        # retrain.py's MobileNet preprocessing: (x - 127.5) / 127.5.
        reference = _original_graph_outputs(
            graph, (pixels - 127.5) / 127.5, "MobilenetV1/Predictions/Reshape:0"
        )[0]
        logits = (np.asarray(backbone(pixels)).mean(axis=(1, 2)) @ kernel + bias)[0]
        difference = np.abs(logits - reference[1:]).max()
        top5, reference_top5 = np.argsort(-logits)[:5], np.argsort(-reference[1:])[:5]
        print(f"{name}: max |logit difference| {difference:.2e}; top-5 {top5.tolist()} "
              f"(original graph {reference_top5.tolist()}), background logit {reference[0]:.2f}")  # fmt: skip
        assert difference < 1e-3
        assert top5.tolist() == reference_top5.tolist()
        assert int(top5[0]) in expected


@pytest.mark.slow
def test_real_features_match_the_original_graph_at_225_pixels():
    pixels = photo("chelsea", 225)[None].astype("float32")
    reference = _original_graph_outputs(
        slim.graph_file(),
        (pixels - 127.5) / 127.5,
        "MobilenetV1/MobilenetV1/Conv2d_13_pointwise/Relu6:0",
    )
    got = np.asarray(mobilenet_v1()(pixels))
    print(f"225 px features {got.shape}: max |difference| {np.abs(got - reference).max():.2e}")
    assert got.shape == reference.shape == (1, 8, 8, 1024)
    np.testing.assert_allclose(got, reference, atol=1e-4)


@pytest.mark.slow
def test_every_imagenet_tensor_of_the_graph_is_used():
    tensors, unused = slim.read_slim_graph(slim.graph_file())
    assert unused == sorted(["MobilenetV1/Predictions/Reshape/shape", *HEAD])
    model = slim.mobilenet_v1(include_top=True)
    model.load_weights(slim.mobilenet_v1_imagenet(include_top=True))
    # 4,253,864: keras.applications' MobileNet count; the background column is the rest.
    assert model.count_params() == sum(v.size for v in tensors.values()) - (1024 + 1) == 4_253_864
