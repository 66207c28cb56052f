"""DomainAdversarialSchedule: ramp the adaptation weight λ over training progress."""

import math

import keras

from tlkeras.errors import ConfigurationError

SCHEDULES = ("ganin",)


class DomainAdversarialSchedule(keras.callbacks.Callback):
    """Sets a `DomainAdaptationModel`'s λ from the training progress `p ∈ [0, 1]`.

    The default is the ramp of Ganin et al. (2016),
    `λ(p) = max_weight × (2 / (1 + exp(-gamma p)) - 1)`: the domain signal is
    off at first, while the discriminator and the features are still noise,
    and approaches `max_weight` as training proceeds. λ is the gradient
    reversal factor for DANN and the discrepancy weight for MMD / CORAL.

    `p` counts across the `epochs` of the `fit()` call. λ moves every batch
    when `fit()` knows its steps per epoch (else every epoch), inside the
    train step, so the schedule costs no host round trip per batch. The
    value reached is logged each epoch as `adaptation_weight`.

    Args:
        schedule: `"ganin"`; a number, for a constant λ; or a callable taking
            `p` and returning λ. Defaults to `"ganin"`.
        max_weight: the value the Ganin ramp approaches (ignored for other
            schedules). Defaults to `1.0`.
        gamma: steepness of the Ganin ramp. Defaults to `10.0`.

    Example:

    ```python
    dann.fit(train, epochs=20, callbacks=[DomainAdversarialSchedule(max_weight=0.5)])
    ```
    """

    def __init__(self, schedule="ganin", max_weight=1.0, gamma=10.0):
        super().__init__()
        if not (callable(schedule) or schedule in SCHEDULES or _is_number(schedule)):
            raise ConfigurationError(
                "schedule must be 'ganin', a number or a callable of the progress p. "
                f"Received: schedule={schedule!r}"
            )
        if not _is_number(max_weight) or max_weight < 0:
            raise ConfigurationError(
                f"max_weight must be a non-negative number. Received: max_weight={max_weight!r}"
            )
        if not _is_number(gamma) or gamma <= 0:
            raise ConfigurationError(f"gamma must be a positive number. Received: gamma={gamma!r}")
        self.schedule = schedule
        self.max_weight = float(max_weight)
        self.gamma = float(gamma)

    def weight(self, progress):
        """λ at training progress `progress` (clipped to [0, 1])."""
        p = min(max(float(progress), 0.0), 1.0)
        if self.schedule == "ganin":
            return self.max_weight * (2.0 / (1.0 + math.exp(-self.gamma * p)) - 1.0)
        if callable(self.schedule):
            return float(self.schedule(p))
        return float(self.schedule)

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, "set_adaptation_ramp"):
            raise ConfigurationError(
                "DomainAdversarialSchedule drives a tlkeras.domain.DomainAdaptationModel. "
                f"Received: a {type(self.model).__name__} named {self.model.name!r}"
            )

    def on_epoch_begin(self, epoch, logs=None):
        epochs = max(int(self.params.get("epochs") or 1), 1)
        start = self.weight(epoch / epochs)
        steps = self.params.get("steps")
        # The model adds the increment after each step: λ follows the chord of
        # the schedule across the epoch, batch by batch, with no batch hook.
        increment = (self.weight((epoch + 1) / epochs) - start) / steps if steps else 0.0
        self.model.set_adaptation_ramp(start, increment)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["adaptation_weight"] = self.model.adaptation_weight

    def on_train_end(self, logs=None):
        # A later fit() without this callback keeps λ where training ended.
        self.model.set_adaptation_ramp(self.model.adaptation_weight, 0.0)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
