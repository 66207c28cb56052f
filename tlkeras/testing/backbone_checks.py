"""The public conformance suite that every backbone, first- or third-party, passes.

Each check is a small named function taking a zero-argument `make_backbone`
callable (a fresh backbone per check, since checks train). `check_backbone`
runs them all; `backbone_checks` yields them for pytest parametrization.

Example (a plugin's own test file):

```python
import pytest
from tlkeras.testing import backbone_checks

@pytest.mark.parametrize("check", backbone_checks("my_backbone"), ids=lambda c: c.__name__)
def test_conformance(check):
    check()
```
"""

import functools
import os
import tempfile

import keras
import numpy as np

from tlkeras import registry
from tlkeras.backbones.backbone import HOW_TO_DECLARE
from tlkeras.backbones.backbone import MODALITIES
from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.backbone import trainable_by_nature
from tlkeras.errors import TlkerasError
from tlkeras.errors import UnknownBackboneError

NUM_CLASSES = 2
BATCH_SIZE = 4


class BackboneCheckError(TlkerasError, AssertionError):
    """A backbone failed a conformance check; the message says which and why."""


def _fail(check, message):
    raise BackboneCheckError(f"[{check}] {message}")


def _factory(backbone, backbone_kwargs):
    from tlkeras.builder import get_backbone

    if isinstance(backbone, str):
        make = lambda: get_backbone(backbone, **backbone_kwargs)  # noqa: E731
        # The metadata check reads what the plugin declared for this name.
        make.registered_name, make.backbone_kwargs = backbone, dict(backbone_kwargs)
        return make
    if isinstance(backbone, Backbone):
        return lambda: backbone
    if callable(backbone):
        return lambda: get_backbone(backbone())
    raise TypeError(
        "check_backbone takes a registered name, a Backbone, or a zero-argument "
        f"factory. Received: {backbone!r}"
    )


def _build(make_backbone, **kwargs):
    from tlkeras.builder import build

    backbone = make_backbone()
    head = getattr(backbone, "default_head", "classifier")
    model = build(backbone, head=head, num_classes=NUM_CLASSES, **kwargs)
    x = backbone.example_inputs(batch_size=BATCH_SIZE)
    y = backbone.example_targets(num_classes=NUM_CLASSES, batch_size=BATCH_SIZE)
    return model, x, y


def _fit_one_batch(model, x, y, eager=False):
    """One training step on exactly the batch `example_inputs()` returned.

    A generator is not sliced along axis 0, which a graph batch (a disjoint
    union whose inputs have different leading lengths) cannot be. `eager`
    skips tracing: for one step of a large CNN, tracing costs 5-10x the step.
    """
    model.run_eagerly = eager
    return model.fit(
        ((x, y) for _ in range(1)), epochs=1, steps_per_epoch=1, shuffle=False, verbose=0
    )


def _snapshot(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def check_runs_with_declared_features(make_backbone):
    """Runs on its example inputs with the declared feature shape and finite values."""
    backbone = make_backbone()
    features = keras.ops.convert_to_numpy(backbone(backbone.example_inputs(batch_size=2)))
    declared = tuple(backbone.feature_shape)
    matches = len(features.shape[1:]) == len(declared) and all(
        d is None or d == f for d, f in zip(declared, features.shape[1:], strict=True)
    )
    if not matches:
        _fail("runs", f"features have shape {features.shape[1:]}, declared {declared}")
    if not np.all(np.isfinite(features)):
        _fail("runs", "features contain NaN or Inf")


def check_layer_groups_partition_trainable_variables(make_backbone):
    """Every trainable variable belongs to exactly one layer group."""
    backbone = make_backbone()
    groups = backbone.layer_groups
    if len(groups) < 1:
        _fail("layer_groups", "no layer groups")
    owners = {}
    for index, group in enumerate(groups):
        for variable in trainable_by_nature(group):
            if id(variable) in owners:
                _fail(
                    "layer_groups", f"{variable.path} in groups {owners[id(variable)]} and {index}"
                )
            owners[id(variable)] = index
    missing = [v.path for v in trainable_by_nature([backbone]) if id(v) not in owners]
    if missing:
        _fail("layer_groups", f"variables in no group: {missing[:5]}")


def check_freezing_keeps_frozen_groups_bit_identical(make_backbone):
    """After freeze(k), one fit step leaves the first k groups (and BN statistics) untouched."""
    model, x, y = _build(make_backbone, freeze=False)
    groups = model.layer_groups
    k = max(1, model.num_backbone_groups // 2)
    model.freeze(k)
    frozen = [v for group in groups[:k] for layer in group for v in layer.weights]
    moving = [trainable_by_nature(group) for group in groups[k:]]
    before_frozen = _snapshot(frozen)
    before_moving = [_snapshot(vs) for vs in moving]
    # Eager: what freezing does is the same traced or not, and
    # check_classifier_trains_with_finite_loss already runs the traced step.
    _fit_one_batch(model, x, y, eager=True)
    for variable, before in zip(frozen, before_frozen, strict=True):
        if not np.array_equal(before, keras.ops.convert_to_numpy(variable)):
            _fail("freeze", f"frozen variable {variable.path} changed after freeze({k})")
    for index, (variables, before) in enumerate(zip(moving, before_moving, strict=True)):
        if variables and all(
            np.array_equal(b, keras.ops.convert_to_numpy(v))
            for v, b in zip(variables, before, strict=True)
        ):
            _fail("freeze", f"no variable of trainable group {k + index} moved in one fit step")


def check_classifier_trains_with_finite_loss(make_backbone):
    """Builds with a classifier head and one training step gives a finite loss."""
    model, x, y = _build(make_backbone, freeze=False)
    history = _fit_one_batch(model, x, y)
    loss = history.history["loss"][-1]
    if not np.isfinite(loss):
        _fail("trains", f"loss after one step is {loss}")


def check_keras_file_round_trip(make_backbone):
    """`.keras` save/load gives the same outputs and the same frozen groups."""
    model, x, _ = _build(make_backbone, freeze=1)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
    actual = keras.ops.convert_to_numpy(loaded(x, training=False))
    if not np.allclose(expected, actual, atol=1e-6):
        _fail("round_trip", f"outputs differ by {np.abs(expected - actual).max()}")
    if loaded.frozen_groups != model.frozen_groups:
        _fail("round_trip", f"frozen groups {loaded.frozen_groups} != {model.frozen_groups}")


def check_modality_is_known(make_backbone):
    """The backbone is an image, text or graph backbone, or declares `"other"` itself.

    An `"other"` backbone gets no modality's pre-training objectives and
    heads; when that comes from inputs tlkeras cannot read, the fix is to
    declare the modality.
    """
    backbone = make_backbone()
    if backbone.modality not in MODALITIES:
        _fail("modality", f"unknown modality {backbone.modality!r}; expected one of {MODALITIES}")
    name = getattr(make_backbone, "registered_name", None)
    declared = registry.get_entry(name).metadata.modality if name else None
    if backbone.modality == "other" and declared != "other":
        inputs = ", ".join(f"{t.name}: {tuple(t.shape)} {t.dtype}" for t in backbone.inputs)
        _fail(
            "modality",
            f"the modality of {backbone.name!r} is 'other': its inputs ({inputs}) say "
            f"neither image (one 4-D float/uint8 input with 1 or 3 channels), text (strings "
            f"or integer token ids) nor graph. {HOW_TO_DECLARE} Declare 'other' there if "
            "that is what it is.",
        )


def check_pretraining_objective_exists(make_backbone):
    """`tlkeras.pretrain` has an objective for the backbone's modality, and it imports."""
    from tlkeras.pretrain import get_objective
    from tlkeras.pretrain import list_objectives

    modality = make_backbone().modality
    names = list_objectives(modality)
    if not names:
        _fail(
            "pretraining",
            f"no pre-training objective exists for {modality!r} backbones "
            f"(objectives exist for: {sorted({m for m, _ in list_objectives()})}). "
            f"{HOW_TO_DECLARE} Or register one: "
            f"@tlkeras.pretrain.register_objective('name', modality={modality!r}).",
        )
    for name in names:
        try:
            get_objective(name, modality)
        except TlkerasError as error:
            _fail("pretraining", f"the objective {name!r} does not load: {error}")


def check_declared_metadata(make_backbone):
    """A registered backbone declares its modality (and input shape) and the build agrees.

    Reads the plugin's `tlkeras_backbones.toml` (see `tlkeras.registry`):
    no unknown keys or bad values, a declared modality equal to the built
    backbone's, and a declared input shape of the built input's rank (equal
    to it when the check builds with the factory's defaults). Backbones given
    as objects rather than names have no metadata to check.
    """
    name = getattr(make_backbone, "registered_name", None)
    if name is None:
        return
    metadata = registry.get_entry(name).metadata
    where = metadata.source or f"{registry.METADATA_FILE} in the plugin's top-level package"
    if metadata.problems:
        _fail("metadata", f"{where}: {'; '.join(metadata.problems)}")
    if metadata.modality is None:
        _fail(
            "metadata",
            f"no modality declared for {name!r}: add a table [{name}] with "
            f'modality = "image" (or "text", "graph", "other") to {where}, and list that '
            "file in the package data (see docs/plugins.md).",
        )
    backbone = make_backbone()
    if backbone.modality != metadata.modality:
        _fail(
            "metadata",
            f"{where} declares modality={metadata.modality!r} for {name!r}, the built "
            f"backbone has modality={backbone.modality!r}",
        )
    declared, built = metadata.input_shape, tuple(backbone.inputs[0].shape[1:])
    if declared is None or len(backbone.inputs) != 1:
        return
    same = len(declared) == len(built)
    if same and not make_backbone.backbone_kwargs:
        same = all(d is None or b is None or d == b for d, b in zip(declared, built, strict=True))
    if not same:
        _fail(
            "metadata",
            f"{where} declares input_shape={declared} for {name!r}, the built backbone "
            f"takes {built}",
        )


def check_unknown_name_raises_helpful_error(make_backbone):
    """A misspelt backbone name raises an error naming the value and the fix."""
    name = make_backbone().name + "_misspelt"
    try:
        registry.get_entry(name)
    except UnknownBackboneError as error:
        if repr(name) not in str(error) or "list_backbones" not in str(error):
            _fail("unknown_name", f"unhelpful message: {error}")
        return
    _fail("unknown_name", f"no error for the unknown name {name!r}")


ALL_CHECKS = (
    check_runs_with_declared_features,
    check_layer_groups_partition_trainable_variables,
    check_freezing_keeps_frozen_groups_bit_identical,
    check_classifier_trains_with_finite_loss,
    check_keras_file_round_trip,
    check_unknown_name_raises_helpful_error,
    check_modality_is_known,
    check_pretraining_objective_exists,
    check_declared_metadata,
)


def backbone_checks(backbone, expected_failed_checks=None, **backbone_kwargs):
    """Yields each check bound to `backbone`, as zero-argument callables.

    Args:
        backbone: a registered name, a `Backbone`, or a zero-argument factory.
        expected_failed_checks: dict check name -> reason; those checks are
            yielded as callables that raise `pytest.skip`-free
            `BackboneCheckError` only if they unexpectedly pass. Defaults to
            `None`.
        **backbone_kwargs: passed to the registered factory (use small
            `input_shape`s and `weights=None` to keep tests fast).
    """
    make_backbone = _factory(backbone, backbone_kwargs)
    expected = expected_failed_checks or {}
    for check in ALL_CHECKS:
        bound = functools.partial(check, make_backbone)
        if check.__name__ in expected:
            bound = functools.partial(
                _expect_failure, check, make_backbone, expected[check.__name__]
            )
        functools.update_wrapper(bound, check)
        yield bound


def _expect_failure(check, make_backbone, reason):
    try:
        check(make_backbone)
    except BackboneCheckError:
        return
    _fail(check.__name__, f"declared as failing ({reason}) but it passed; remove it")


def check_backbone(backbone, expected_failed_checks=None, **backbone_kwargs):
    """Runs the whole conformance suite; raises `BackboneCheckError` on the first failure.

    Returns:
        The list of check names that ran.
    """
    ran = []
    for check in backbone_checks(backbone, expected_failed_checks, **backbone_kwargs):
        check()
        ran.append(check.__name__)
    return ran
