"""compare() traces each configuration's steps once and still trains every run as if fresh."""

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.evaluation import runner as runner_lib

CONFIGS = {"scratch": dict(weights=None, freeze=False)}


def _compare(digits):
    x, y, x_test, y_test = digits
    return tlkeras.compare(
        CONFIGS,
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        shots=(4,),
        seeds=(0, 1),
        steps=6,
        batch_size=4,
        early_stopping=None,
        tune={"learning_rate": [1e-3, 3e-2]},
        baselines=None,
    )


def test_runs_reuse_the_traced_steps_and_match_freshly_compiled_runs(digits, monkeypatch):
    compiles = []
    original = keras.Model.compile

    def counting_compile(model, *args, **kwargs):
        compiles.append(model.name)
        return original(model, *args, **kwargs)

    builds = []
    original_build = runner_lib.Runner._build

    def counting_build(runner, kwargs):
        builds.append(kwargs)
        return original_build(runner, kwargs)

    monkeypatch.setattr(keras.Model, "compile", counting_compile)
    monkeypatch.setattr(runner_lib.Runner, "_build", counting_build)
    reused = _compare(digits)
    # One build per seed (tlkeras.build compiles), then 2 seeds x 2 learning
    # rates = 4 trainings from one compile (on TensorFlow; elsewhere each
    # run compiles afresh, see runner.compile_signature).
    assert len(builds) == 2
    kept = keras.backend.backend() == "tensorflow"
    assert len(compiles) == len(builds) + (1 if kept else 4), compiles

    def always_compile(model, arguments, previous=None):
        model.compile(**arguments)
        return None

    monkeypatch.setattr(runner_lib, "compile_for_run", always_compile)
    compiles.clear()
    builds.clear()
    fresh = _compare(digits)
    assert len(compiles) == len(builds) + 4
    np.testing.assert_allclose(reused["value"], fresh["value"], atol=1e-6)
    assert [h["value"] for h in reused.attrs["history"]] == [
        h["value"] for h in fresh.attrs["history"]
    ]
    assert reused.attrs["tuned"] == fresh.attrs["tuned"]


KEPT_ON_TENSORFLOW_ONLY = pytest.mark.tensorflow_only(
    "compare() keeps traced steps on TensorFlow only (runner.compile_signature)"
)


@KEPT_ON_TENSORFLOW_ONLY
def test_the_learning_rate_of_a_reused_compile_takes_effect():
    def model():
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        return net

    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    finals = {}
    for rate in (1e-3, 1e-1):
        net = model()
        previous = runner_lib.compile_for_run(
            net, dict(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        )
        net.fit(x, y, epochs=1, verbose=0)
        initial = [np.array(w) for w in model().get_weights()]
        net.set_weights(initial)
        arguments = dict(optimizer=keras.optimizers.Adam(rate), loss="mse")
        function = net.train_function
        runner_lib.compile_for_run(net, arguments, previous)
        assert net.train_function is function  # nothing retraced
        assert int(net.optimizer.iterations) == 0
        assert np.isclose(float(net.optimizer.learning_rate), rate)
        net.fit(x, y, epochs=1, verbose=0, shuffle=False)
        moved = np.abs(net.get_weights()[0] - initial[0]).max()
        # Adam's first step moves each weight by about the learning rate.
        finals[rate] = moved
    assert np.isclose(finals[1e-3], 1e-3, rtol=0.1) and np.isclose(finals[1e-1], 1e-1, rtol=0.1)


@KEPT_ON_TENSORFLOW_ONLY
def test_another_optimizer_or_loss_compiles_afresh():
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    first = runner_lib.compile_for_run(net, dict(optimizer=keras.optimizers.Adam(1e-2), loss="mse"))
    for arguments in (
        dict(optimizer=keras.optimizers.SGD(1e-2), loss="mse"),
        dict(optimizer=keras.optimizers.Adam(1e-2), loss="mae"),
        dict(optimizer=keras.optimizers.AdamW(1e-2, weight_decay=0.1), loss="mse"),
    ):
        net.fit(np.ones((4, 3)), np.zeros((4, 1)), verbose=0)
        function = net.train_function
        first = runner_lib.compile_for_run(net, arguments, first)
        assert net.train_function is not function


def _scores_searched_and_alone(digits, configs, grid):
    """compare() with `grid` as the learning-rate grid, and with only its chosen rate."""
    x, y, x_test, y_test = digits
    common = dict(
        backbone="tiny_eval_cnn",
        shots=(4,),
        seeds=(0,),
        steps=6,
        batch_size=4,
        early_stopping=None,
        baselines=None,
        metrics=["accuracy", "macro_f1"],
    )
    searched = tlkeras.compare(
        configs, (x, y), (x_test, y_test), tune={"learning_rate": grid}, **common
    )
    chosen = [row["learning_rate"] for row in searched.attrs["tuned"]]
    alone = tlkeras.compare(
        configs, (x, y), (x_test, y_test), tune={"learning_rate": chosen}, **common
    )
    return searched, alone, chosen


@pytest.mark.parametrize("grid", [[1e-3, 0.9], [0.9, 1e-3]])
def test_the_chosen_trial_is_scored_not_the_last_one_trained(digits, grid):
    # Every trial trains the configuration's one model in place; a rate of 0.9
    # wrecks it. Whatever the order, the scores must be the chosen rate's.
    searched, alone, chosen = _scores_searched_and_alone(digits, CONFIGS, grid)
    assert chosen == [1e-3]
    np.testing.assert_allclose(searched["value"], alone["value"], rtol=1e-5)


def test_the_chosen_trial_is_scored_when_training_on_stored_features(digits):
    frozen = {"frozen": dict(freeze=True)}
    searched, alone, chosen = _scores_searched_and_alone(digits, frozen, [1e-3, 0.9])
    assert chosen == [1e-3]
    np.testing.assert_allclose(searched["value"], alone["value"], rtol=1e-5)
