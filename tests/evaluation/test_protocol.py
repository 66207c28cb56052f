"""compare()'s protocol: a step budget, baselines as rows, one grid for all, paired statistics."""

import inspect

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.evaluation import Report
from tlkeras.evaluation.report import paired_test
from tlkeras.evaluation.runner import StepBudget
from tlkeras.evaluation.runner import loss_plateau

CONFIGS = {
    "scratch": dict(weights=None, freeze=False),
    "frozen": dict(weights="ones", freeze=True),
}


@pytest.fixture(scope="module")
def results(digits):
    """Two configurations and both baselines, 1 and 8 shots, 2 seeds, a 2-value grid."""
    x, y, x_test, y_test = digits
    return tlkeras.compare(
        CONFIGS,
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        shots=(1, 8),
        seeds=(0, 1),
        steps=6,
        batch_size=4,
        early_stopping=None,
        tune={"learning_rate": [1e-3, 3e-2]},
        metrics=["accuracy", "per_class_f1"],
    )


def test_every_network_run_takes_the_same_optimizer_steps_whatever_its_size(results):
    networks = results[results["kind"] == "configuration"]
    # 1 shot = 3 images (one batch per pass), 8 shots = 18 (5 batches): 6 steps each
    assert set(networks["n_train"]) == {3, 18}
    assert set(networks["steps_run"]) == {6}
    assert results.attrs["settings"]["budget"]["steps"] == 6
    assert results.attrs["settings"]["budget"]["batch_size"] == 4


def test_step_budget_stops_at_exactly_the_steps_and_records_them():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    budget = StepBudget(7)
    x = np.zeros((12, 2), "float32")
    model.fit(x, x[:, :1], batch_size=4, epochs=5, callbacks=[budget], verbose=0)
    # 3 batches per epoch: stopped in the third epoch, after step 7
    assert budget.step_at_epoch_end == [3, 6, 7]


def test_step_early_stopping_restores_the_best_weights():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    x = np.ones((4, 1), "float32")
    # Training pulls the weight to 1, validation wants -1: val_loss only grows.
    budget = StepBudget(100, patience=3)
    model.layers[0].kernel.assign([[0.0]])
    model.fit(
        x, x, validation_data=(x, -x), batch_size=4, epochs=100, callbacks=[budget], verbose=0
    )
    assert budget.step_at_epoch_end[-1] == 4  # best at step 1, stopped 3 steps later
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), [[1.0]])  # after step 1


def test_batch_size_and_steps_in_a_configuration_are_refused(digits):
    x, y, x_test, y_test = digits
    for key, value in (("batch_size", 8), ("steps", 50)):
        with pytest.raises(ConfigurationError, match=rf"'big'.*{key}={value}"):
            tlkeras.compare(
                {"big": {key: value}}, (x, y), (x_test, y_test), backbone="tiny_eval_cnn"
            )
    with pytest.raises(ConfigurationError, match=r"steps=10, epochs=2"):
        tlkeras.compare(
            CONFIGS, (x, y), (x_test, y_test), backbone="tiny_eval_cnn", steps=10, epochs=2
        )


def test_baselines_are_rows_scored_on_the_same_subsets(results):
    baselines = results[results["kind"] == "baseline"]
    assert set(baselines["config"]) == {"logistic_regression", "linear_probe"}
    # one subset hash per (size, seed), whichever row trained on it
    assert (results.groupby(["shots", "seed"])["subset"].nunique() == 1).all()
    subsets = results.attrs["subsets"]
    assert len(subsets) == 4
    for subset in subsets:
        row = results[(results["shots"] == subset["shots"]) & (results["seed"] == subset["seed"])]
        assert len(subset["train"]) == row["n_train"].iloc[0]
        assert len(subset["validation"]) == row["n_val"].iloc[0]
        assert not set(subset["train"]) & set(subset["validation"])
    # digits 0-2 are easy for a logistic regression on the pixels
    accuracy = baselines[(baselines["metric"] == "accuracy") & (baselines["shots"] == 8)]
    assert accuracy[accuracy["config"] == "logistic_regression"]["value"].min() > 0.8


def test_raw_input_baseline_reads_text_as_tf_idf():
    from tlkeras.evaluation.baselines import fit_linear
    from tlkeras.evaluation.baselines import raw_features

    texts = np.array(["the cat sat", "a dog barked", "cats purr", "dogs bark loud"] * 3)
    labels = np.array([0, 1, 0, 1] * 3)
    features = raw_features(list(texts))
    assert features.dtype.kind == "U"
    model, choice = fit_linear(features[:8], labels[:8], features[8:], labels[8:], True, 0)
    assert choice["chosen_on"] == "validation" and choice["C"] in (0.01, 0.1, 1.0, 10.0)
    assert (model.predict(features[8:]) == labels[8:]).all()


def test_each_configuration_gets_its_learning_rate_from_the_same_grid(results):
    tuned = [t for t in results.attrs["tuned"] if t["config"] in CONFIGS]
    with_validation = [t for t in tuned if t["shots"] == 8]
    assert {t["trials"] for t in with_validation} == {2}
    assert {t["chosen_on"] for t in with_validation} == {"validation"}
    assert {t["learning_rate"] for t in tuned} <= {1e-3, 3e-2}
    # 1 shot per class leaves no validation example: the grid's middle value, said so
    one_shot = [t for t in tuned if t["shots"] == 1]
    assert {(t["chosen_on"], t["learning_rate"], t["trials"]) for t in one_shot} == {
        ("fallback", 1e-3, 1)
    }
    text = Report(results).to_markdown()
    assert "## tuned hyperparameters" in text and "learning_rate" in text


def test_a_configuration_cannot_bring_its_own_learning_rate_to_a_tuned_comparison(digits):
    x, y, x_test, y_test = digits
    with pytest.raises(ConfigurationError, match=r"'fine'.*equal care.*learning_rate=0.0003"):
        tlkeras.compare(
            {"fine": dict(learning_rate=3e-4)}, (x, y), (x_test, y_test), backbone="tiny_eval_cnn"
        )


def test_paired_test_says_not_significant_where_it_is_not():
    better = paired_test([0.8, 0.82, 0.85, 0.81], [0.7, 0.71, 0.74, 0.72])
    assert better[0] == 4 and better[-1] == "better" and float(better[3]) < 0.05
    noisy = paired_test([0.8, 0.6, 0.75], [0.7, 0.72, 0.74])
    assert noisy[-1] == "not significant"
    assert paired_test([0.9], [0.5])[-1].startswith("n/a")


def test_report_has_paired_differences_per_class_f1_and_the_shared_subsets(results):
    text = Report(results).to_markdown()
    assert "## paired differences in test accuracy vs logistic_regression" in text
    assert "| 8-shot | scratch | 2 |" in text
    assert "## test F1 per class (mean ± std over 2 seeds/folds)" in text
    assert "| 8-shot | 2 |" in text  # class "2" row
    assert "All 4 rows (configurations and baselines) were trained" in text


def test_one_seed_is_not_called_mean_plus_minus_std(digits):
    x, y, x_test, y_test = digits
    one = tlkeras.compare(
        {"scratch": dict(weights=None)},
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        shots=(4,),
        steps=2,
        tune=None,
        baselines="logistic_regression",
    )
    text = Report(one).to_markdown()
    assert "±" not in text and "one seed: no spread to show" in text
    figure = Report(one).learning_curve_figure()
    assert "±" not in figure.get_suptitle()


def test_learning_curve_axis_counts_what_its_ticks_count(results, digits):
    figure = Report(results).learning_curve_figure()
    (ax,) = figure.axes
    assert "per class" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "8"]
    assert ax.get_xscale() == "log"


def test_convergence_is_plotted_on_validation_per_step(results):
    figure = Report(results).convergence_figure()
    assert "val_" in figure.get_suptitle() and "validation split" in figure.get_suptitle()
    assert figure.axes[0].get_xlabel() == "optimizer step"


def test_progress_lines_count_runs_with_elapsed_and_left(digits, capsys):
    x, y, x_test, y_test = digits
    tlkeras.compare(
        {"scratch": dict(weights=None)},
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        shots=(2,),
        steps=1,
        tune=None,
        baselines="logistic_regression",
        verbose=1,
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if "[compare]" in line]
    assert len(lines) == 2
    assert lines[0].startswith("[compare] run 1/2 scratch") and "left" in lines[0]
    assert "elapsed 0:" in lines[1] and "about 0:00 left" in lines[1]


def test_save_keeps_subset_ids_and_the_record(results, tmp_path):
    import json

    run_dir = Report(results).save(tmp_path / "run")
    with open(f"{run_dir}/subsets.json") as f:
        assert len(json.load(f)) == 4
    with open(f"{run_dir}/settings.json") as f:
        settings = json.load(f)
    assert settings["budget"]["tune"] == {"learning_rate": [1e-3, 3e-2]}
    assert settings["baselines"] == ["logistic_regression", "linear_probe"]
    loaded = Report.load(run_dir)
    assert len(loaded.subsets) == 4


def test_loss_plateau_tells_a_flat_curve_from_a_falling_one():
    assert loss_plateau([2.0, 1.0, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5]) is True
    assert loss_plateau([2.0, 1.8, 1.6, 1.4, 1.2, 1.0, 0.8, 0.6]) is False
    assert loss_plateau([1.0, 0.5]) is None


def test_demo_defaults_draw_a_real_learning_curve():
    from tlkeras.evaluation import learning_curve_demo

    defaults = {k: p.default for k, p in inspect.signature(learning_curve_demo).parameters.items()}
    assert len(defaults["shots"]) >= 4 and len(defaults["seeds"]) >= 3


def test_the_command_line_demo_runs_the_functions_defaults(monkeypatch):
    # cli.py repeats the defaults so that `tlkeras --help` imports no TensorFlow.
    import tlkeras.evaluation
    from tlkeras import cli

    function = tlkeras.evaluation.learning_curve_demo
    received = {}
    monkeypatch.setattr(tlkeras.evaluation, "learning_curve_demo", received.update)
    monkeypatch.setattr("tlkeras.native_logs.import_backend_quietly", lambda: None)
    assert cli.main(["demo"]) == 0
    for key, parameter in inspect.signature(function).parameters.items():
        if key in ("shots", "seeds", "image_size", "steps", "batch_size"):
            value = received[key]
            assert (tuple(value) if key in ("shots", "seeds") else value) == parameter.default, key
