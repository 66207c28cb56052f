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
        self.subsets = list(results.attrs.get("subsets", []))
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
        subsets_path = os.path.join(run_dir, "subsets.json")
        if os.path.isfile(subsets_path):
            with open(subsets_path) as f:
                report.subsets = json.load(f)
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
        if "kind" not in frame:
            frame["kind"] = "configuration"
        frame["plateau"] = frame["train_loss_plateau"].map(
            lambda v: np.nan if v is None or v != v else float(v)
        )
        grouped = frame.groupby(["metric", "size", "config"], sort=False)
        return grouped.agg(
            kind=("kind", "first"),
            n_train=("n_train", "mean"),
            mean=("value", "mean"),
            std=("value", "std"),
            runs=("value", "size"),
            steps_run=("steps_run", "mean"),
            steps_to_95pct_of_final=("steps_to_95pct_of_final", "mean"),
            plateau=("plateau", "mean"),
            wall_time=("wall_time", "mean"),
        ).reset_index()

    def paired(self, metric=None, reference=None):
        """Paired differences to `reference` per size: each seed (and fold) is one pair.

        Columns: `training set, config, pairs, mean difference, 95% CI, p`
        (two-sided paired t-test) and `verdict` ("better", "worse" or "not
        significant" at 5%; "n/a" with fewer than two pairs).

        Args:
            metric: Defaults to `None` (the first metric).
            reference: a row of the results. Defaults to `None` (the
                settings' reference, else the raw-input baseline, else the
                first configuration).
        """
        import pandas as pd

        metric = metric or self._first_metric()
        reference = reference or self.reference()
        rows = self.results[self.results["metric"] == metric].copy()
        rows["size"] = [
            plots.size_label(f, k) for f, k in zip(rows["fraction"], rows["shots"], strict=True)
        ]
        rows["pair"] = list(zip(rows["seed"], rows["fold"].fillna(-1), strict=True))
        table = []
        for size, group in rows.groupby("size", sort=False):
            base = group[group["config"] == reference].set_index("pair")["value"]
            for config, other in group.groupby("config", sort=False):
                if config == reference:
                    continue
                values = other.set_index("pair")["value"]
                common = base.index.intersection(values.index)
                table.append(
                    [size, config, *paired_test(values[common].to_numpy(), base[common].to_numpy())]
                )
        columns = ["training set", "config", "pairs", "mean difference", "95% CI", "p", "verdict"]
        return pd.DataFrame(table, columns=columns)

    def reference(self):
        """The row paired differences are taken to."""
        configs = list(dict.fromkeys(self.results["config"]))
        chosen = self.settings.get("reference")
        if chosen:
            if chosen not in configs:
                raise ConfigurationError(
                    f"Unknown reference. Received: reference={chosen!r}; expected one of {configs}"
                )
            return chosen
        return "logistic_regression" if "logistic_regression" in configs else configs[0]

    def to_markdown(self, metrics=None):
        """Markdown tables: per metric, sizes as rows, configurations and baselines as columns.

        Then the paired differences to the reference, per-class F1 when it was
        asked for, convergence and cost, which subsets were shared, and the
        added tables.

        Args:
            metrics: metric names to show. Defaults to `None` (the metrics
                `compare()` was asked for, per-class scores in their own table).
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
            lines += [f"## test {metric} ({_spread(rows)})", "", *markdown_table(header, table), ""]
        lines += self._paired_lines(metrics)
        lines += self._per_class_lines(summary, configs)
        lines += self._convergence_lines(summary, metrics)
        lines += self._subset_lines()
        for name, frame in self.tables.items():
            header = [str(c) for c in frame.columns]
            body = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
            lines += [f"## {name}", "", *markdown_table(header, body), ""]
        return "\n".join(lines)

    def _paired_lines(self, metrics):
        if not metrics or self.results["config"].nunique() < 2:
            return []
        reference = self.reference()
        frame = self.paired(metrics[0], reference)
        body = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
        return [
            f"## paired differences in test {metrics[0]} vs {reference}",
            "",
            "Each seed (and fold) is one pair: both rows trained on the same subset. "
            "95% CI of the mean difference (t distribution); p of a two-sided paired t-test.",
            "",
            *markdown_table(list(frame.columns), body),
            "",
        ]

    def _per_class_lines(self, summary, configs):
        per_class = summary[summary["metric"].str.startswith("f1/")]
        if per_class.empty:
            return []
        header = ["training set", "class"] + configs
        table = []
        for (size, metric), group in per_class.groupby(["size", "metric"], sort=False):
            by_config = group.set_index("config")
            table.append([size, metric[3:]] + [_mean_std(by_config, c) for c in configs])
        return [
            f"## test F1 per class ({_spread(per_class)})",
            "",
            *markdown_table(header, table),
            "",
        ]

    def _convergence_lines(self, summary, metrics):
        speed = (
            summary[(summary["metric"] == metrics[0]) & (summary["kind"] != "baseline")]
            if metrics
            else summary.iloc[0:0]
        )
        if not len(speed):
            return []
        table = [
            [
                row.size,
                row.config,
                f"{row.steps_run:.0f}",
                f"{row.steps_to_95pct_of_final:.0f}",
                "–" if row.plateau != row.plateau else f"{100 * row.plateau:.0f}%",
                f"{row.wall_time:.1f}",
            ]
            for row in speed.itertuples()
        ]
        header = [
            "training set",
            "config",
            "steps run",
            "steps to 95% of final",
            "runs at a loss plateau",
            "time (s)",
        ]
        note = (
            "Convergence is read on the validation split where the subset has one, else on the "
            "training data; a run is at a plateau when its training loss fell by less than 5% of "
            "its whole fall over the last quarter of the run. Time includes the grid's trials."
        )
        return ["## convergence and cost", "", note, "", *markdown_table(header, table), ""]

    def _subset_lines(self):
        if "subset" not in self.results:
            return []
        keys = ["fraction", "shots", "seed", "fold"]
        frame = self.results.fillna({k: -1 for k in keys})
        hashes = frame.groupby(keys)["subset"].nunique()
        rows = frame["config"].nunique()
        if (hashes == 1).all():
            text = (
                f"All {rows} rows (configurations and baselines) were trained and validated on "
                f"the same examples in each of the {len(hashes)} runs per row: one subset hash per "
                "training set, seed and fold (`subset` in results.csv; example ids in subsets.json)."
            )
        else:
            text = (
                "Warning: rows were trained on different subsets in "
                f"{int((hashes > 1).sum())} of {len(hashes)} training sets (see `subset`)."
            )
        return ["## subsets", "", text, ""]

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
        `settings.json` (configurations, seeds, budget, grid, package versions
        and, when the caller gave it, the command that reruns it), `subsets.json`
        (each run's training and validation example ids),
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
        if self.subsets:
            with open(os.path.join(folder, "subsets.json"), "w") as f:
                json.dump(self.subsets, f, default=_json_number)
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


def paired_test(values, reference):
    """`[pairs, mean difference, 95% CI, p, verdict]` of `values - reference`, paired."""
    from scipy import stats

    differences = np.asarray(values, "float64") - np.asarray(reference, "float64")
    n = len(differences)
    if n < 2:
        mean = differences.mean() if n else np.nan
        return [n, f"{mean:+.3f}", "–", "–", "n/a (fewer than 2 pairs)"]
    mean = differences.mean()
    error = differences.std(ddof=1) / np.sqrt(n)
    if error == 0:
        p = 1.0 if mean == 0 else 0.0
        low = high = mean
    else:
        p = float(stats.ttest_rel(values, reference).pvalue)
        half = stats.t.ppf(0.975, n - 1) * error
        low, high = mean - half, mean + half
    verdict = "not significant" if p >= 0.05 else ("better" if mean > 0 else "worse")
    return [n, f"{mean:+.3f}", f"[{low:+.3f}, {high:+.3f}]", f"{p:.3g}", verdict]


def _spread(rows):
    """What a table's ± means: the spread over seeds/folds, or that there is none."""
    runs = int(rows["runs"].max()) if len(rows) else 0
    if runs >= 2:
        return f"mean ± std over {runs} seeds/folds"
    return "one seed: no spread to show"


def _mean_std(by_config, config):
    if config not in by_config.index:
        return "–"
    row = by_config.loc[config]
    if row["runs"] > 1:
        return f"{row['mean']:.3f} ± {row['std']:.3f}"
    return f"{row['mean']:.3f}"


def _json_number(value):
    return value.item() if isinstance(value, np.generic) else repr(value)


def _cell(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def _file_name(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))
