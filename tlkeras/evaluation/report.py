"""`Report`: a comparison rendered as a DataFrame, Markdown, PNG figures and a run folder."""

import json
import os
import shutil
import tempfile

import numpy as np

from tlkeras.errors import ConfigurationError
from tlkeras.evaluation import plots
from tlkeras.evaluation.versions import package_versions


class Report:
    """Results of `tlkeras.compare` (and analyses) as tables, figures and a reproducible record.

    Args:
        results: the DataFrame `compare()` returns; its `attrs` supply the
            training history and settings unless given here.
        history: per-epoch records (a list of dicts or a DataFrame).
            Defaults to `None` (`results.attrs["history"]`).
        settings: the exact configuration, seeds, budget and versions.
            Defaults to `None` (`results.attrs["settings"]`).
        title: the Markdown title. Defaults to `"tlkeras comparison"`.

    Example:

    ```python
    report = Report(tlkeras.compare(configs, train, test, backbone="tiny"))
    print(report.to_markdown())
    report.save("runs/2026-11-23-lite0")
    ```
    """

    def __init__(self, results, history=None, settings=None, title="tlkeras comparison"):
        import pandas as pd

        self.results = results.copy()
        self.results.attrs = {}
        history = results.attrs.get("history", []) if history is None else history
        self.history = pd.DataFrame(history)
        self.settings = dict(results.attrs.get("settings", {}) if settings is None else settings)
        self.settings.setdefault("versions", package_versions())
        self.title = title
        self.tables = {}
        self.figures = {}
        if results.attrs.get("tuned"):
            self.tables["tuned hyperparameters"] = pd.DataFrame(results.attrs["tuned"])

    @classmethod
    def load(cls, run_dir):
        """Reads a run folder written by `save()` back (results, history, settings, tables).

        Figures are re-drawn from the data; added figures are not restored.
        """
        import pandas as pd

        run_dir = os.fspath(run_dir)
        if not os.path.isfile(os.path.join(run_dir, "results.csv")):
            raise ConfigurationError(
                f"Not a tlkeras run folder (no results.csv). Received: run_dir={run_dir!r}"
            )
        results = pd.read_csv(os.path.join(run_dir, "results.csv"))
        history_path = os.path.join(run_dir, "history.csv")
        history = pd.read_csv(history_path) if os.path.getsize(history_path) > 1 else []
        with open(os.path.join(run_dir, "settings.json")) as f:
            settings = json.load(f)
        report = cls(
            results,
            history=history,
            settings=settings,
            title=settings.get("title", "tlkeras comparison"),
        )
        for name in settings.get("tables", []):
            report.tables[name] = pd.read_csv(os.path.join(run_dir, f"{_file_name(name)}.csv"))
        return report

    # === Tables ===
    def to_dataframe(self):
        """The tidy results: one row per run and metric."""
        return self.results.copy()

    def summary(self):
        """Mean, std and count over seeds/folds per configuration, size and metric."""
        frame = self.results.copy()
        frame["size"] = [
            plots.size_label(f, k) for f, k in zip(frame["fraction"], frame["shots"], strict=True)
        ]
        grouped = frame.groupby(["metric", "size", "config"], sort=False)
        return grouped.agg(
            n_train=("n_train", "mean"),
            mean=("value", "mean"),
            std=("value", "std"),
            runs=("value", "size"),
            epochs_to_95pct_of_final=("epochs_to_95pct_of_final", "mean"),
            wall_time=("wall_time", "mean"),
        ).reset_index()

    def to_markdown(self, metrics=None):
        """Markdown tables: per metric, sizes as rows, configurations as columns.

        Args:
            metrics: metric names to show. Defaults to `None` (the metrics
                `compare()` was asked for, per-class scores left out).
        """
        summary = self.summary()
        if metrics is None:
            metrics = [m for m in summary["metric"].unique() if "/" not in m]
        configs = list(dict.fromkeys(summary["config"]))
        lines = [f"# {self.title}", ""]
        for metric in metrics:
            rows = summary[summary["metric"] == metric]
            header = ["training set", "n_train"] + configs
            table = []
            for size, group in rows.groupby("size", sort=False):
                by_config = group.set_index("config")
                cells = [_mean_std(by_config, c) for c in configs]
                table.append([size, f"{group['n_train'].mean():.0f}"] + cells)
            lines += [
                f"## test {metric} (mean ± std over seeds/folds)",
                "",
                *markdown_table(header, table),
                "",
            ]
        speed = summary[summary["metric"] == metrics[0]] if metrics else summary.iloc[0:0]
        if len(speed):
            table = [
                [size, config, f"{row.epochs_to_95pct_of_final:.1f}", f"{row.wall_time:.1f}"]
                for size, config, row in zip(
                    speed["size"], speed["config"], speed.itertuples(), strict=True
                )
            ]
            header = ["training set", "config", "epochs to 95% of final", "train time (s)"]
            lines += ["## convergence and cost", "", *markdown_table(header, table), ""]
        for name, frame in self.tables.items():
            header = [str(c) for c in frame.columns]
            body = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
            lines += [f"## {name}", "", *markdown_table(header, body), ""]
        return "\n".join(lines)

    # === Figures ===
    def learning_curve_figure(self, metric=None):
        """Test metric vs labelled examples with ±std bands (see `plots.learning_curve_figure`)."""
        return plots.learning_curve_figure(self.results, metric or self._first_metric())

    def convergence_figure(self, key=None):
        """A training curve vs epoch per size. Defaults to the first validation (else training) metric."""
        if self.history.empty:
            raise ConfigurationError(
                "This report has no training history to plot. Received: history=[]"
            )
        keys = list(dict.fromkeys(self.history["key"]))
        if key is None:
            preferred = [k for k in keys if k.startswith("val_") and not k.endswith("loss")]
            key = (preferred or [k for k in keys if not k.endswith("loss")] or keys)[0]
        if key not in keys:
            raise ConfigurationError(
                f"Unknown history key. Received: key={key!r}; expected one of {keys}"
            )
        return plots.convergence_figure(self.history, key)

    def add_table(self, name, frame):
        """Adds a DataFrame (probe results, ablation deltas) to the Markdown and the run folder."""
        self.tables[name] = frame
        return self

    def add_figure(self, name, figure):
        """Adds a matplotlib figure, saved as `figures/<name>.png`."""
        self.figures[name] = figure
        return self

    def _first_metric(self):
        if self.results.empty:
            raise ConfigurationError("This report has no results. Received: an empty DataFrame")
        return next(m for m in self.results["metric"].unique() if "/" not in m)

    def all_figures(self):
        """The standard figures (learning curves, convergence) and the added ones, by name."""
        figures = {}
        if not self.results.empty:
            metric = self._first_metric()
            figures[f"learning_curve_{metric}"] = self.learning_curve_figure(metric)
        if not self.history.empty:
            figures["convergence"] = self.convergence_figure()
        figures.update(self.figures)
        return figures

    # === Run folder ===
    def save(self, run_dir, overwrite=False):
        """Writes the run folder atomically: a temporary folder renamed into place.

        Contents: `results.csv`, `history.csv`, `summary.csv`, `report.md`,
        `settings.json` (configurations, seeds, budget, package versions),
        one CSV per added table and `figures/*.png`.

        Args:
            run_dir: the folder to create.
            overwrite: replace an existing `run_dir`. Defaults to `False`.

        Returns:
            `run_dir`.
        """
        run_dir = os.path.abspath(os.fspath(run_dir))
        if os.path.exists(run_dir) and not overwrite:
            raise ConfigurationError(
                f"The run folder exists; pass overwrite=True to replace it. Received: run_dir={run_dir!r}"
            )
        parent = os.path.dirname(run_dir)
        os.makedirs(parent, exist_ok=True)
        # Built beside its destination so the final rename stays on one file
        # system (atomic): a crash leaves a temporary folder, never half a run.
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(run_dir)}.", dir=parent)
        try:
            self._write(staging)
            if os.path.exists(run_dir):
                old = tempfile.mkdtemp(prefix=f".{os.path.basename(run_dir)}.old.", dir=parent)
                os.rename(run_dir, os.path.join(old, "run"))
                os.rename(staging, run_dir)
                shutil.rmtree(old)
            else:
                os.rename(staging, run_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return run_dir

    def _write(self, folder):
        self.results.to_csv(os.path.join(folder, "results.csv"), index=False)
        self.history.to_csv(os.path.join(folder, "history.csv"), index=False)
        if not self.results.empty:
            self.summary().to_csv(os.path.join(folder, "summary.csv"), index=False)
        for name, frame in self.tables.items():
            frame.to_csv(os.path.join(folder, f"{_file_name(name)}.csv"), index=False)
        with open(os.path.join(folder, "report.md"), "w") as f:
            f.write(self.to_markdown() if not self.results.empty else f"# {self.title}\n")
        with open(os.path.join(folder, "settings.json"), "w") as f:
            json.dump(
                {**self.settings, "title": self.title, "tables": list(self.tables)},
                f,
                indent=2,
                default=repr,
            )
        os.makedirs(os.path.join(folder, "figures"))
        for name, figure in self.all_figures().items():
            figure.savefig(os.path.join(folder, "figures", f"{_file_name(name)}.png"), dpi=110)


def markdown_table(header, rows):
    """Lines of a GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _mean_std(by_config, config):
    if config not in by_config.index:
        return "–"
    row = by_config.loc[config]
    if row["runs"] > 1:
        return f"{row['mean']:.3f} ± {row['std']:.3f}"
    return f"{row['mean']:.3f}"


def _cell(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def _file_name(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))
