"""Domain adaptation: DANN, MMD and CORAL training of transfer models with plain `fit()`.

```python
model = tlkeras.build(backbone, num_classes=10, bottleneck=128)
dann = tlkeras.domain.adapt(model, method="dann")
dann.fit(tlkeras.domain.pair_datasets((x_source, y_source), x_target), epochs=20,
         callbacks=[tlkeras.callbacks.DomainAdversarialSchedule()])
dann.task_model.predict(x_target)
```
"""

from tlkeras.domain.adapt import adapt
from tlkeras.domain.batchnorm import adapt_batchnorm
from tlkeras.domain.domain_adaptation_model import DomainAdaptationModel
from tlkeras.domain.losses import coral_loss
from tlkeras.domain.losses import mmd_loss
from tlkeras.domain.pairing import pair_datasets
from tlkeras.domain.pseudo_labels import pseudo_label
from tlkeras.domain.reverse_validation import ReverseValidation
from tlkeras.domain.reverse_validation import reverse_validation

__all__ = [
    "DomainAdaptationModel",
    "ReverseValidation",
    "adapt",
    "adapt_batchnorm",
    "coral_loss",
    "mmd_loss",
    "pair_datasets",
    "pseudo_label",
    "reverse_validation",
]
