import keras
import numpy as np
import pytest
from strategy_helpers import changed
from strategy_helpers import group_weights
from strategy_helpers import snapshot
from strategy_helpers import tiny_data
from strategy_helpers import tiny_model

from tlkeras.callbacks import GradualUnfreezing
from tlkeras.errors import ConfigurationError


class EpochSnapshots(keras.callbacks.Callback):
    """Weights of every layer group at the start and end of each epoch."""

    def __init__(self):
        super().__init__()
        self.begin, self.end = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.begin.append([snapshot(vs) for vs in group_weights(self.model)])

    def on_epoch_end(self, epoch, logs=None):
        self.end.append([snapshot(vs) for vs in group_weights(self.model)])


def _moved(before, after):
    return [not np.array_equal(b, a) for b, a in zip(before, after, strict=True)]


@pytest.mark.xfail(
    keras.backend.backend() == "jax",
    strict=True,
    reason="JAX rebuilds the optimizer at each unfreezing step, so its step counter restarts",
)
def test_each_group_starts_training_in_its_epoch_within_one_fit():
    model = tiny_model()
    model.freeze()  # backbone frozen: 3 backbone groups, bottleneck, head
    x, y = tiny_data()
    snapshots = EpochSnapshots()
    history = model.fit(
        x,
        y,
        epochs=4,
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[GradualUnfreezing(every=1), snapshots],
    )
    # Group g of 5 opens in epoch 3 - g; the top two (bottleneck, head) at once.
    opens = {0: 3, 1: 2, 2: 1, 3: 0, 4: 0}
    initial = snapshots.begin[0]
    for group, epoch_open in opens.items():
        for epoch in range(4):
            end = snapshots.end[epoch][group]
            if epoch < epoch_open:
                # Bit-identical, BatchNorm moving statistics included.
                assert not any(_moved(initial[group], end)), (group, epoch)
            else:
                moved = _moved(snapshots.begin[epoch][group], end)
                assert any(moved), (group, epoch)
    assert history.history["trainable_groups"] == [2, 3, 4, 5]
    # One optimizer all along: its step counter counts every step of the fit.
    assert int(model.optimizer.iterations) == 4 * 2


def test_unfreezing_inside_fit_equals_unfreezing_between_fits():
    x, y = tiny_data()
    schedule = {0: 2, 1: 5}
    inside = tiny_model()
    inside.freeze()
    inside.fit(
        x, y, epochs=2, batch_size=8, shuffle=False, verbose=0,
        callbacks=[GradualUnfreezing(schedule=schedule)],
    )  # fmt: skip
    between = tiny_model()
    between.freeze()
    between.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    between.unfreeze()
    between.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    # Same optimizer state carried over (Adam moments of the head), same result.
    for a, b in zip(inside.weights, between.weights, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-6, atol=1e-7
        )


def test_schedule_keeps_model_state_before_first_key_and_can_skip_groups():
    model = tiny_model()
    model.freeze(4)  # head only
    x, y = tiny_data()
    head_and_bottleneck = group_weights(model)[3]
    before = snapshot(head_and_bottleneck)
    history = model.fit(
        x, y, epochs=3, batch_size=8, verbose=0,
        callbacks=[GradualUnfreezing(schedule={1: 2, 2: 5})],
    )  # fmt: skip
    assert history.history["trainable_groups"] == [1, 2, 5]
    assert model.frozen_groups == []
    assert any(changed(head_and_bottleneck, before))


def test_verbose_prints_which_groups_train(capsys):
    model = tiny_model()
    model.freeze()
    x, y = tiny_data(n=8)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[GradualUnfreezing(verbose=1)])
    out = capsys.readouterr().out
    assert (
        "Epoch 2: GradualUnfreezing: the top 3 of 5 layer groups train (from 'depthwise_c' up)"
        in out
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every": 0}, "Received: every=0"),
        ({"every": 1.5}, "Received: every=1.5"),
        ({"schedule": {0: 0}}, r"Received: schedule\[0\]=0"),
        ({"schedule": {-1: 2}}, r"Received: schedule\[-1\]=2"),
        ({"schedule": {"0": 2}}, "schedule keys and values must be ints"),
        ({"schedule": {}}, "Received: schedule={}"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        GradualUnfreezing(**kwargs)


def test_schedule_beyond_the_groups_and_plain_models_are_refused():
    x, y = tiny_data(n=8)
    model = tiny_model()
    with pytest.raises(ConfigurationError, match=r"schedule entries \{0: 9\}"):
        model.fit(x, y, verbose=0, callbacks=[GradualUnfreezing(schedule={0: 9})])
    plain = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ConfigurationError, match="Received: model of type Sequential"):
        plain.fit(x, y, verbose=0, callbacks=[GradualUnfreezing()])
