"""Reverse validation scores an adaptation recipe without target labels."""

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.domain import reverse_validation
from tlkeras.errors import ConfigurationError


def recipe(learning_rate, seed=0):
    """A DANN recipe over a small MLP; learning_rate=0 is a recipe that learns nothing."""

    def make_model():
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((2,), name="x")
        x = keras.layers.Dense(16, activation="relu", name="dense")(inputs)
        backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x, name="mlp"), modality="other")
        model = tlkeras.build(
            backbone, num_classes=2, bottleneck=8, freeze=False, compile=False,
            domain_adaptation={"method": "dann", "adaptation_weight": 0.1},
        )  # fmt: skip
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
        return model

    return make_model


@pytest.fixture
def shifted_domains():
    # The label depends on the first coordinate; the target is shifted along the
    # second, so a source classifier transfers if it ignores the shift.
    rng = np.random.default_rng(0)
    x_source = rng.normal(size=(256, 2)).astype("float32")
    y_source = (x_source[:, 0] > 0).astype("int32")
    x_target = (rng.normal(size=(256, 2)) + [0.0, 1.5]).astype("float32")
    return (x_source, y_source), x_target


def test_a_recipe_that_learns_scores_above_one_that_does_not(shifted_domains):
    source, x_target = shifted_domains

    good = reverse_validation(recipe(1e-2), source, x_target, epochs=8, batch_size=32)
    idle = reverse_validation(recipe(0.0), source, x_target, epochs=8, batch_size=32)

    assert good.reverse_accuracy > 0.85 and good.source_accuracy > 0.85
    assert idle.reverse_accuracy < good.reverse_accuracy - 0.2
    # The forward model is returned, trained: it classifies the held-out source.
    assert good.model.task_model.predict(source[0][:4], verbose=0).shape == (4, 2)


def test_errors_name_the_bad_value(shifted_domains):
    source, x_target = shifted_domains
    with pytest.raises(ConfigurationError, match="validation_fraction=1.5"):
        reverse_validation(recipe(1e-2), source, x_target, validation_fraction=1.5)
    with pytest.raises(ConfigurationError, match="make_model="):
        reverse_validation("dann", source, x_target)
    with pytest.raises(ConfigurationError, match="Received: TransferModel"):
        reverse_validation(lambda: recipe(1e-2)().task_model, source, x_target)
    with pytest.raises(ConfigurationError, match="Received: 4 source"):
        reverse_validation(recipe(1e-2), (source[0][:4], source[1][:4]), x_target)
