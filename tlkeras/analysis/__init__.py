"""What transferred, and why: layer-wise probes, representation plots, ablations.

```python
probes = tlkeras.analysis.layer_probe({"imagenet": pretrained, "random": scratch}, train, test)
figure = tlkeras.analysis.representation_figure(model, x_test, y_test, method="tsne")
deltas = tlkeras.analysis.ablate(recipe, {"no_pretraining": dict(weights=None)}, train, test, backbone=...)
```
"""

from tlkeras.analysis.ablation import ablate
from tlkeras.analysis.embeddings import embed
from tlkeras.analysis.embeddings import features
from tlkeras.analysis.embeddings import representation_figure
from tlkeras.analysis.transferability import group_feature_model
from tlkeras.analysis.transferability import group_features
from tlkeras.analysis.transferability import layer_probe
from tlkeras.analysis.transferability import linear_probe

__all__ = [
    "ablate",
    "embed",
    "features",
    "group_feature_model",
    "group_features",
    "layer_probe",
    "linear_probe",
    "representation_figure",
]
