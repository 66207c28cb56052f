"""`tlkeras.rank_backbones`: which pretrained backbone to fine-tune, estimated without training."""

import math
import time
import warnings

import keras
import numpy as np

from tlkeras.analysis import transferability_scores as scores_lib
from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.lookup import get_backbone
from tlkeras.errors import ConfigurationError
from tlkeras.evaluation.baselines import one_blas_thread
from tlkeras.evaluation.splits import subset_indices
from tlkeras.evaluation.versions import package_versions
from tlkeras.inputs import examples
from tlkeras.layers.sequence_pooling import SequencePooling
from tlkeras.weights import source_heads

DEFAULT_METHODS = ("logme", "leep", "nce", "hscore", "linear_probe")
# Methods that read the source classifier's predictions, not the features.
SOURCE_METHODS = ("leep", "nce")
FEATURE_METHODS = {
    "logme": scores_lib.logme,
    "hscore": scores_lib.hscore,
    "hscore_shrinkage": lambda f, y: scores_lib.hscore(f, y, shrinkage=True),
    "knn": scores_lib.knn_accuracy,
    "linear_probe": scores_lib.linear_probe_accuracy,
}
METHODS = tuple(FEATURE_METHODS) + SOURCE_METHODS
# Up to this many batches the pass runs eagerly: `predict` first traces the
# network into a graph, which for EfficientNet-Lite costs ~4 s (measured on 2
# CPU cores), more than eager calls cost for 16 batches (~0.4 s each at 32 px);
# beyond that the traced graph is faster.
EAGER_MAX_BATCHES = 16
# Features whose mean standard deviation over the examples is below this are
# treated as constant. EfficientNet-Lite0 on ImageNet weights gives exactly 0
# (fashion_mnist_m) or 5e-5 (Fashion-MNIST) at 32x32 inputs, and about 0.6 at
# 40x40 and 48x48; unit-length 1280-d features still spread by about 0.02.
CONSTANT_FEATURES_STD = 1e-4


def rank_backbones(
    candidates,
    train_data,
    *,
    methods=DEFAULT_METHODS,
    input_shape=None,
    max_examples=None,
    batch_size=32,
    dataset_fn=None,
    seed=0,
    verbose=1,
):
    """Scores how well each candidate backbone suits a labelled task, from one frozen pass each.

    Each candidate is built (or taken as built), run once in inference mode
    over the training examples in batches, and its globally pooled features
    are scored by every method (see `tlkeras.analysis.transferability_scores`).
    LEEP and NCE read the source model's own predictions: for backbones whose
    offline ImageNet weights keep their 1000-class classifier
    (`tlkeras.weights.source_heads.SOURCE_HEADS`), that classifier is applied
    to the same pooled features; for the others those columns stay empty and
    `df.attrs["notes"]` says why. Nothing trains, so ranking costs a few
    forward passes where `compare()` costs a fine-tuning run per candidate.

    Args:
        candidates: a list (or a dict label -> candidate) of registered
            backbone names, `(name, kwargs)` pairs (e.g.
            `("mobilenet_v2", {"weights": None})`), or built
            `tlkeras.Backbone` / `keras.Model` objects. Image, text and graph
            backbones alike: `x` must be what they take.
        train_data: `(x, y)` with integer class labels `y`; `x` an array (or
            a dict of arrays) the backbones take, e.g. images in [0, 255].
        methods: score names among `"logme"`, `"leep"`, `"nce"`, `"hscore"`,
            `"hscore_shrinkage"`, `"knn"`, `"linear_probe"`; the first one
            sorts the rows. Defaults to
            `("logme", "leep", "nce", "hscore", "linear_probe")`.
        input_shape: passed to every registered name that is built (e.g.
            `(96, 96, 3)`). Defaults to `None` (each factory's default).
        max_examples: score a seeded, class-stratified subset of about this
            many examples. Defaults to `None` (all of them).
        batch_size: batch size of the forward passes. Defaults to `32`.
        dataset_fn: `fn(x, y, training, seed)` returning what `predict()`
            takes (e.g. a `tf.data.Dataset` that resizes images), as in
            `compare()`. Defaults to `None` (the arrays in batches).
        seed: seed of the `max_examples` subset, the linear probe's folds
            and the weights of randomly initialised candidates (set with
            `keras.utils.set_random_seed` before each build). Defaults to `0`.
        verbose: 0 silent, 1 one progress line per backbone, 2 Keras'
            progress bar too. Defaults to `1`.

    Returns:
        A `pandas.DataFrame` sorted best-first by the first method, one row per
        backbone, with columns `backbone`, one per method, `feature_dim`,
        `n_examples`, `build_seconds` (building or loading the backbone),
        `feature_seconds` (building and the forward pass) and `seconds`
        (everything). `df.attrs["notes"]` maps backbones to why a
        column is empty; `df.attrs["settings"]` holds the settings and package
        versions. `tlkeras.ranking.RankingReport(df)` renders it as Markdown
        and a PNG.

    Example:

    ```python
    ranking = tlkeras.rank_backbones(
        ["efficientnet_lite0", "mobilenet_v2", ("mobilenet_v2", {"weights": None})],
        (x_train, y_train), input_shape=(96, 96, 3), max_examples=1000,
    )
    ranking[["backbone", "logme", "leep"]]
    ```
    """
    import pandas as pd

    methods = _check_methods(methods)
    named = _named_candidates(candidates)
    x, y = _check_data(train_data)
    if max_examples is not None:
        if int(max_examples) < 2:
            raise ConfigurationError(
                f"max_examples must be at least 2. Received: max_examples={max_examples!r}"
            )
        if max_examples < len(y):
            keep = subset_indices(y, fraction=max_examples / len(y), seed=seed)
            x, y = _take(x, keep), y[keep]
    build_kwargs = {} if input_shape is None else {"input_shape": tuple(input_shape)}
    rows, notes = [], {}
    for position, (label, candidate) in enumerate(named.items(), start=1):
        start = time.perf_counter()
        # Randomly initialised candidates get the same weights on every call.
        keras.utils.set_random_seed(int(seed))
        backbone = _build(candidate, build_kwargs)
        build_seconds = time.perf_counter() - start
        features = pooled_features(backbone, x, y, batch_size, dataset_fn, verbose)
        feature_seconds = time.perf_counter() - start
        row = dict(backbone=label)
        collapsed = _constant_features_reason(features, input_shape)
        if collapsed is not None:
            warnings.warn(f"rank_backbones: {label!r}: {collapsed}", stacklevel=2)
            notes[label] = collapsed
        # Small dense algebra (SVDs, logistic regressions on a few hundred rows):
        # one BLAS thread is many times faster than several that wait on each other.
        with one_blas_thread():
            for method in methods:
                if method in FEATURE_METHODS:
                    row[method] = _feature_score(method, features, y, seed)
        wanted = [m for m in methods if m in SOURCE_METHODS]
        if wanted:
            probabilities, reason = _source_predictions(backbone, features)
            if reason is not None:
                notes[label] = "; ".join(filter(None, (notes.get(label), reason)))
            for method in wanted:
                row[method] = (
                    np.nan if probabilities is None else _source_score(method, probabilities, y)
                )
        row.update(
            feature_dim=features.shape[1],
            n_examples=len(y),
            build_seconds=build_seconds,
            feature_seconds=feature_seconds,
            seconds=time.perf_counter() - start,
        )
        rows.append(row)
        if verbose:
            shown = ", ".join(f"{m} {row[m]:.4g}" for m in methods)
            print(
                f"rank {position}/{len(named)} {label}: {len(y)} examples -> "
                f"{features.shape[1]} features in {feature_seconds:.1f} s; {shown}",
                flush=True,
            )
        if not isinstance(candidate, keras.Model):
            # Built here, used once: free its graph before the next candidate.
            del backbone
            keras.backend.clear_session()
    frame = pd.DataFrame(rows)
    frame = frame.sort_values(methods[0], ascending=False, na_position="last", kind="stable")
    frame = frame.reset_index(drop=True)
    frame.attrs["notes"] = notes
    frame.attrs["settings"] = dict(
        methods=list(methods),
        input_shape=None if input_shape is None else list(input_shape),
        max_examples=max_examples,
        n_examples=len(y),
        batch_size=batch_size,
        seed=seed,
        versions=package_versions(),
    )
    return frame


def pooled_features(backbone, x, y=None, batch_size=32, dataset_fn=None, verbose=0):
    """One inference-mode pass of `backbone`, globally averaged: an `(n, D)` float array.

    Feature maps are averaged over their spatial axes; token sequences over
    their real tokens (the padding mask a text backbone sets is read).

    Args:
        backbone: a `tlkeras.Backbone` or `keras.Model`.
        x: what the backbone takes (arrays, strings, a dict of arrays).
        y: labels, passed to `dataset_fn`. Defaults to `None`.
        batch_size: batch size of `predict`. Defaults to `32`.
        dataset_fn: `fn(x, y, training, seed)` returning what `predict()` takes.
            Defaults to `None`.
        verbose: Keras' progress bar when 2. Defaults to `0`.
    """
    output = backbone.output
    if len(output.shape) == 3:
        # A token sequence: the masked mean tlkeras.build's text heads use, so
        # padding (most of a short text's positions) never enters the features.
        pooled = SequencePooling("avg", name="masked_mean")(output)
    else:
        axes = tuple(range(1, len(output.shape) - 1))
        pooled = keras.ops.mean(output, axis=axes) if axes else output
    # `backbone.input`: the structure the backbone was built with (a tensor, list
    # or dict), so eager calls on that structure match it.
    extractor = keras.Model(backbone.input, pooled, name=f"{backbone.name}_pooled")
    progress = 1 if verbose >= 2 else 0
    count = _count(x)
    if dataset_fn is not None:
        features = extractor.predict(dataset_fn(x, y, False, 0), verbose=progress)
    elif _numeric(x) and math.ceil(count / batch_size) <= EAGER_MAX_BATCHES:
        features = np.concatenate(
            [
                keras.ops.convert_to_numpy(extractor(_rows(x, start, batch_size), training=False))
                for start in range(0, count, batch_size)
            ]
        )
    else:
        features = extractor.predict(x, batch_size=batch_size, verbose=progress)
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2:
        raise ConfigurationError(
            f"Backbone {backbone.name!r} gave features of shape {features.shape} after pooling; "
            "expected (examples, dims). Received: a backbone whose output is not per example"
        )
    return features


def _numeric(x):
    return all(np.issubdtype(np.asarray(v).dtype, np.number) for v in keras.tree.flatten(x))


def _count(x):
    return len(keras.tree.flatten(x)[0])


def _rows(x, start, size):
    return keras.tree.map_structure(lambda a: np.asarray(a)[start : start + size], x)


def _feature_score(method, features, y, seed):
    if method == "linear_probe":
        return scores_lib.linear_probe_accuracy(features, y, seed=seed)
    return FEATURE_METHODS[method](features, y)


def _source_score(method, probabilities, y):
    if method == "leep":
        return scores_lib.leep(probabilities, y)
    return scores_lib.nce(probabilities, y)


def _constant_features_reason(features, input_shape):
    """Why every score of these features is meaningless, or `None` when they vary."""
    spread = float(np.mean(np.std(features, axis=0))) if len(features) > 1 else np.inf
    if spread >= CONSTANT_FEATURES_STD:
        return None
    return (
        f"its {features.shape[1]} features are (nearly) constant over the {len(features)} "
        f"examples (mean standard deviation {spread:.1e}), so its scores say nothing about "
        f"it. The input may be too small for the network (input_shape={input_shape}): "
        "EfficientNet-Lite0, for one, gives all-zero features at 32x32 and useful ones "
        "from 40x40"
    )


def _source_predictions(backbone, features):
    """`(probabilities, None)` from the backbone's source classifier, or `(None, why not)`."""
    name = getattr(backbone, "name", None)
    source = getattr(backbone, "weights_source", None)
    if name not in source_heads.SOURCE_HEADS:
        return None, (
            f"no source classifier: the weights of {name!r} ship no ImageNet classifier "
            f"(those that do: {', '.join(source_heads.SOURCE_HEADS)})"
        )
    if source != "imagenet":
        return (
            None,
            f"no source classifier: {name!r} is not on its ImageNet weights (weights={source!r})",
        )
    kernel, bias = source_heads.imagenet_classifier(name)
    if kernel.shape[0] != features.shape[1]:
        return None, (
            f"no source classifier: its input has {kernel.shape[0]} features, the backbone "
            f"gives {features.shape[1]}"
        )
    return source_heads.source_probabilities(features, kernel, bias), None


def _check_methods(methods):
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigurationError(
            f"Unknown ranking method(s) {unknown}; known: {list(METHODS)}. Received: methods={methods!r}"
        )
    return methods


def _named_candidates(candidates):
    if isinstance(candidates, dict):
        named = dict(candidates)
    else:
        if isinstance(candidates, (str, Backbone, keras.Model)):
            candidates = [candidates]
        named = {}
        for candidate in candidates:
            label = _label(candidate)
            # The same architecture twice (two weights) keeps both rows apart.
            while label in named:
                label += "'"
            named[label] = candidate
    if not named:
        raise ConfigurationError(f"No candidates to rank. Received: candidates={candidates!r}")
    return named


def _label(candidate):
    if isinstance(candidate, str):
        return candidate
    if isinstance(candidate, keras.Model):
        return candidate.name
    if isinstance(candidate, (tuple, list)) and len(candidate) == 2:
        name, kwargs = candidate
        if isinstance(name, str) and isinstance(kwargs, dict):
            shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            return f"{name}({shown})" if shown else name
    raise ConfigurationError(
        "Each candidate must be a registered backbone name, a (name, kwargs) pair or a built "
        f"backbone. Received: {candidate!r}"
    )


def _build(candidate, build_kwargs):
    if isinstance(candidate, keras.Model):
        return candidate
    if isinstance(candidate, str):
        return get_backbone(candidate, **build_kwargs)
    name, kwargs = candidate
    return get_backbone(name, **{**build_kwargs, **kwargs})


def _check_data(train_data):
    # The (x, y) kinds fit() and compare() take: arrays, lists of texts, pandas
    # columns, or a finite tf.data dataset, read into memory by one adapter.
    x, y = examples(train_data, "train_data")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ConfigurationError(
            "rank_backbones needs integer class labels, one per example. Received: y of "
            f"shape {y.shape} and dtype {y.dtype}"
        )
    sizes = {len(v) for v in x.values()} if isinstance(x, dict) else {len(x)}
    if sizes != {len(y)}:
        raise ConfigurationError(
            f"x and y must hold the same number of examples. Received: x with {sorted(sizes)}, "
            f"y with {len(y)}"
        )
    return x, y


def _take(x, keep):
    if isinstance(x, dict):
        return {k: np.asarray(v)[keep] for k, v in x.items()}
    return np.asarray(x)[keep]
