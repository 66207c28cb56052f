"""target_entropy_weight: entropy minimisation on the unlabeled target predictions."""

import keras
import numpy as np
import pytest

from tlkeras.domain import DomainAdaptationModel
from tlkeras.domain import adapt
from tlkeras.domain import pair_datasets
from tlkeras.errors import ConfigurationError


def test_loss_adds_weight_times_the_mean_target_entropy(make_model, domains):
    x_source, y_source, x_target, _ = domains
    x = {"source": x_source[:8], "target": x_target[:8]}
    plain = adapt(make_model(seed=3), method="dann")
    weighted = adapt(make_model(seed=3), method="dann", target_entropy_weight=0.5)

    y_pred = plain(x, training=False)
    base = float(plain.compute_loss(x, y_source[:8], y_pred, training=False))
    with_entropy = float(weighted.compute_loss(x, y_source[:8], y_pred, training=False))

    p = keras.ops.convert_to_numpy(y_pred["predictions"])[8:]
    entropy = -np.mean(np.sum(p * np.log(p), axis=-1))
    assert entropy > 0.1  # an untrained head is unsure: the term is not trivially 0
    assert with_entropy - base == pytest.approx(0.5 * entropy, rel=1e-4)


def test_training_lowers_the_logged_target_entropy(make_model, domains):
    x_source, y_source, x_target, _ = domains
    trainer = adapt(
        make_model(seed=1),
        method="dann",
        adaptation_weight=0.1,
        target_entropy_weight=1.0,
        optimizer=keras.optimizers.Adam(1e-2),
    )
    history = trainer.fit(
        pair_datasets((x_source, y_source), x_target, batch_size=16, seed=0), epochs=8, verbose=0
    )
    # Logged in training mode (batch statistics): the term's own effect, not
    # the BatchNorm moving averages' slow catch-up on 32 steps.
    entropy = history.history["target_entropy"]
    assert entropy[-1] < 0.6 * entropy[0]


def test_round_trips_and_rejects_bad_values(make_model, tmp_path):
    trainer = adapt(make_model(), method="coral", target_entropy_weight=0.25)
    path = tmp_path / "wrapper.keras"
    trainer.save(path)
    assert keras.models.load_model(path).target_entropy_weight == 0.25

    with pytest.raises(ConfigurationError, match="target_entropy_weight=-1"):
        DomainAdaptationModel(make_model(), target_entropy_weight=-1)
    with pytest.raises(ConfigurationError, match="target_entropy_weight='high'"):
        DomainAdaptationModel(make_model(), target_entropy_weight="high")
    regressor = make_model()
    inputs = keras.Input((3,))
    regressor = keras.Model(
        inputs, keras.layers.Dense(1)(regressor.get_layer("bottleneck")(regressor.backbone(inputs)))
    )
    with pytest.raises(ConfigurationError, match=r"shape \(None, 1\)"):
        DomainAdaptationModel(regressor, target_entropy_weight=0.1)
