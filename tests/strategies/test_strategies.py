import os

import keras
import numpy as np
import pytest
from strategy_helpers import snapshot
from strategy_helpers import tiny_backbone
from strategy_helpers import tiny_data
from strategy_helpers import tiny_model

import tlkeras
from tlkeras import strategies
from tlkeras.errors import ConfigurationError
from tlkeras.optimizers import LayerwiseOptimizer

# The tiny model's groups: 0 conv_a+bn_a, 1 conv_b+bn_b, 2 depthwise_c+conv_c+bn_c,
# 3 bottleneck, 4 head. Paths of every variable, BatchNorm statistics included.
GROUP_PREFIXES = [("conv_a/", "bn_a/"), ("conv_b/", "bn_b/"), ("depthwise_c/", "conv_c/", "bn_c/")]
TOP = ("bottleneck/", "head/")


def _moved_paths(model, fit_epochs=2):
    x, y = tiny_data()
    before = snapshot(model.weights)
    model.fit(x, y, epochs=fit_epochs, batch_size=8, verbose=0)
    after = snapshot(model.weights)
    return {
        v.path
        for v, b, a in zip(model.weights, before, after, strict=True)
        if not np.array_equal(b, a)
    }


def _paths(model, *prefixes):
    return {v.path for v in model.weights if v.path.startswith(prefixes)}


def _groups(model, *indices):
    return _paths(model, *[p for i in indices for p in GROUP_PREFIXES[i]], *TOP)


@pytest.mark.parametrize(
    "strategy, open_groups",
    [
        ("feature_extraction", ()),
        ("partial", (2,)),
        (strategies.Partial(k=2), (1, 2)),
        ("full", (0, 1, 2)),
        ("discriminative", (0, 1, 2)),
        # One fit of 2 epochs: the top group joins in the second epoch.
        ("gradual", (2,)),
        (["gradual", "discriminative"], (2,)),
    ],
    ids=str,
)
def test_only_the_strategys_weights_move(strategy, open_groups):
    model = tiny_model(freeze="auto", strategy=strategy)
    assert _moved_paths(model) == _groups(model, *open_groups)


def test_lora_moves_only_factors_and_new_layers():
    model = tiny_model(freeze="auto", strategy=strategies.LoRA(rank=2))
    factors = {v.path for v in model.weights if "lora_" in v.name}
    # Conv2D layers get factors; the depthwise convolution has no LoRA in Keras.
    assert {p.split("/")[0] for p in factors} == {"conv_a", "conv_b", "conv_c"}
    assert _moved_paths(model, fit_epochs=2) == factors | _paths(model, *TOP)


def test_lora_with_gradual_opens_factors_group_by_group():
    model = tiny_model(freeze="auto", strategy=["lora", "gradual"])
    moved = _moved_paths(model, fit_epochs=2)
    assert moved == {"conv_c/lora_kernel_a", "conv_c/lora_kernel_b"} | _paths(model, *TOP)


def test_discriminative_recompiles_with_the_callers_optimizer_and_loss():
    model = tiny_model(compile=False)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    model.configure(["partial", "discriminative"])
    assert isinstance(model.optimizer, LayerwiseOptimizer)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert model.loss == "sparse_categorical_crossentropy"
    assert model.frozen_groups == [0, 1]
    # A later strategy replaces the earlier one's optimizer wrapping.
    model.configure("full")
    assert isinstance(model.optimizer, keras.optimizers.SGD)


def test_auto_learning_rate_follows_the_strategy():
    head_only = tiny_model(freeze="auto", strategy="feature_extraction")
    assert float(head_only.optimizer.learning_rate) == pytest.approx(1e-3)
    backbone = tiny_backbone()
    backbone.weights_source = "imagenet"  # as if pretrained
    full = tlkeras.build(backbone, num_classes=3, strategy="full")
    assert float(full.optimizer.learning_rate) == pytest.approx(1e-4)


def test_lora_round_trip_keeps_outputs_and_trainable_state(tmp_path):
    model = tiny_model(freeze="auto", strategy="lora")
    x, y = tiny_data()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    trainable = {v.path for v in model.trainable_weights}
    path = os.path.join(tmp_path, "lora.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert {v.path for v in loaded.trainable_weights} == trainable
    assert loaded.frozen_groups == model.frozen_groups
    # Keras stored the kernels merged and zeroed the factors; configure("lora")
    # starts new factors from there, and they train.
    loaded.configure("lora")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    factors = [v for v in loaded.weights if v.name == "lora_kernel_b"]
    before = snapshot(factors)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert all(not np.array_equal(b, a) for b, a in zip(before, snapshot(factors), strict=True))


def test_merge_lora_keeps_outputs_and_drops_factors():
    model = tiny_model(freeze="auto", strategy="lora")
    x, y = tiny_data()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    merged = strategies.merge_lora(model)
    assert not [v for v in merged.weights if "lora" in v.name]
    np.testing.assert_allclose(merged.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize(
    "strategy, message",
    [
        ("fulll", "Received: strategy='fulll'"),
        (strategies.Partial(k=4), "has 3 layer groups. Received: k=4"),
        ({"name": "lora", "rank": 0}, "Received: rank=0"),
        (["full", strategies.Discriminative(decay=0.1)], "Received: decay=0.1"),
    ],
)
def test_bad_strategies_name_the_value(strategy, message):
    with pytest.raises(ConfigurationError, match=message):
        tiny_model(freeze="auto", strategy=strategy)


def test_bad_arguments_name_the_value():
    with pytest.raises(ConfigurationError, match="Received: k=0"):
        strategies.Partial(k=0)
    with pytest.raises(ConfigurationError, match="Received: freeze=True, strategy='full'"):
        tiny_model(freeze=True, strategy="full")
    dense_free = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.BatchNormalization()])
    model = tlkeras.build(keras.Model(dense_free.inputs, dense_free.outputs), num_classes=2)
    with pytest.raises(ConfigurationError, match="has no layer with LoRA support"):
        model.configure("lora")


def test_frozen_batchnorm_keeps_backbone_batchnorm_still_and_survives_saving(tmp_path):
    model = tiny_model(freeze="auto", strategy=["gradual", "discriminative", "frozen_batchnorm"])
    moved = _moved_paths(model)
    # Gradual opened group 2 in the second epoch; its BatchNorm stayed still.
    assert moved == _groups(model, 2) - _paths(model, "bn_c/")
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.batchnorm_frozen
    assert not [
        v for v in loaded.trainable_weights if v.path.startswith(("bn_a/", "bn_b/", "bn_c/"))
    ]
    loaded.configure("full")  # a new strategy list starts from scratch
    assert {v.path for v in loaded.trainable_weights} >= _paths(loaded, "bn_c/gamma")
