import json
import os

import pytest
import yaml

from tlkeras.errors import ConfigurationError
from tlkeras.evaluation import cli_compare
from tlkeras.evaluation.config import load_comparison_config

VALID = {
    "backbone": "tiny_eval_cnn",
    "data": {"name": "digits", "image_size": 16},
    "configs": {
        "scratch": {"weights": None, "freeze": False},
        "frozen": {"weights": "ones", "freeze": True},
    },
    "fractions": [0.05],
    "epochs": 1,
    "validation_split": 0.0,
    "tune": None,
    "baselines": ["logistic_regression"],
}


def with_change(path, value):
    config = json.loads(json.dumps(VALID))
    *parents, last = path.split(".")
    target = config
    for key in parents:
        target = target[key]
    target[last] = value
    return config


def test_valid_config_gets_defaults_filled_in():
    config = load_comparison_config(VALID)
    assert config["seeds"] == [0]
    assert config["metrics"] == "auto"
    assert config["configs"]["scratch"] == {"weights": None, "freeze": False}


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("epoch", 5, r"unknown key 'epoch' \(did you mean 'epochs'\?\).*epoch=5"),
        ("epochs", 0, r"'epochs'.*epochs=0"),
        ("epochs", "ten", r"'epochs'.*epochs='ten'"),
        ("fractions", [0.1, 2.0], r"'fractions'.*fractions=\[0.1, 2.0\]"),
        ("shots", [0], r"'shots'.*shots=\[0\]"),
        ("cv", 1, r"'cv'.*cv=1"),
        ("metrics", ["accuracy", "f2"], r"'metrics'.*metrics='f2'"),
        ("data.name", "imagenet", r"'data.name'.*data.name='imagenet'"),
        ("data.image_sise", 16, r"unknown key 'data.image_sise'.*did you mean 'image_size'.*=16"),
        ("configs.scratch.epochs", 50, r"'scratch' sets 'epochs'.*epochs=50"),
        ("configs.scratch.weights", 3, r"'configs.scratch.weights'.*weights=3"),
        ("configs.scratch.freeze", "yes", r"'configs.scratch.freeze'.*freeze='yes'"),
        ("configs.frozen.learning_rate", 5, r"'configs.frozen.learning_rate'.*learning_rate=5"),
        ("validation_split", 1.5, r"'validation_split'.*validation_split=1.5"),
        ("tune", {"learning_rate": 0.1}, r"'tune.learning_rate'.*learning_rate=0.1"),
        ("max_trials", 0, r"'max_trials'.*max_trials=0"),
    ],
)
def test_config_errors_name_the_bad_key_and_value(path, value, message):
    with pytest.raises(ConfigurationError, match=message):
        load_comparison_config(with_change(path, value))


def test_yaml_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 3\nseed: [0]\n")
    with pytest.raises(
        ConfigurationError, match=r"bad.yaml: unknown key 'seed' \(did you mean 'seeds'\?\)"
    ):
        load_comparison_config(path)
    with pytest.raises(ConfigurationError, match="config_path="):
        load_comparison_config(tmp_path / "missing.yaml")


def test_cli_compare_writes_the_run_folder_with_the_config(tmp_path):
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(VALID))
    report = cli_compare(path, tmp_path / "run", verbose=0)
    assert set(report.results["config"]) == {"scratch", "frozen", "logistic_regression"}
    # 5% of each class of the 1347 digits training images: 7 x 10
    assert set(report.results["n_train"]) == {70}
    settings = json.load(open(tmp_path / "run" / "settings.json"))
    assert settings["config_file"] == VALID
    assert settings["rerun"].startswith("tlkeras compare ")
    assert sorted(os.listdir(tmp_path / "run" / "figures")) == [
        "convergence.png",
        "learning_curve_accuracy.png",
    ]
    assert "| 5% of the training set |" in (tmp_path / "run" / "report.md").read_text()


def test_the_example_config_is_valid():
    path = os.path.join(
        os.path.dirname(__file__), "..", "..", "examples", "compare_fashion_mnist.yaml"
    )
    config = load_comparison_config(path)
    assert list(config["configs"]) == ["scratch", "feature_extraction", "fine_tune"]
    assert config["configs"]["scratch"]["weights"] is None
