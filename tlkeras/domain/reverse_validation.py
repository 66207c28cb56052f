"""reverse_validation: score a domain adaptation recipe without target labels (Ganin et al., 2016)."""

import dataclasses

import numpy as np

from tlkeras.domain.pairing import pair_datasets
from tlkeras.errors import ConfigurationError


@dataclasses.dataclass(frozen=True)
class ReverseValidation:
    """What `reverse_validation` measured.

    Attributes:
        reverse_accuracy: accuracy, on held-out *source* examples, of a model
            adapted back from the target with the forward model's pseudo-labels:
            the label-free estimate of how well the recipe transfers.
        source_accuracy: the forward model's accuracy on the same held-out
            source examples.
        model: the forward model (trained on all but the held-out source),
            the one to keep when this recipe wins.
    """

    reverse_accuracy: float
    source_accuracy: float
    model: object


def reverse_validation(
    make_model,
    source,
    target,
    *,
    validation_fraction=0.2,
    batch_size=32,
    seed=0,
    **fit_kwargs,
):
    """Scores a domain adaptation recipe with reverse validation (no target labels).

    Model selection in domain adaptation has no labeled target data to
    validate on. Reverse validation (Zhong et al., 2010; used for DANN's
    hyper-parameters by Ganin et al., 2016) closes the loop instead:

    1. the *forward* model adapts from the source (minus a held-out part) to
       the target, and labels the target examples;
    2. a *reverse* model, made by the same recipe, adapts from the
       pseudo-labeled target back to the source;
    3. the reverse model's accuracy on the held-out source examples scores
       the recipe: pseudo-labels that are wrong on the target do not carry
       back to the source.

    Compare recipes (methods, λ, epochs) by `reverse_accuracy`, the higher
    the better, and keep that recipe's `model`.

    Args:
        make_model: a callable returning a new, compiled
            `DomainAdaptationModel` with a classifier head, e.g.
            `lambda: tlkeras.build(backbone_fn(), num_classes=10,
            bottleneck=128, domain_adaptation="dann")`. Called twice.
        source: labeled source data `(x, y)`, arrays with integer labels.
        target: unlabeled target inputs, an array.
        validation_fraction: share of the source held out to score both
            models, in (0, 1). Defaults to `0.2`.
        batch_size: source (and target) examples per batch. Defaults to `32`.
        seed: shuffling and split seed. Defaults to `0`.
        **fit_kwargs: passed to both `fit()` calls (`epochs`, `callbacks`, ...).

    Returns:
        A `ReverseValidation` with `reverse_accuracy`, `source_accuracy`
        and the forward `model`.

    Example:

    ```python
    scores = {
        weight: tlkeras.domain.reverse_validation(
            lambda: tlkeras.build(make_cnn(), num_classes=10, bottleneck=100,
                                  domain_adaptation={"method": "dann"}),
            (x_source, y_source), x_target, epochs=10,
            callbacks=[DomainAdversarialSchedule(max_weight=weight)],
        ).reverse_accuracy
        for weight in (0.1, 0.3, 1.0)
    }
    ```
    """
    if not callable(make_model):
        raise ConfigurationError(
            "make_model must be a callable that returns a new DomainAdaptationModel. "
            f"Received: make_model={make_model!r}"
        )
    if not isinstance(validation_fraction, float) or not 0.0 < validation_fraction < 1.0:
        raise ConfigurationError(
            "validation_fraction must be a float in (0, 1). "
            f"Received: validation_fraction={validation_fraction!r}"
        )
    if not isinstance(source, tuple) or len(source) != 2:
        raise ConfigurationError(
            "source must be a tuple (x, y) of arrays. "
            f"Received: source of type {type(source).__name__}"
        )
    x_source, y_source = (np.asarray(part) for part in source)
    target = np.asarray(target)
    order = np.random.default_rng(seed).permutation(len(x_source))
    n_held_out = int(round(validation_fraction * len(x_source)))
    if n_held_out < 1 or len(x_source) - n_held_out < batch_size or len(target) < batch_size:
        raise ConfigurationError(
            "reverse_validation needs at least one held-out source example and a full batch "
            f"of each domain to train on. Received: {len(x_source)} source and {len(target)} "
            f"target examples, validation_fraction={validation_fraction}, batch_size={batch_size}"
        )
    held_out, train = order[:n_held_out], order[n_held_out:]

    forward = _new_model(make_model)
    forward.fit(
        pair_datasets((x_source[train], y_source[train]), target, batch_size=batch_size, seed=seed),
        **{"verbose": 0, **fit_kwargs},
    )
    pseudo_labels = _class_predictions(forward, target, batch_size)

    reverse = _new_model(make_model)
    reverse.fit(
        pair_datasets((target, pseudo_labels), x_source[train], batch_size=batch_size, seed=seed),
        **{"verbose": 0, **fit_kwargs},
    )
    y_held_out = y_source[held_out].reshape(-1)
    return ReverseValidation(
        reverse_accuracy=_accuracy(reverse, x_source[held_out], y_held_out, batch_size),
        source_accuracy=_accuracy(forward, x_source[held_out], y_held_out, batch_size),
        model=forward,
    )


def _new_model(make_model):
    from tlkeras.domain.domain_adaptation_model import DomainAdaptationModel

    model = make_model()
    if not isinstance(model, DomainAdaptationModel) or not model.compiled:
        raise ConfigurationError(
            "make_model must return a new, compiled DomainAdaptationModel (e.g. from "
            "tlkeras.build(..., domain_adaptation='dann')). "
            f"Received: {type(model).__name__}"
            + ("" if getattr(model, "compiled", True) else " (not compiled)")
        )
    return model


def _class_predictions(model, x, batch_size):
    probabilities = model.predict(x, batch_size=batch_size, verbose=0)
    if probabilities.ndim != 2 or probabilities.shape[-1] < 2:
        raise ConfigurationError(
            "reverse_validation needs a single-label classifier (one probability per "
            f"class). Received: predictions of shape {probabilities.shape}"
        )
    return probabilities.argmax(-1).astype("int32")


def _accuracy(model, x, y, batch_size):
    return float(np.mean(_class_predictions(model, x, batch_size) == y))
