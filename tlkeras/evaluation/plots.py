"""Matplotlib figures of comparison results, made without pyplot (no global state)."""

import numpy as np

# (column, x values plotted, axis label): the label says what the ticks count.
SIZE_KINDS = (
    ("fraction", "n_train", "labelled training examples, total (log scale)"),
    ("shots", "shots", "labelled training examples per class, k (log scale)"),
)


def new_figure(ncols=1, width=5.5, height=4.0):
    """A `matplotlib.figure.Figure` with `ncols` axes side by side."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


def band(ax, x, mean, std, label, linestyle="-"):
    """A mean line with markers and a ±1 std band (the spread over seeds/folds)."""
    std = np.nan_to_num(np.asarray(std, dtype="float64"))
    (line,) = ax.plot(x, mean, marker="o", label=label, linestyle=linestyle)
    ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())


def learning_curve_figure(results, metric):
    """Metric vs labelled training examples, one line per configuration (baselines dashed).

    Shares of the training set are plotted against the total number of
    training examples, k-shot sizes against k (examples per class); the axis
    label says which.

    Args:
        results: a `compare()` DataFrame.
        metric: the metric to plot, e.g. `"accuracy"`.
    """
    rows = results[results["metric"] == metric]
    kinds = [kind for kind in SIZE_KINDS if rows[kind[0]].notna().any()]
    figure, axes = new_figure(max(1, len(kinds)))
    for ax, (kind, x_column, label) in zip(
        axes, kinds or [(None, "n_train", "labelled training examples (whole set)")], strict=False
    ):
        subset = rows if kind is None else rows[rows[kind].notna()]
        config_bands(ax, subset, x_column)
        if kind is not None:
            ax.set_xscale("log")
            # Tick the measured sizes themselves: a log axis would otherwise
            # show only powers of ten, often none of them measured.
            sizes = sorted(subset[x_column].unique())
            ax.set_xticks(sizes, [f"{n:g}" for n in sizes], minor=False)
            ax.minorticks_off()
        ax.set_xlabel(label)
        ax.set_ylabel(f"test {metric}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle(f"Learning curves: test {metric} ({spread_label(rows)})", fontsize="medium")
    return figure


def spread_label(rows):
    """ "mean ± std over N seeds/folds" with N >= 2, else that one seed has no spread."""
    keys = [k for k in ("seed", "fold") if k in rows]
    runs = rows.groupby(["config", "fraction", "shots"], dropna=False)[keys].apply(
        lambda g: len(g.drop_duplicates())
    )
    n = int(runs.max()) if len(runs) else 0
    return f"mean ± std band over {n} seeds/folds" if n >= 2 else "one seed: no band"


def config_bands(ax, rows, x_column):
    """One mean ± std band per config: `value` over `x_column`, across seeds and folds."""
    for config, group in rows.groupby("config", sort=False):
        stats = group.groupby(x_column)["value"].agg(["mean", "std"]).sort_index()
        baseline = "kind" in group and (group["kind"] == "baseline").all()
        band(
            ax,
            stats.index.to_numpy(),
            stats["mean"].to_numpy(),
            stats["std"].to_numpy(),
            config,
            linestyle="--" if baseline else "-",
        )


def convergence_figure(history, key):
    """A training curve (`key`, e.g. `"val_accuracy"`) vs optimizer step, one panel per size.

    Args:
        history: a DataFrame of `compare()`'s `attrs["history"]` records.
        key: the history entry to plot.
    """
    from matplotlib.ticker import MaxNLocator

    rows = history[history["key"] == key].copy()
    rows["size"] = [size_label(f, k) for f, k in zip(rows["fraction"], rows["shots"], strict=True)]
    sizes = list(dict.fromkeys(rows["size"]))
    figure, axes = new_figure(max(1, len(sizes)), width=4.5 if len(sizes) > 1 else 6.0)
    for ax, size in zip(axes, sizes, strict=False):
        x_column = "step" if "step" in rows and rows["step"].notna().all() else "epoch"
        config_bands(ax, rows[rows["size"] == size], x_column)
        ax.set_title(size)
        ax.set_xlabel("optimizer step" if x_column == "step" else "epoch")
        ax.set_ylabel(key if key.startswith("val_") else f"{key} (training data)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    where = "validation split" if key.startswith("val_") else "training data"
    figure.suptitle(f"Convergence: {key} on the {where}\n({spread_label(rows)})", fontsize="medium")
    return figure


def probe_figure(probes, metric="accuracy"):
    """Linear-probe score per layer group, one line per weights source.

    Args:
        probes: a `tlkeras.analysis.layer_probe` DataFrame.
        metric: the probe score to plot. Defaults to `"accuracy"`.
    """
    figure, (ax,) = new_figure()
    for source, group in probes.groupby("source", sort=False):
        stats = group.groupby("group")[metric].agg(["mean", "std"]).sort_index()
        band(ax, stats.index.to_numpy(), stats["mean"].to_numpy(), stats["std"].to_numpy(), source)
    ax.set_xlabel("layer group (input side first)")
    ax.set_ylabel(f"linear probe test {metric}")
    ax.set_xticks(sorted(probes["group"].unique()))
    ax.grid(True, alpha=0.3)
    ax.legend()
    figure.suptitle("Layer-wise transferability (linear probe on pooled group outputs)")
    return figure


def embedding_figure(points, labels, domains=None, title="features", class_names=None):
    """2-D points coloured by class; with `domains`, marker shape by domain.

    Args:
        points: `(n, 2)` coordinates (PCA or t-SNE of features).
        labels: `(n,)` class labels.
        domains: `(n,)` domain ids or names. Defaults to `None`.
        title: the figure title. Defaults to `"features"`.
        class_names: names of the classes for the legend. Defaults to `None`.
    """
    figure, (ax,) = new_figure(width=6.0, height=5.0)
    labels = np.asarray(labels)
    domain_values = [None] if domains is None else list(dict.fromkeys(np.asarray(domains).tolist()))
    markers = "o^sPDX*v"
    colours = {label: f"C{i % 10}" for i, label in enumerate(np.unique(labels))}
    for d, domain in enumerate(domain_values):
        in_domain = np.ones(len(labels), bool) if domain is None else np.asarray(domains) == domain
        for label, colour in colours.items():
            chosen = in_domain & (labels == label)
            name = class_names[label] if class_names is not None else str(label)
            ax.scatter(
                points[chosen, 0],
                points[chosen, 1],
                s=10,
                c=colour,
                marker=markers[d % len(markers)],
                alpha=0.7,
                label=name if d == 0 else None,
            )
    ax.legend(markerscale=2, fontsize="small", title="class", loc="best")
    if domains is not None:
        shapes = ", ".join(
            f"{markers[d % len(markers)]} = {v}" for d, v in enumerate(domain_values)
        )
        title = f"{title} (domains: {shapes})"
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return figure


def size_label(fraction, shots):
    if fraction == fraction:  # not nan
        return f"{100 * fraction:g}% of the training set"
    if shots == shots:
        return f"{int(shots)}-shot"
    return "whole training set"
