"""compare() computes a frozen backbone's features once per example for the whole comparison."""

import numpy as np

import tlkeras
from tlkeras.evaluation.feature_store import FeatureStore


def test_frozen_configurations_share_features_across_grid_sizes_and_configs(digits, monkeypatch):
    extracted = []
    original = FeatureStore._extract

    def counting(self, extractor, data):
        features = original(self, extractor, data)
        extracted.append(len(features))
        return features

    monkeypatch.setattr(FeatureStore, "_extract", counting)
    x, y, x_test, y_test = digits
    results = tlkeras.compare(
        # Same seed, same backbone weights: the two differ only above the features.
        {
            "frozen": dict(weights="ones", freeze=True),
            "frozen_l2": dict(weights="ones", freeze=True, feature_norm="l2"),
        },
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        shots=(2, 8),
        seeds=(0,),
        steps=8,
        batch_size=4,
        tune={"learning_rate": [1e-3, 3e-2]},
        baselines=None,
    )
    ids = {i for s in results.attrs["subsets"] for i in s["train"] + s["validation"]}
    # 2 configurations x 2 sizes x 2 learning rates = 8 fits, yet every training example
    # and every test image went through the backbone once.
    assert sum(extracted) == len(ids) + len(y_test)
    # ... and each of those fits trained (from the stored features) and was scored.
    assert {(t["config"], t["shots"]) for t in results.attrs["tuned"]} == {
        (c, k) for c in ("frozen", "frozen_l2") for k in (2, 8)
    }
    assert (results.loc[results["kind"] == "configuration", "steps_run"] >= 1).all()
    assert results.loc[results["metric"] == "accuracy", "value"].between(0, 1).all()
    assert set(results.attrs["settings"]["configs"]) == {"frozen", "frozen_l2"}


def test_random_frozen_backbones_get_their_own_features_per_seed(digits, monkeypatch):
    # One model serves both seeds, but with weights=None its backbone differs
    # per seed: the store must not hand seed 1 the features of seed 0.
    extractions = []
    original = FeatureStore._extract

    def recording(self, extractor, data):
        features = original(self, extractor, data)
        extractions.append(features[:1].copy())
        return features

    monkeypatch.setattr(FeatureStore, "_extract", recording)
    x, y, x_test, y_test = digits
    tlkeras.compare(
        {"random_frozen": dict(weights=None, freeze=True)},
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        shots=(4,),
        seeds=(0, 1),
        steps=4,
        batch_size=4,
        tune=None,
        baselines=None,
    )
    # The same calls (training, validation and test images) for each seed...
    half = len(extractions) // 2
    assert half >= 2 and len(extractions) == 2 * half
    # ... through a backbone with that seed's weights.
    assert not np.allclose(extractions[0], extractions[half])
