"""A head built for another modality (token, node, graph heads) is refused by name."""

import keras
import pytest

import tlkeras
from tlkeras.errors import ConfigurationError


def _image_backbone():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    return tlkeras.Backbone.from_model(keras.Model(inputs, x, name="pixels"), modality="image")


def test_a_token_head_on_an_image_backbone_names_both():
    with pytest.raises(ConfigurationError, match=r"fits text backbones.*'image'.*token_classifier"):
        tlkeras.build(_image_backbone(), head="token_classifier", num_classes=3)


def test_a_task_of_a_multi_task_model_is_checked_too():
    with pytest.raises(ConfigurationError, match=r"TokenClassifierHead"):
        tlkeras.build(
            _image_backbone(),
            heads={"kind": "classifier", "tags": "token_classifier"},
            num_classes={"kind": 2, "tags": 3},
        )
