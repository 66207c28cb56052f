"""pseudo_label: confident target predictions back into semi-supervised adaptation."""

import keras
import numpy as np
import pytest

from tlkeras.domain import adapt
from tlkeras.domain import pair_datasets
from tlkeras.domain import pseudo_label
from tlkeras.errors import ConfigurationError


def test_keeps_exactly_the_confident_predictions_with_their_classes(make_model, domains):
    x_source, y_source, x_target, _ = domains
    model = make_model(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x_source, y_source, epochs=10, batch_size=16, verbose=0)
    probabilities = model.predict(x_target, verbose=0)
    confident = probabilities.max(-1) >= 0.8
    assert 0 < confident.sum() < len(x_target)  # the threshold really selects

    x_kept, y_kept = pseudo_label(model, x_target, threshold=0.8)
    np.testing.assert_array_equal(x_kept, x_target[confident])
    np.testing.assert_array_equal(y_kept, probabilities.argmax(-1)[confident])
    assert y_kept.dtype == np.int32


def test_pseudo_labels_feed_a_second_semi_supervised_round(make_model, domains):
    x_source, y_source, x_target, _ = domains
    dann = adapt(make_model(seed=1), method="dann", adaptation_weight=0.1)
    dann.fit(pair_datasets((x_source, y_source), x_target, batch_size=16), epochs=2, verbose=0)
    confident = pseudo_label(dann, x_target, threshold=0.5)  # the wrapper's task model predicts
    assert len(confident[0]) == len(x_target)  # two classes: every top probability is >= 0.5
    history = dann.fit(
        pair_datasets((x_source, y_source), x_target, confident, batch_size=16),
        epochs=1,
        verbose=0,
    )
    assert np.isfinite(history.history["label_loss"][-1])


def test_no_confident_example_gives_empty_arrays(make_model, domains):
    _, _, x_target, _ = domains
    x_kept, y_kept = pseudo_label(make_model(), x_target, threshold=1.0)
    assert x_kept.shape == (0, 3) and y_kept.shape == (0,)


def test_errors_name_the_bad_value(make_model, domains):
    _, _, x_target, _ = domains
    with pytest.raises(ConfigurationError, match="Received: threshold=0"):
        pseudo_label(make_model(), x_target, threshold=0)
    with pytest.raises(ConfigurationError, match="Received: threshold=1.5"):
        pseudo_label(make_model(), x_target, threshold=1.5)
    inputs = keras.Input((3,))
    regressor = keras.Model(inputs, keras.layers.Dense(1)(inputs), name="regressor")
    with pytest.raises(ConfigurationError, match="'regressor' with outputs"):
        pseudo_label(regressor, x_target)
