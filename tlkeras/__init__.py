"""tlkeras: transfer learning for Keras 3 with plugin backbones.

```python
import tlkeras
model = tlkeras.build("efficientnet_lite0", head="classifier", num_classes=5, bottleneck=256)
model.fit(train_ds, validation_data=val_ds, epochs=3)
```
"""

from tlkeras import analysis
from tlkeras import callbacks
from tlkeras import domain
from tlkeras import errors
from tlkeras import evaluation
from tlkeras import heads
from tlkeras import layers
from tlkeras import optimizers
from tlkeras import precision
from tlkeras import strategies
from tlkeras import text
from tlkeras.backbones.backbone import Backbone
from tlkeras.builder import build
from tlkeras.builder import get_backbone
from tlkeras.evaluation import compare
from tlkeras.feature_cache import fit_cached
from tlkeras.pretrain import load_preset
from tlkeras.pretrain import pretrain
from tlkeras.pretrain import register_preset
from tlkeras.pretrain import save_preset
from tlkeras.ranking import rank_backbones
from tlkeras.recipes import fine_tune
from tlkeras.registry import backbone_info
from tlkeras.registry import list_backbones
from tlkeras.registry import register_backbone
from tlkeras.registry import unregister_backbone
from tlkeras.saving import load_model
from tlkeras.saving import save_model
from tlkeras.transfer_model import TransferModel

__version__ = "0.1.0"

__all__ = [
    "Backbone",
    "TransferModel",
    "analysis",
    "backbone_info",
    "build",
    "callbacks",
    "domain",
    "compare",
    "errors",
    "evaluation",
    "fine_tune",
    "fit_cached",
    "get_backbone",
    "heads",
    "layers",
    "list_backbones",
    "load_model",
    "load_preset",
    "optimizers",
    "precision",
    "pretrain",
    "rank_backbones",
    "register_backbone",
    "save_model",
    "register_preset",
    "save_preset",
    "strategies",
    "text",
    "unregister_backbone",
]
