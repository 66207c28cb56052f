import json
import os

import pytest

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.evaluation import Report


@pytest.fixture(scope="module")
def results(digits):
    x, y, x_test, y_test = digits
    return tlkeras.compare(
        {"scratch": dict(weights=None, freeze=False), "frozen": dict(weights="ones", freeze=True)},
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        fractions=(0.25, 1.0),
        seeds=(0, 1),
        epochs=2,
        validation_split=0.2,
        tune=None,
        baselines=None,
        metrics=["accuracy", "macro_f1", "per_class_f1", "top_2_accuracy"],
    )


def test_markdown_has_one_row_per_size_and_a_column_per_config(results):
    text = Report(results).to_markdown()
    assert "| training set | n_train | scratch | frozen |" in text
    assert "| 25% of the training set | 48 |" in text
    assert "±" in text
    # per-class scores get their own table, not a column per class
    assert "## test F1 per class" in text and "| 25% of the training set | 0 |" in text
    assert {"f1/0", "f1/1", "f1/2", "top_2_accuracy"} <= set(results["metric"])


def test_save_writes_the_record_and_non_empty_figures(results, tmp_path):
    report = Report(results)
    report.add_table("extra", results.head(3))
    run_dir = report.save(tmp_path / "run")
    files = sorted(os.listdir(run_dir))
    assert files == sorted(
        [
            "results.csv",
            "history.csv",
            "summary.csv",
            "extra.csv",
            "report.md",
            "settings.json",
            "subsets.json",
            "figures",
        ]
    )
    figures = os.listdir(os.path.join(run_dir, "figures"))
    assert sorted(figures) == ["convergence.png", "learning_curve_accuracy.png"]
    for name in figures:
        with open(os.path.join(run_dir, "figures", name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(os.path.join(run_dir, "figures", name)) > 10_000
    settings = json.load(open(os.path.join(run_dir, "settings.json")))
    assert settings["seeds"] == [0, 1]
    assert settings["configs"]["scratch"] == {"weights": None, "freeze": False}
    assert settings["budget"]["epochs"] == 2
    assert settings["versions"]["tensorflow"]
    # nothing but the run folder is left beside it (the staging folder was renamed)
    assert os.listdir(tmp_path) == ["run"]


def test_save_refuses_an_existing_folder_unless_overwrite(results, tmp_path):
    report = Report(results)
    report.save(tmp_path / "run")
    with pytest.raises(ConfigurationError, match="run_dir="):
        report.save(tmp_path / "run")
    report.save(tmp_path / "run", overwrite=True)
    assert os.listdir(tmp_path) == ["run"]


def test_convergence_uses_validation_curves(results):
    report = Report(results)
    assert "val_accuracy" in set(report.history["key"])
    figure = report.convergence_figure()
    assert "val_accuracy" in figure.get_suptitle()
    with pytest.raises(ConfigurationError, match="key='nope'"):
        report.convergence_figure("nope")


def test_a_saved_run_folder_loads_back(results, tmp_path):
    report = Report(results, title="digits")
    report.add_table("extra", results.head(3)[["config", "value"]])
    report.save(tmp_path / "run")
    loaded = Report.load(tmp_path / "run")
    assert loaded.to_markdown() == report.to_markdown()
    assert loaded.settings["seeds"] == [0, 1]
    assert len(loaded.history) == len(report.history)
    with pytest.raises(ConfigurationError, match="run_dir="):
        Report.load(tmp_path)
