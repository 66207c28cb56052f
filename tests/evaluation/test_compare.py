import numpy as np
import pytest

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.evaluation.scoring import RESULT_COLUMNS

CONFIGS = {
    "scratch": dict(weights=None, freeze=False),
    "feature_extraction": dict(weights="ones", freeze=True),
}


def run(digits, **kwargs):
    x, y, x_test, y_test = digits
    # The budget in epochs, untuned, without baselines: what these tests are about.
    arguments = dict(
        backbone="tiny_eval_cnn",
        fractions=(0.25, 0.5),
        seeds=(0,),
        epochs=2,
        validation_split=0.0,
        early_stopping=None,
        tune=None,
        baselines=None,
    )
    arguments.update(kwargs)
    test = None if "cv" in kwargs else (x_test, y_test)
    return tlkeras.compare(CONFIGS, (x, y), test, **arguments)


def test_dataframe_is_tidy_with_one_row_per_run_and_metric(digits):
    results = run(digits, seeds=(0, 1), shots=(4,))
    assert list(results.columns) == list(RESULT_COLUMNS)
    # 2 configs x 2 seeds x (2 fractions + 1 shots) x 2 metrics
    assert len(results) == 2 * 2 * 3 * 2
    assert set(results["metric"]) == {"accuracy", "macro_f1"}
    assert results["value"].between(0, 1).all()
    assert sorted(results["n_train"].unique()) == [12, 60, 120]
    assert (results["wall_time"] > 0).all()
    assert (results["epochs_run"] == 2).all()
    # two epochs of 1 (12 images), 2 (60) or 4 (120) batches of 32
    assert set(results["steps_run"]) == {2, 4, 8}
    assert results["steps_to_95pct_of_final"].between(1, 8).all()
    assert results.attrs["settings"]["seeds"] == [0, 1]
    assert results.attrs["settings"]["versions"]["keras"]


def test_same_seed_repeats_exactly_and_another_seed_differs(digits):
    first = run(digits, fractions=(0.5,))
    second = run(digits, fractions=(0.5,))
    np.testing.assert_array_equal(first["value"].to_numpy(), second["value"].to_numpy())
    history = [h["value"] for h in first.attrs["history"]]
    assert history == [h["value"] for h in second.attrs["history"]]
    other = run(digits, fractions=(0.5,), seeds=(1,))
    assert [h["value"] for h in other.attrs["history"]] != history


def test_every_config_gets_the_same_budget(digits):
    calls = []

    def build_fn(**kwargs):
        model = tlkeras.build(**kwargs)
        original_fit = model.fit

        def fit(*args, **fit_kwargs):
            callbacks = [type(c).__name__ for c in fit_kwargs["callbacks"]]
            calls.append((kwargs["weights"], fit_kwargs["epochs"], callbacks, len(fit_kwargs["x"])))
            return original_fit(*args, **fit_kwargs)

        model.fit = fit
        return model

    # Without the feature store, so that the frozen configuration's fit() is the one seen.
    results = run(
        digits,
        fractions=(0.5,),
        epochs=3,
        early_stopping=1,
        build_fn=build_fn,
        num_classes=3,
        cache_features=False,
    )
    assert [c[0] for c in calls] == [None, "ones"]
    # same epochs, same early stopping, same training images for both
    assert {(c[1], tuple(c[2]), c[3]) for c in calls} == {(3, ("EarlyStopping",), 120)}
    assert set(results["n_train"]) == {120}


def test_config_setting_the_budget_is_refused_naming_key_and_value(digits):
    x, y, x_test, y_test = digits
    with pytest.raises(ConfigurationError, match=r"'fine_tune'.*epochs=50"):
        tlkeras.compare(
            {"fine_tune": dict(epochs=50)}, (x, y), (x_test, y_test), backbone="tiny_eval_cnn"
        )


def test_cross_validation_scores_every_fold(digits):
    results = run(digits, cv=3, fractions=(1.0,), epochs=1)
    accuracy = results[results["metric"] == "accuracy"]
    assert sorted(accuracy["fold"].unique()) == [0, 1, 2]
    # each fold trains on the other two thirds of the 240 training images
    assert set(accuracy["n_train"]) == {160}


def test_regression_targets_get_regression_metrics(digits):
    x, y, x_test, y_test = digits
    results = tlkeras.compare(
        {"scratch": dict(weights=None)},
        (x, y.astype("float32")),
        (x_test, y_test.astype("float32")),
        backbone="tiny_eval_cnn",
        head="regressor",
        steps=2,
        tune=None,
        baselines="logistic_regression",
    )
    assert set(results["metric"]) == {"mse", "mae", "r2"}
    # the raw-input baseline of a regression is a ridge regression, scored alike
    ridge = results[(results["config"] == "logistic_regression") & (results["metric"] == "r2")]
    assert ridge["value"].iloc[0] > 0.5
    assert np.isnan(results["fraction"]).all()


def test_tuning_searches_the_same_trials_for_every_config(digits):
    results = run(
        digits,
        fractions=(0.5,),
        epochs=1,
        validation_split=0.25,
        tune={"learning_rate": [0.05, 0.0001, 0.001]},
        max_trials=2,
    )
    tuned = results.attrs["tuned"]
    assert [t["config"] for t in tuned] == ["scratch", "feature_extraction"]
    assert all(t["learning_rate"] in (0.05, 0.0001, 0.001) for t in tuned)
    assert [t["trials"] for t in tuned] == [2, 2]
    assert "## tuned hyperparameters" in tlkeras.evaluation.Report(results).to_markdown()
    assert results.attrs["settings"]["budget"]["max_trials"] == 2
    # no validation split: nothing to choose on, the middle value is used and said so
    untuned = run(digits, fractions=(0.5,), epochs=1, tune={"learning_rate": [0.05, 0.01, 0.2]})
    assert {(t["chosen_on"], t["learning_rate"]) for t in untuned.attrs["tuned"]} == {
        ("fallback", 0.01)
    }
    with pytest.raises(ConfigurationError, match="epochs=\\[1, 2\\]"):
        run(digits, fractions=(0.5,), epochs=1, validation_split=0.25, tune={"epochs": [1, 2]})


def test_precise_bn_sets_statistics_to_the_training_data_and_leaves_frozen_bn_alone():
    import keras

    inputs = keras.Input((3,))
    trained = keras.layers.BatchNormalization(name="trained")
    frozen = keras.layers.BatchNormalization(name="frozen")
    model = keras.Model(inputs, frozen(trained(inputs)))
    frozen.trainable = False
    x = np.random.default_rng(0).normal(5.0, 2.0, size=(30, 3)).astype("float32")
    tlkeras.evaluation.recalibrate_batchnorm(model, dict(x=x, batch_size=10))
    # the cumulative average of the three batch means is the mean of the data
    np.testing.assert_allclose(trained.moving_mean.numpy(), x.mean(axis=0), rtol=1e-5)
    batch_variances = np.mean([x[i : i + 10].var(axis=0) for i in (0, 10, 20)], axis=0)
    np.testing.assert_allclose(trained.moving_variance.numpy(), batch_variances, rtol=1e-4)
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), np.zeros(3))
    assert trained.momentum == 0.99  # restored


def test_learning_rate_in_a_config_gives_each_run_a_fresh_adam_state(digits):
    # Runs share the traced step (see test_traced_steps_reuse.py), not the
    # optimizer state: each fit starts at iteration 0, with zero moments.
    optimizers, states = [], []

    def build_fn(**kwargs):
        model = tlkeras.build(**kwargs)
        original_fit = model.fit

        def fit(*args, **fit_kwargs):
            optimizers.append(model.optimizer)
            moments = [v for v in model.optimizer.variables if "momentum" in v.path]
            states.append(
                (
                    int(model.optimizer.iterations),
                    max(float(np.abs(np.array(v)).max()) for v in moments) if moments else 0.0,
                )
            )
            return original_fit(*args, **fit_kwargs)

        model.fit = fit
        return model

    x, y, x_test, y_test = digits
    tlkeras.compare(
        {"slow": dict(weights=None, learning_rate=3e-4)},
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        num_classes=3,
        fractions=(0.25, 0.5),
        epochs=1,
        tune=None,
        baselines=None,
        build_fn=build_fn,
    )
    assert len(optimizers) == 2
    assert states == [(0, 0.0), (0, 0.0)]
    assert int(optimizers[0].iterations) > 0 or optimizers[0] is not optimizers[1]
    assert [float(o.learning_rate) for o in optimizers] == pytest.approx([3e-4, 3e-4])
