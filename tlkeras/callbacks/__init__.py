"""Callbacks that change how a `TransferModel` trains during `fit()`."""

from tlkeras.callbacks.domain_adversarial_schedule import DomainAdversarialSchedule
from tlkeras.callbacks.gradual_unfreezing import GradualUnfreezing
from tlkeras.callbacks.learning_rate_logger import LearningRateLogger
from tlkeras.callbacks.non_finite_loss_guard import NonFiniteLossGuard
from tlkeras.callbacks.resumable_training import ResumableTraining

__all__ = [
    "DomainAdversarialSchedule",
    "GradualUnfreezing",
    "LearningRateLogger",
    "NonFiniteLossGuard",
    "ResumableTraining",
]
