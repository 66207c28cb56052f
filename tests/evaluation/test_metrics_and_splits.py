import numpy as np
import pytest

from tlkeras.errors import ConfigurationError
from tlkeras.evaluation import kfold_indices
from tlkeras.evaluation import metrics
from tlkeras.evaluation import subset_indices
from tlkeras.evaluation.splits import validation_indices

Y = np.repeat(np.arange(4), 25)


def test_classification_metrics_match_hand_counts():
    y_true = np.array([0, 0, 1, 2])
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]])
    values = metrics.evaluate_predictions(
        y_true,
        scores,
        ["accuracy", "macro_f1", "per_class_f1", "top_2_accuracy"],
        class_names=["a", "b", "c"],
    )
    assert values["accuracy"] == 0.5
    # class a: P=1/2 R=1/2, class b: P=1/2 R=1, class c: 0
    assert values["f1/a"] == pytest.approx(0.5)
    assert values["f1/b"] == pytest.approx(2 / 3)
    assert values["f1/c"] == 0.0
    assert values["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 3)
    assert values["top_2_accuracy"] == 1.0


def test_regression_metrics_and_bleu():
    values = metrics.evaluate_predictions(
        [1.0, 2.0, 3.0], [1.0, 2.0, 5.0], ["mse", "mae", "rmse", "r2"]
    )
    assert values == pytest.approx({"mse": 4 / 3, "mae": 2 / 3, "rmse": np.sqrt(4 / 3), "r2": -1.0})
    assert metrics.bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(
        1.0
    )
    assert metrics.bleu(["the cat sat on the mat"], ["a dog ran"]) == 0.0


def test_unknown_metric_names_the_value():
    with pytest.raises(ConfigurationError, match="metric='f2'"):
        metrics.get("f2")


def test_fraction_subsets_are_stratified_nested_and_seeded():
    small = subset_indices(Y, fraction=0.2, seed=3)
    large = subset_indices(Y, fraction=0.6, seed=3)
    assert np.bincount(Y[small]).tolist() == [5, 5, 5, 5]
    assert set(small) <= set(large)
    np.testing.assert_array_equal(small, subset_indices(Y, fraction=0.2, seed=3))
    assert set(small) != set(subset_indices(Y, fraction=0.2, seed=4))


def test_shots_take_k_per_class_and_refuse_too_many():
    chosen = subset_indices(Y, shots=2, seed=0)
    assert np.bincount(Y[chosen]).tolist() == [2, 2, 2, 2]
    with pytest.raises(ConfigurationError, match="shots=26"):
        subset_indices(Y, shots=26)


def test_kfold_test_parts_partition_the_data_and_never_overlap_training():
    folds = kfold_indices(Y, 5, seed=0)
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(Y)))
    for train, test in folds:
        assert not set(train) & set(test)
        assert len(train) + len(test) == len(Y)
        assert np.bincount(Y[test]).tolist() == [5, 5, 5, 5]
    with pytest.raises(ConfigurationError, match="cv=1"):
        kfold_indices(Y, 1)


def test_validation_split_is_disjoint_and_keeps_every_class():
    subset = subset_indices(Y, shots=5, seed=0)
    train, validation = validation_indices(Y, subset, 0.2, seed=0)
    assert not set(train) & set(validation)
    assert sorted(np.concatenate([train, validation])) == sorted(subset)
    assert np.bincount(Y[validation]).tolist() == [1, 1, 1, 1]
