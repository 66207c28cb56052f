"""One modality rule for registered backbones and `Backbone.from_model`: declared, else the inputs."""

import logging

import keras
import pytest

import tlkeras
from tlkeras import registry
from tlkeras.backbones.backbone import infer_modality
from tlkeras.pretrain import get_objective


def _model(*inputs, name="net"):
    flat = [_pooled(keras.ops.cast(t, "float32")) for t in inputs]
    x = flat[0] if len(flat) == 1 else keras.layers.Concatenate()(flat)
    x = keras.layers.Dense(4)(x)
    return keras.Model(list(inputs) if len(inputs) > 1 else inputs[0], x, name=name)


def _pooled(tensor):
    if len(tensor.shape) == 4:  # free image sizes: pool, do not flatten
        return keras.layers.GlobalAveragePooling2D()(tensor)
    return keras.layers.Flatten()(tensor)


@pytest.mark.parametrize(
    "make_inputs, expected",
    [
        (lambda: [keras.Input((32, 32, 3))], "image"),
        (lambda: [keras.Input((28, 28, 1), dtype="uint8")], "image"),
        (lambda: [keras.Input((None, None, 3))], "image"),
        (lambda: [keras.Input((16,), dtype="int32", name="token_ids")], "text"),
        (
            lambda: [
                keras.Input((16,), dtype="int32", name="token_ids"),
                keras.Input((16,), dtype="bool", name="padding_mask"),
            ],
            "text",
        ),
        (lambda: [keras.Input((32, 32, 5))], "other"),  # 5 channels: not an image
        (lambda: [keras.Input((8,))], "other"),
    ],
)
def test_modality_is_read_from_the_inputs(make_inputs, expected):
    model = _model(*make_inputs())
    assert infer_modality(model) == expected
    assert tlkeras.Backbone.from_model(model).modality == expected


def test_string_inputs_are_text():
    text = keras.Input((1,), dtype="string", name="text")
    ids = keras.layers.StringLookup(vocabulary=["a", "puppy"])(text)
    model = keras.Model(text, keras.layers.Flatten()(keras.layers.Embedding(3, 2)(ids)))
    assert infer_modality(model) == "text"


def test_the_graph_batch_contract_is_graph():
    features = keras.Input((7,), name="node_features")
    edges = keras.Input(batch_shape=(2, None), dtype="int32", name="edge_index")
    model = keras.Model({"node_features": features, "edge_index": edges}, features * 1.0)
    assert infer_modality(model) == "graph"


def test_ambiguous_inputs_are_other_with_a_line_saying_how_to_declare(caplog):
    with caplog.at_level(logging.WARNING, logger="tlkeras"):
        backbone = tlkeras.Backbone.from_model(_model(keras.Input((8,)), name="mlp"))
    assert backbone.modality == "other"
    message = caplog.text
    assert "'mlp'" in message and "(None, 8)" in message
    assert "modality=" in message and "tlkeras_backbones.toml" in message


def test_a_declared_modality_wins_and_logs_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="tlkeras"):
        image_as_other = tlkeras.Backbone.from_model(
            _model(keras.Input((32, 32, 3))), modality="other"
        )
        mlp_as_image = tlkeras.Backbone.from_model(_model(keras.Input((8,))), modality="image")
    assert (image_as_other.modality, mlp_as_image.modality) == ("other", "image")
    assert caplog.text == ""


def test_registry_and_from_model_agree_for_an_undeclared_factory():
    def plain_factory(**kwargs):
        return _model(keras.Input((32, 32, 3)), name="plain")

    registry.register_backbone("plain_undeclared")(plain_factory)
    try:
        via_registry = tlkeras.get_backbone("plain_undeclared")
    finally:
        registry.unregister_backbone("plain_undeclared")
    assert via_registry.modality == tlkeras.Backbone.from_model(plain_factory()).modality
    assert via_registry.modality == "image"


def test_saved_modality_survives_a_round_trip(tmp_path):
    backbone = tlkeras.Backbone.from_model(_model(keras.Input((8,))), modality="image")
    backbone.save(tmp_path / "b.keras")
    assert keras.models.load_model(tmp_path / "b.keras").modality == "image"


def test_unknown_objective_lists_objectives_per_modality_and_how_to_declare():
    with pytest.raises(ValueError) as info:
        get_objective("contrastive", "other")
    message = str(info.value)
    assert "none registered" not in message
    assert "Received: objective='contrastive'" in message
    assert "image: contrastive, reconstruction" in message
    assert "text: masked_lm, next_token" in message
    assert "Backbone.from_model(model, modality=...)" in message
    assert "register_objective(name, modality='other')" in message
