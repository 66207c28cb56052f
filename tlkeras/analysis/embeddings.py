"""PCA and t-SNE views of learned representations, coloured by class and domain."""

import numpy as np

from tlkeras.errors import ConfigurationError

METHODS = ("pca", "tsne")


def features(model, x, batch_size=64):
    """Pooled backbone features of a `TransferModel` or `Backbone`: `(n, channels)`."""
    from tlkeras.analysis.transferability import group_features

    return group_features(model, x, batch_size)[-1]


def embed(features, method="pca", seed=0):
    """Projects features to 2-D with scikit-learn's `PCA` or `TSNE`.

    Args:
        features: `(n, d)` array.
        method: `"pca"` or `"tsne"`. Defaults to `"pca"`.
        seed: random state of the projection. Defaults to `0`.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    if method not in METHODS:
        raise ConfigurationError(
            f"Unknown projection. Received: method={method!r}; expected one of {METHODS}."
        )
    scaled = StandardScaler().fit_transform(np.asarray(features, dtype="float64"))
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(scaled)
    perplexity = min(30.0, max(2.0, (len(scaled) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        scaled
    )


def representation_figure(
    model, x, labels, *, domains=None, method="pca", class_names=None, seed=0, title=None
):
    """A scatter plot of a model's pooled features in 2-D, coloured by class, shaped by domain.

    Args:
        model: a `TransferModel` or `Backbone`, or a `(n, d)` feature array.
        x: inputs (ignored when `model` is already an array of features).
        labels: class of each example.
        domains: domain of each example (e.g. `"source"` / `"target"` for
            domain adaptation). Defaults to `None`.
        method: `"pca"` or `"tsne"`. Defaults to `"pca"`.
        class_names: names for the legend. Defaults to `None`.
        seed: random state of the projection. Defaults to `0`.
        title: the figure title. Defaults to `None` (method and model name).

    Returns:
        A `matplotlib.figure.Figure`.

    Example:

    ```python
    figure = representation_figure(model, x_test, y_test, method="tsne")
    report.add_figure("tsne_fine_tuned", figure)
    ```
    """
    from tlkeras.evaluation import plots

    values = model if isinstance(model, np.ndarray) else features(model, x)
    points = embed(values, method=method, seed=seed)
    name = "features" if isinstance(model, np.ndarray) else model.name
    title = title or f"{method.upper()} of {name} features"
    return plots.embedding_figure(
        points, labels, domains=domains, title=title, class_names=class_names
    )
