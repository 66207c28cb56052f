"""Self-supervised pre-training: unlabeled data -> a backbone every part of tlkeras uses.

`tlkeras.pretrain(backbone, unlabeled_data, objective=...)` trains; `save_preset`
writes the result as a preset folder; `register_preset` (this process) or
`write_plugin_package` (an installable plugin, every process) give it a name
for `tlkeras.build`. Objectives are looked up per modality in a registry that
other modalities extend with `register_objective`.
"""

from tlkeras.pretrain.epoch_checkpoint import EpochCheckpoint
from tlkeras.pretrain.epoch_seeds import EpochSeeds
from tlkeras.pretrain.image_augmentation import ImageAugmentation
from tlkeras.pretrain.masked_reconstruction import MaskedReconstruction
from tlkeras.pretrain.nt_xent import contrastive_accuracy
from tlkeras.pretrain.nt_xent import nt_xent
from tlkeras.pretrain.objectives import get_objective
from tlkeras.pretrain.objectives import list_objectives
from tlkeras.pretrain.objectives import register_objective
from tlkeras.pretrain.plugin_package import write_plugin_package
from tlkeras.pretrain.preset import load_preset
from tlkeras.pretrain.preset import save_preset
from tlkeras.pretrain.pretrain import pretrain
from tlkeras.pretrain.register_preset import register_preset
from tlkeras.pretrain.simclr import SimCLR

__all__ = [
    "EpochCheckpoint",
    "EpochSeeds",
    "ImageAugmentation",
    "MaskedReconstruction",
    "SimCLR",
    "contrastive_accuracy",
    "get_objective",
    "list_objectives",
    "load_preset",
    "nt_xent",
    "pretrain",
    "register_objective",
    "register_preset",
    "save_preset",
    "write_plugin_package",
]
