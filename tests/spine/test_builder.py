import keras
import numpy as np
import pytest
from tiny import tiny_cnn

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.errors import PluginError


def data(n=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, 16, 16, 3)).astype("float32")
    return x, rng.integers(0, classes, n)


def values(variables):
    return [np.array(v.numpy()) for v in variables]


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_build_graph_backbone_pool_bottleneck_head():
    model = tlkeras.build(tiny_cnn(), num_classes=3, bottleneck=[12, 6], dropout=0.1)
    assert isinstance(model, tlkeras.TransferModel)
    names = [layer.name for layer in model.layers]
    assert names[-3:] == ["pool", "bottleneck", "head"]
    assert model.output.shape == (None, 3)
    bottleneck = model.get_layer("bottleneck")
    assert bottleneck.units == [12, 6]
    # The bottleneck and the head are each their own layer group.
    assert model.layer_groups[-2] == (bottleneck,)
    assert model.layer_groups[-1] == (model.get_layer("head"),)
    probabilities = model.predict(data()[0], verbose=0)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_fit_works_right_after_build_and_learns():
    x, y = data(n=32, classes=2)
    x[y == 1] *= 0.2  # a learnable difference in brightness
    model = tlkeras.build(tiny_cnn(), num_classes=2, bottleneck=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] >= 0.9


@pytest.mark.parametrize("alias", ["classifier", "classify"])
def test_classify_is_an_alias_of_classifier(alias):
    model = tlkeras.build(tiny_cnn(), head=alias, num_classes=4)
    assert isinstance(model.get_layer("head"), tlkeras.heads.ClassifierHead)


def test_multi_label_head_uses_sigmoid_and_binary_loss():
    model = tlkeras.build(tiny_cnn(), head=tlkeras.heads.ClassifierHead(5, multi_label=True))
    out = model.predict(data()[0], verbose=0)
    assert out.shape == (8, 5) and not np.allclose(out.sum(axis=1), 1.0)
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy)
    y = (np.random.default_rng(0).uniform(size=(8, 5)) > 0.5).astype("float32")
    assert np.isfinite(model.fit(data()[0], y, epochs=1, verbose=0).history["loss"][0])


def test_regressor_head_with_mse():
    model = tlkeras.build(tiny_cnn(), head="regressor")
    assert model.output.shape == (None, 1)
    assert isinstance(model.loss, keras.losses.MeanSquaredError)
    history = model.fit(data()[0], np.ones((8, 1)), epochs=1, verbose=0)
    assert "mae" in history.history


def test_custom_layer_head_needs_explicit_loss():
    with pytest.raises(ConfigurationError, match="Pass loss= and metrics="):
        tlkeras.build(tiny_cnn(), head=keras.layers.Dense(3))
    model = tlkeras.build(tiny_cnn(), head=keras.layers.Dense(3), compile=False)
    model.compile(loss="mse")
    assert model.output.shape == (None, 3)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(num_classes=0), "Received: num_classes=0"),
        (dict(num_classes=2.5), "Received: num_classes=2.5"),
        (dict(num_classes=3, bottleneck=0), "Received: units=0"),
        (dict(num_classes=3, bottleneck=[64, -1]), "Received: units=[64, -1]"),
        (dict(num_classes=3, dropout=1.0), "Received: dropout=1.0"),
        (dict(num_classes=3, head="segmenter"), "Received: head='segmenter'"),
        (dict(num_classes=3, freeze="some"), "Received: freeze='some'"),
        (dict(num_classes=3, pooling="median"), "Received: pooling='median'"),
    ],
)
def test_bad_arguments_name_the_received_value(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        tlkeras.build(tiny_cnn(), **kwargs)
    assert fragment in str(info.value)


def test_backbone_factory_arguments_errors_name_the_backbone():
    with pytest.raises(ConfigurationError, match="Received: variant='b9'"):
        tlkeras.build("efficientnet", num_classes=3, variant="b9", weights=None)
    with pytest.raises(PluginError, match="returned str"):

        @tlkeras.register_backbone("returns_text")
        def bad(**kwargs):
            return "not a model"

        try:
            tlkeras.build("returns_text", num_classes=3)
        finally:
            tlkeras.unregister_backbone("returns_text")


def test_pretrained_defaults_to_feature_extraction_random_to_full_training():
    random_model = tlkeras.build(tiny_cnn(), num_classes=3)
    assert random_model.frozen_groups == []
    backbone = tlkeras.Backbone.from_model(tiny_cnn(), weights_source="imagenet")
    pretrained = tlkeras.build(backbone, num_classes=3)
    assert pretrained.frozen_groups == list(range(pretrained.num_backbone_groups))
    # Head-training learning rate when frozen.
    assert np.isclose(float(pretrained.optimizer.learning_rate), 1e-3)


def test_frozen_backbone_keeps_weights_and_batchnorm_statistics_bit_identical():
    backbone = tlkeras.Backbone.from_model(tiny_cnn(), weights_source="imagenet")
    model = tlkeras.build(backbone, num_classes=3, bottleneck=4)
    frozen_before = values(model.backbone.weights)  # includes BN moving statistics
    head_before = values(model.get_layer("head").weights)
    model.fit(*data(), epochs=2, batch_size=4, verbose=0)
    assert same(frozen_before, values(model.backbone.weights))
    assert not same(head_before, values(model.get_layer("head").weights))


def test_freeze_after_compile_takes_effect_in_the_next_fit():
    model = tlkeras.build(tiny_cnn(), num_classes=3)  # compiled, all trainable
    model.fit(*data(), epochs=1, verbose=0)
    model.freeze()  # no compile() by the user
    before = values(model.backbone.weights)
    model.fit(*data(), epochs=1, verbose=0)
    assert same(before, values(model.backbone.weights))
    model.unfreeze()
    model.fit(*data(), epochs=1, verbose=0)
    assert not same(before, values(model.backbone.weights))


@pytest.mark.xfail(
    keras.backend.backend() == "jax",
    strict=True,
    reason="JAX rebuilds the optimizer when what trains changes (slots pair with trainable variables by position), so state is not kept",
)
def test_unfreezing_keeps_optimizer_state_of_the_head():
    backbone = tlkeras.Backbone.from_model(tiny_cnn(), weights_source="imagenet")
    model = tlkeras.build(backbone, num_classes=3)
    model.fit(*data(), epochs=1, verbose=0)
    optimizer = model.optimizer
    kernel = model.get_layer("head").dense.kernel
    momentum = values([optimizer._momentums[optimizer._get_variable_index(kernel)]])
    model.unfreeze()
    model.prepare_training()
    assert model.optimizer is optimizer
    assert same(momentum, values([optimizer._momentums[optimizer._get_variable_index(kernel)]]))


def test_freeze_k_freezes_groups_from_the_input_side():
    model = tlkeras.build(tiny_cnn(), num_classes=3, bottleneck=4)
    n = len(model.layer_groups)
    model.freeze(1)
    assert model.frozen_groups == [0]
    model.freeze(n - 1)
    assert model.frozen_groups == list(range(n - 1))
    with pytest.raises(ConfigurationError, match=f"Received: k={n + 1}"):
        model.freeze(n + 1)


def test_trainable_summary_lists_every_group():
    model = tlkeras.build(tiny_cnn(), num_classes=3, bottleneck=4)
    model.freeze(1)
    text = model.trainable_summary(print_fn=None)
    lines = text.splitlines()[1:]
    assert len(lines) == len(model.layer_groups)
    assert " no " in lines[0] and " yes " in lines[-1]


def test_keras_file_round_trip_is_exact(tmp_path):
    model = tlkeras.build(tiny_cnn(), num_classes=3, bottleneck=[8, 4], dropout=0.2)
    model.fit(*data(), epochs=1, verbose=0)
    model.freeze(2)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = data(seed=1)[0]
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert isinstance(loaded, tlkeras.TransferModel)
    assert loaded.frozen_groups == model.frozen_groups
    assert [len(g) for g in loaded.layer_groups] == [len(g) for g in model.layer_groups]
    # The loaded model trains on, with its frozen groups still frozen.
    before = values(loaded.backbone.layer_groups[0][1].weights)
    loaded.fit(*data(), epochs=1, verbose=0)
    assert same(before, values(loaded.backbone.layer_groups[0][1].weights))


def test_multi_task_heads_train_on_dict_targets():
    model = tlkeras.build(
        tiny_cnn(), heads={"species": "classifier", "age": "regressor"}, num_classes={"species": 3}
    )
    x, y = data()
    targets = {"species": y, "age": np.linspace(0, 1, 8)[:, None]}
    before = {name: values(model.get_layer(name).weights) for name in ("species", "age")}
    history = model.fit(x, targets, epochs=1, verbose=0)
    assert {"species_loss", "age_loss"} <= set(history.history)
    for name in ("species", "age"):
        assert not same(before[name], values(model.get_layer(name).weights))


def test_mixed_precision_builds_backbone_in_bfloat16_with_float32_heads():
    model = tlkeras.build(
        tiny_backbone_in_bfloat16(), num_classes=3, bottleneck=4, mixed_precision="mixed_bfloat16"
    )
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert model.get_layer("bottleneck").compute_dtype == "bfloat16"
    assert model.get_layer("head").compute_dtype == "float32"
    assert model.output.dtype == "float32"
    assert np.isfinite(model.fit(*data(), epochs=1, verbose=0).history["loss"][0])


def tiny_backbone_in_bfloat16():
    # A backbone built under the mixed policy too: from a registered factory.
    @tlkeras.register_backbone("tiny_for_precision")
    def factory(**kwargs):
        return tiny_cnn()

    try:
        with tlkeras.precision.policy_scope("mixed_bfloat16"):
            backbone = tlkeras.get_backbone("tiny_for_precision")
    finally:
        tlkeras.unregister_backbone("tiny_for_precision")
    assert backbone.get_layer("stem_conv").compute_dtype == "bfloat16"
    return backbone


def test_mixed_precision_auto_is_float32_on_cpu_and_bad_values_are_named():
    assert tlkeras.precision.resolve_policy("auto") == "float32"  # no GPU here
    with pytest.raises(ConfigurationError, match="Received: mixed_precision='half'"):
        tlkeras.build(tiny_cnn(), num_classes=3, mixed_precision="half")


def test_a_fully_frozen_model_reloads_fully_frozen(tmp_path):
    # Layers revived with trainable=False must still freeze the sublayers
    # they create (bottleneck blocks, the head's Dense).
    model = tlkeras.build(tiny_cnn(), num_classes=3, bottleneck=4)
    model.freeze(len(model.layer_groups))
    model.save(tmp_path / "frozen.keras")
    loaded = keras.models.load_model(tmp_path / "frozen.keras")
    assert loaded.frozen_groups == list(range(len(loaded.layer_groups)))
    assert loaded.trainable_weights == []


def test_feature_norm_l2_gives_the_head_unit_length_features_and_saves(tmp_path):
    model = tlkeras.build(tiny_cnn(), num_classes=3, feature_norm="l2")
    names = [layer.name for layer in model.layers]
    assert names[-3:] == ["pool", "feature_norm", "head"]
    x = data()[0]
    # Images of very different brightness: the pooled norms differ, the head's inputs do not.
    pooled = keras.Model(model.input, model.get_layer("pool").output).predict(x * 3, verbose=0)
    normed = keras.Model(model.input, model.get_layer("feature_norm").output).predict(
        x * 3, verbose=0
    )
    assert np.ptp(np.linalg.norm(pooled, axis=1)) > 1e-3
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-5)
    path = tmp_path / "normed.keras"
    model.save(path)
    np.testing.assert_allclose(
        keras.saving.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    with pytest.raises(ConfigurationError, match=r"Received: feature_norm='l1'"):
        tlkeras.build(tiny_cnn(), num_classes=3, feature_norm="l1")
