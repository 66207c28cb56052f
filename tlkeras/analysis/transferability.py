"""Layer-wise transferability: a linear probe on each layer group's pooled output."""

import keras
import numpy as np

from tlkeras.backbones.backbone import Backbone
from tlkeras.errors import ConfigurationError


def backbone_of(model):
    """The `Backbone` of a `TransferModel`, or `model` itself if it is one."""
    if isinstance(model, Backbone):
        return model
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, Backbone):
        return backbone
    raise ConfigurationError(
        "Expected a tlkeras.Backbone or a TransferModel (something with layer groups). "
        f"Received: {type(model).__name__} named {getattr(model, 'name', None)!r}"
    )


def group_feature_model(model):
    """A Keras model mapping the backbone's inputs to each layer group's pooled output.

    The output of a group is the output of its last layer, globally averaged
    over spatial (or sequence) axes. Layers nested one level down (a keras-hub
    trunk inside the backbone) are reached through that trunk's own graph.

    Args:
        model: a `tlkeras.Backbone` or a `TransferModel`.

    Returns:
        A `keras.Model` with one `(batch, channels)` output per layer group.
    """
    backbone = backbone_of(model)
    direct = {id(layer) for layer in backbone.layers}
    containers = [layer for layer in backbone.layers if isinstance(layer, keras.Model)]
    outputs = []
    for group in backbone.layer_groups:
        layer = group[-1]
        if id(layer) in direct:
            outputs.append(layer.output)
            continue
        container = next(
            (c for c in containers if any(inner is layer for inner in c._flatten_layers())), None
        )
        if container is None:
            raise ConfigurationError(
                f"Cannot reach layer {layer.name!r} of backbone {backbone.name!r}: it is nested "
                "more than one model deep. Received: a backbone with deeply nested layer groups"
            )
        inner = keras.Model(container.inputs, layer.output)
        # The container's last call is the one inside the backbone's graph.
        outputs.append(inner(container._inbound_nodes[-1].input_tensors))
    pooled = [_pool(tensor) for tensor in outputs]
    return keras.Model(backbone.inputs, pooled, name=f"{backbone.name}_group_features")


def _pool(tensor):
    rank = len(tensor.shape)
    if rank == 4:
        return keras.layers.GlobalAveragePooling2D()(tensor)
    if rank == 3:
        return keras.layers.GlobalAveragePooling1D()(tensor)
    return tensor


def group_features(model, x, batch_size=64):
    """Pooled outputs of every layer group for inputs `x`: a list of `(n, channels)` arrays."""
    features = group_feature_model(model).predict(x, batch_size=batch_size, verbose=0)
    return [np.asarray(f) for f in (features if isinstance(features, list) else [features])]


def linear_probe(train_features, train_labels, test_features, test_labels, max_iter=2000, C=1.0):
    """Fits a standardised `LogisticRegression` on features and scores it on held-out ones.

    Returns:
        A dict with `accuracy` and `macro_f1` on the test features.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tlkeras.evaluation import metrics

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, C=C))
    probe.fit(train_features, train_labels)
    scores = probe.predict_proba(test_features)
    # predict_proba columns follow the classes seen in training; re-index so
    # column k is class k even if a class is missing from a small training set.
    full = np.zeros((len(scores), int(max(np.max(train_labels), np.max(test_labels))) + 1))
    full[:, probe.classes_] = scores
    return metrics.evaluate_predictions(test_labels, full, ["accuracy", "macro_f1"])


def layer_probe(models, train_data, test_data, *, batch_size=64, max_iter=2000, C=1.0):
    """Yosinski-style transferability curve: linear-probe accuracy of every layer group.

    For each model (e.g. ImageNet weights vs random weights of the same
    architecture), the pooled output of each layer group is computed on the
    training and test images and a linear probe (scikit-learn
    `LogisticRegression` on standardised features) is fitted and scored. How
    the score changes with depth, and how far above the random network's it
    stays, shows which depths transfer.

    Args:
        models: a `tlkeras.Backbone` / `TransferModel`, or a dict
            source name -> one of them.
        train_data: `(x, y)` for fitting the probes.
        test_data: held-out `(x, y)` for scoring them.
        batch_size: batch size of feature extraction. Defaults to `64`.
        max_iter: iterations of `LogisticRegression`. Defaults to `2000`.
        C: inverse L2 strength of `LogisticRegression`. Defaults to `1.0`.

    Returns:
        A DataFrame with columns `source, group, layer, n_features, accuracy,
        macro_f1` (one row per model and layer group; group 0 is the input side).

    Example:

    ```python
    probes = tlkeras.analysis.layer_probe(
        {"imagenet": tlkeras.get_backbone("efficientnet_lite0", input_shape=(64, 64, 3)),
         "random": tlkeras.get_backbone("efficientnet_lite0", input_shape=(64, 64, 3), weights=None)},
        (x_train, y_train), (x_test, y_test),
    )
    tlkeras.evaluation.plots.probe_figure(probes)
    ```
    """
    import pandas as pd

    if not isinstance(models, dict):
        models = {"model": models}
    (x_train, y_train), (x_test, y_test) = train_data, test_data
    rows = []
    for source, model in models.items():
        groups = backbone_of(model).layer_groups
        train_features = group_features(model, x_train, batch_size)
        test_features = group_features(model, x_test, batch_size)
        for index, (group, f_train, f_test) in enumerate(
            zip(groups, train_features, test_features, strict=True)
        ):
            scores = linear_probe(f_train, y_train, f_test, y_test, max_iter=max_iter, C=C)
            rows.append(
                dict(
                    source=source,
                    group=index,
                    layer=group[-1].name,
                    n_features=f_train.shape[-1],
                    **scores,
                )
            )
    return pd.DataFrame(rows)
