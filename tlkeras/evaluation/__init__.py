"""Evaluation that shows whether transfer works: `compare()`, metrics, splits and reports.

```python
results = tlkeras.compare(
    {"scratch": dict(weights=None, freeze=False), "fine_tune": dict(strategy="full")},
    (x_train, y_train), (x_test, y_test),
    backbone="efficientnet_lite0", input_shape=(64, 64, 3), fractions=(0.01, 0.1),
)
tlkeras.evaluation.Report(results).save("runs/lite0")
```
"""

from tlkeras.batchnorm_statistics import recalibrate_batchnorm
from tlkeras.evaluation import metrics
from tlkeras.evaluation import plots
from tlkeras.evaluation.cli_compare import cli_compare
from tlkeras.evaluation.compare import compare
from tlkeras.evaluation.learning_curve_demo import learning_curve_demo
from tlkeras.evaluation.report import Report
from tlkeras.evaluation.runner import epochs_to_fraction_of_final
from tlkeras.evaluation.splits import kfold_indices
from tlkeras.evaluation.splits import subset_indices
from tlkeras.evaluation.versions import package_versions

__all__ = [
    "Report",
    "cli_compare",
    "compare",
    "epochs_to_fraction_of_final",
    "kfold_indices",
    "learning_curve_demo",
    "metrics",
    "package_versions",
    "plots",
    "recalibrate_batchnorm",
    "subset_indices",
]
