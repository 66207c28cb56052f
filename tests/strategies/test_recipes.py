import keras
import numpy as np
import pytest
from strategy_helpers import snapshot
from strategy_helpers import tiny_backbone
from strategy_helpers import tiny_data
from strategy_helpers import tiny_model

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.optimizers import LayerwiseOptimizer


class BackboneMoved(keras.callbacks.Callback):
    """Records, at each epoch's end, whether the backbone differs from its initial weights."""

    def __init__(self):
        super().__init__()
        self.moved = []

    def on_train_begin(self, logs=None):
        if not hasattr(self, "initial"):
            self.initial = snapshot(self.model.backbone.weights)

    def on_epoch_end(self, epoch, logs=None):
        now = snapshot(self.model.backbone.weights)
        self.moved.append(
            any(not np.array_equal(a, b) for a, b in zip(self.initial, now, strict=True))
        )


def test_fine_tune_trains_the_head_then_everything_at_layerwise_rates():
    model = tiny_model()
    x, y = tiny_data()
    watcher = BackboneMoved()
    history = tlkeras.fine_tune(
        model,
        (x, y),
        validation_data=tiny_data(n=8, seed=1),
        head_epochs=2,
        epochs=2,
        decay=2.0,
        batch_size=8,
        callbacks=[watcher],
        verbose=0,
    )
    assert watcher.moved == [False, False, True, True]
    assert history.epoch == [0, 1, 2, 3]
    assert len(history.history["val_loss"]) == 4
    assert isinstance(model.optimizer, LayerwiseOptimizer)
    assert model.frozen_groups == []


def test_fine_tune_gradual_opens_the_backbone_from_the_top():
    model = tiny_model()
    x, y = tiny_data()
    history = tlkeras.fine_tune(
        model, (x, y), head_epochs=1, epochs=3, gradual=True, batch_size=8, verbose=0
    )
    assert history.history["trainable_groups"][1:] == [3, 4, 5]


def test_fine_tune_names_bad_epochs():
    with pytest.raises(ConfigurationError, match="Received: head_epochs=-1"):
        tlkeras.fine_tune(tiny_model(), tiny_data(), head_epochs=-1)


def _multi_task(loss_weights):
    keras.utils.set_random_seed(0)
    return tlkeras.build(
        tiny_backbone(),
        heads={"species": "classifier", "age": "regressor"},
        num_classes={"species": 3},
        bottleneck=5,
        freeze=False,
        loss_weights=loss_weights,
    )


@pytest.mark.parametrize("age_weight", [0.5, 0.0])
def test_multi_task_fit_on_dict_targets_trains_each_weighted_head(age_weight):
    model = _multi_task({"species": 1.0, "age": age_weight})
    x, species = tiny_data()
    age = np.random.default_rng(2).normal(size=(len(x), 1)).astype("float32")
    targets = {"species": species, "age": age}
    heads = {name: model.get_layer(name).weights for name in ("species", "age")}
    before = {name: snapshot(weights) for name, weights in heads.items()}
    model.fit(x, targets, epochs=2, batch_size=8, verbose=0)
    moved = {
        name: any(not np.array_equal(b, a) for b, a in zip(before[name], snapshot(w), strict=True))
        for name, w in heads.items()
    }
    # A zero loss weight gives the age head no gradient: Adam leaves it in place.
    assert moved == {"species": True, "age": age_weight > 0}
    logs = model.evaluate(x, targets, verbose=0, return_dict=True)
    np.testing.assert_allclose(
        logs["loss"], logs["species_loss"] + age_weight * logs["age_loss"], rtol=1e-5
    )


def test_loss_weights_need_compile():
    with pytest.raises(ConfigurationError, match="compile=False"):
        tlkeras.build(tiny_backbone(), num_classes=3, compile=False, loss_weights={"head": 1.0})
