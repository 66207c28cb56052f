"""Ablations: switch parts of a recipe off one at a time and report what each was worth."""

from tlkeras.errors import ConfigurationError

BASE = "base"


def ablate(base, ablations, train_data, test_data=None, **compare_kwargs):
    """Runs `base` and each ablated variant under one budget; returns the deltas.

    Args:
        base: the full recipe, a configuration dict as for `tlkeras.compare`
            (e.g. `dict(weights="imagenet", strategy="gradual", bottleneck=128)`).
        ablations: a dict name -> changes merged over `base`, e.g.
            `{"no_pretraining": dict(weights=None), "no_bottleneck": dict(bottleneck=None)}`.
        train_data: `(x, y)`.
        test_data: held-out `(x, y)`. Defaults to `None` (then pass `cv=`).
        **compare_kwargs: passed to `tlkeras.compare` (backbone, seeds,
            epochs, fractions, ...).

    Returns:
        A DataFrame with columns `ablation, fraction, shots, metric, mean,
        std, delta` (`delta` = ablated mean - base mean, so a negative delta is
        what the removed part contributed); `attrs["results"]` holds the
        raw `compare()` rows.

    Example:

    ```python
    deltas = tlkeras.analysis.ablate(
        dict(weights="imagenet", strategy="full", bottleneck=128),
        {"no_pretraining": dict(weights=None), "no_bottleneck": dict(bottleneck=None)},
        (x, y), (x_test, y_test), backbone="efficientnet_lite0", seeds=(0, 1),
    )
    ```
    """
    from tlkeras.evaluation.compare import compare

    if not isinstance(ablations, dict) or not ablations:
        raise ConfigurationError(
            f"ablations must be a non-empty dict name -> changes. Received: ablations={ablations!r}"
        )
    if BASE in ablations:
        raise ConfigurationError(
            f"{BASE!r} names the full recipe. Received: ablation named {BASE!r}"
        )
    configs = {BASE: dict(base)}
    for name, changes in ablations.items():
        if not isinstance(changes, dict):
            raise ConfigurationError(
                f"Ablation {name!r} must be a dict of changes. Received: {name}={changes!r}"
            )
        configs[name] = {**base, **changes}
    results = compare(configs, train_data, test_data, **compare_kwargs)
    sizes = ["fraction", "shots"]
    keys = [*sizes, "metric"]
    stats = (
        results.groupby(["config", *keys], dropna=False)["value"].agg(["mean", "std"]).reset_index()
    )
    reference = stats[stats["config"] == BASE].set_index(keys)["mean"].rename("base_mean")
    stats = stats.join(reference, on=keys)
    stats["delta"] = stats["mean"] - stats["base_mean"]
    deltas = stats.rename(columns={"config": "ablation"}).drop(columns="base_mean")
    deltas.attrs["results"] = results.to_dict("records")
    return deltas.reset_index(drop=True)
