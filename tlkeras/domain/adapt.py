"""adapt: wrap a transfer model for domain adaptation and compile it, in one call."""

from tlkeras.domain.domain_adaptation_model import DomainAdaptationModel


def adapt(
    model,
    method="dann",
    *,
    adaptation_weight=1.0,
    optimizer="auto",
    loss="auto",
    metrics="auto",
    **kwargs,
):
    """Returns a compiled `DomainAdaptationModel` around `model`, ready for `fit()`.

    Args:
        model: a single-output model from `tlkeras.build(..., bottleneck=...)`.
        method: `"dann"`, `"mmd"`, `"coral"`, or `None` for source-only
            training with the same logs. Defaults to `"dann"`.
        adaptation_weight: λ, the initial reversal factor (DANN) or
            discrepancy weight (MMD / CORAL). Defaults to `1.0`.
        optimizer: passed to `compile`. Defaults to `"auto"`.
        loss: passed to `compile`. Defaults to `"auto"`.
        metrics: passed to `compile`. Defaults to `"auto"`.
        **kwargs: passed to `DomainAdaptationModel` (`features`,
            `discriminator_units`, `mmd_bandwidths`, `name`).

    Example:

    ```python
    mmd = tlkeras.domain.adapt(model, method="mmd", adaptation_weight=0.5)
    mmd.fit(tlkeras.domain.pair_datasets((x_source, y_source), x_target), epochs=10)
    ```
    """
    wrapper = DomainAdaptationModel(
        model, method=method, adaptation_weight=adaptation_weight, **kwargs
    )
    wrapper.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return wrapper
