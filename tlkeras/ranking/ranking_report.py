"""`RankingReport`: a `rank_backbones` result as Markdown, a PNG and a run folder."""

import numpy as np

from tlkeras.evaluation import plots
from tlkeras.evaluation.report import Report
from tlkeras.evaluation.report import markdown_table

# Columns of a ranking that are not scores.
INFO_COLUMNS = (
    "backbone",
    "feature_dim",
    "n_examples",
    "build_seconds",
    "feature_seconds",
    "seconds",
)
DESCRIPTIONS = {
    "logme": "LogME, log evidence per example (You et al. 2021)",
    "leep": "LEEP, log expected empirical prediction (Nguyen et al. 2020)",
    "nce": "NCE, -H(target | source label) (Tran et al. 2019)",
    "hscore": "H-score (Bao et al. 2019)",
    "hscore_shrinkage": "H-score, Ledoit-Wolf covariance (Ibrahim et al. 2023)",
    "knn": "leave-one-out 5-NN accuracy",
    "linear_probe": "3-fold linear-probe accuracy",
}


class RankingReport(Report):
    """Backbone rankings (`tlkeras.rank_backbones`) as a Markdown table, a score chart and a run folder.

    Args:
        ranking: the DataFrame `rank_backbones` returns.
        title: the Markdown title. Defaults to `"tlkeras backbone ranking"`.

    Example:

    ```python
    report = RankingReport(tlkeras.rank_backbones(names, (x, y)))
    print(report.to_markdown())
    report.save("runs/rank-fashion-mnist")  # ranking.csv, report.md, figures/scores.png
    ```
    """

    def __init__(self, ranking, title="tlkeras backbone ranking"):
        self.notes = dict(ranking.attrs.get("notes", {}))
        super().__init__(ranking, history=[], title=title)
        self.settings["notes"] = self.notes

    @property
    def methods(self):
        """The score columns, in the order they were asked for."""
        return [c for c in self.results.columns if c not in INFO_COLUMNS]

    def summary(self):
        """The ranking itself: one row per backbone, best first."""
        return self.results.copy()

    def to_markdown(self, metrics=None):
        """The ranking table, why any column is empty, and the added tables.

        Args:
            metrics: score columns to show. Defaults to `None` (all).
        """
        methods = metrics or self.methods
        header = ["rank", "backbone", *methods, "feature dim", "seconds"]
        rows = [
            [
                str(i + 1),
                row["backbone"],
                *[_score(row[m]) for m in methods],
                str(int(row["feature_dim"])),
                f"{row['seconds']:.1f}",
            ]
            for i, (_, row) in enumerate(self.results.iterrows())
        ]
        n = int(self.results["n_examples"].max()) if len(self.results) else 0
        lines = [
            f"# {self.title}",
            "",
            f"{n} labelled examples; one frozen forward pass per backbone; higher is better "
            f"in every column; sorted by {methods[0]}.",
            "",
            *markdown_table(header, rows),
            "",
            *[f"- {m}: {DESCRIPTIONS.get(m, m)}" for m in methods],
            "",
        ]
        if self.notes:
            constant = any("constant" in why for why in self.notes.values())
            lines += ["## empty columns" + (" and constant features" if constant else ""), ""]
            lines += [f"- {backbone}: {why}" for backbone, why in self.notes.items()]
            lines.append("")
        for name, frame in self.tables.items():
            body = [[_score(v) for v in row] for row in frame.itertuples(index=False)]
            lines += [f"## {name}", "", *markdown_table(list(map(str, frame.columns)), body), ""]
        return "\n".join(lines)

    def scores_figure(self):
        """One horizontal bar chart per score, backbones in ranking order."""
        methods = self.methods
        figure, axes = plots.new_figure(
            len(methods), width=3.6, height=0.5 * len(self.results) + 1.5
        )
        labels = list(self.results["backbone"])[::-1]
        for ax, method in zip(axes, methods, strict=True):
            values = self.results[method].to_numpy(dtype="float64")[::-1]
            ax.barh(
                labels,
                np.nan_to_num(values, nan=0.0),
                color=["#bbb" if np.isnan(v) else "C0" for v in values],
            )
            # An empty score would be an invisible zero-width bar: say so in place.
            for row, value in enumerate(values):
                if np.isnan(value):
                    ax.text(
                        0.5, row, "no score", transform=ax.get_yaxis_transform(),
                        ha="center", va="center", color="#777", fontsize="small",
                    )  # fmt: skip
            # LEEP and NCE are log-likelihoods: the shortest bar is the best one.
            negative = np.nanmax(values, initial=-np.inf) <= 0 and not np.isnan(values).all()
            ax.set_title(
                method + (" (≤ 0, nearer 0 is better)" if negative else ""), fontsize="medium"
            )
            ax.grid(True, axis="x", alpha=0.3)
            if ax is not axes[0]:
                ax.set_yticklabels([])
        figure.suptitle("Transferability scores (higher is better)", fontsize="medium")
        return figure

    def all_figures(self):
        figures = {"scores": self.scores_figure()} if len(self.results) else {}
        figures.update(self.figures)
        return figures

    def _write(self, folder):
        import os

        super()._write(folder)
        # The ranking under its own name; results.csv stays for Report's readers.
        self.results.to_csv(os.path.join(folder, "ranking.csv"), index=False)


def _score(value):
    if isinstance(value, (float, np.floating)):
        return "–" if np.isnan(value) else f"{value:.4g}"
    return str(value)
