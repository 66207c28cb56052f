"""The baselines' small scikit-learn fits run on one BLAS thread (see baselines.one_blas_thread)."""

import numpy as np
from threadpoolctl import threadpool_info

import tlkeras
from tlkeras.evaluation import baselines


def test_baseline_fits_run_on_one_blas_thread_and_restore_it_after(digits, monkeypatch):
    seen = []
    original = baselines.fit_linear

    def spying_fit_linear(*args, **kwargs):
        seen.append(
            {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
        )
        return original(*args, **kwargs)

    monkeypatch.setattr(baselines, "fit_linear", spying_fit_linear)
    before = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    x, y, x_test, y_test = digits
    results = tlkeras.compare(
        {"scratch": dict(weights=None)},
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        shots=(8,),
        seeds=(0,),
        steps=2,
        tune=None,
        baselines=("logistic_regression",),
    )
    assert seen and all(threads == {1} for threads in seen), seen
    after = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    assert after == before
    accuracy = results.query("metric == 'accuracy' and config == 'logistic_regression'")["value"]
    assert np.all(accuracy > 0.8)  # 3 digit classes from 24 images: the fit still works
