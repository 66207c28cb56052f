"""Callbacks that change how a `TransferModel` trains during `fit()`."""

from tlkeras.callbacks.domain_adversarial_schedule import DomainAdversarialSchedule
from tlkeras.callbacks.gradual_unfreezing import GradualUnfreezing
from tlkeras.callbacks.learning_rate_logger import LearningRateLogger

__all__ = ["DomainAdversarialSchedule", "GradualUnfreezing", "LearningRateLogger"]
