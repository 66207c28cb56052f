"""GradualUnfreezing: open one more layer group per epoch, inside one fit()."""

import keras

from tlkeras.errors import ConfigurationError


class GradualUnfreezing(keras.callbacks.Callback):
    """Unfreezes a `TransferModel`'s layer groups from the head down, during `fit()`.

    ULMFiT's staged unfreezing: the new layers (bottleneck and heads) train
    first, then each `every` epochs one more backbone group joins, top group
    first. A change takes effect at the start of its epoch: the model rebuilds
    its train function (`TransferModel.prepare_training`), the optimizer keeps
    the state of the groups that were already training, and groups still frozen
    keep their weights and BatchNorm statistics bit-identical.

    Each epoch's logs get `trainable_groups`: how many groups train, counted
    from the top of `model.layer_groups`. Epochs are those `fit()` reports, so
    a second `fit()` call starts the schedule again (use `initial_epoch` to go
    on).

    Args:
        every: open one more group each `every` epochs; an int >= 1.
            Defaults to `1`. Ignored when `schedule` is given.
        schedule: dict epoch -> number of trainable groups from the top, e.g.
            `{0: 2, 3: 4, 5: 7}`; an epoch takes the entry of the latest key
            at or before it, epochs before the first key keep the model's
            state. Defaults to `None`.
        verbose: print a line whenever the trainable groups change. Defaults
            to `0`.

    Example:

    ```python
    model.fit(x, y, epochs=6, callbacks=[tlkeras.callbacks.GradualUnfreezing(every=1)])
    ```
    """

    def __init__(self, every=1, schedule=None, verbose=0):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigurationError(
                f"every must be an int >= 1 (epochs between unfreezing steps). Received: every={every!r}"
            )
        if schedule is not None:
            _check_schedule(schedule)
            schedule = dict(sorted(schedule.items()))
        self.every = every
        self.schedule = schedule
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, "layer_groups") or not hasattr(self.model, "prepare_training"):
            raise ConfigurationError(
                "GradualUnfreezing walks the layer groups of a tlkeras.TransferModel. "
                f"Received: model of type {type(self.model).__name__}"
            )
        n_groups = len(self.model.layer_groups)
        too_many = {e: n for e, n in (self.schedule or {}).items() if n > n_groups}
        if too_many:
            raise ConfigurationError(
                f"The model has {n_groups} layer groups; the schedule asks for more. "
                f"Received: schedule entries {too_many}"
            )

    def trainable_groups(self, epoch):
        """How many groups, counted from the top, train in `epoch` (None: unchanged)."""
        n_groups = len(self.model.layer_groups)
        if self.schedule is None:
            top = n_groups - self.model.num_backbone_groups
            return min(n_groups, top + epoch // self.every)
        due = [n for start, n in self.schedule.items() if start <= epoch]
        return due[-1] if due else None

    def on_epoch_begin(self, epoch, logs=None):
        n_trainable = self.trainable_groups(epoch)
        if n_trainable is None:
            return
        model = self.model
        n_groups = len(model.layer_groups)
        model.freeze(n_groups - n_trainable)
        model.prepare_training()
        if model.train_function is not None:
            return  # the trainable state did not change
        # fit() calls `self.train_function` afresh each step, so the function
        # rebuilt here (over the new trainable variables) trains this epoch.
        model.make_train_function()
        if self.verbose:
            first = model.layer_groups[n_groups - n_trainable][0].name
            print(
                f"\nEpoch {epoch + 1}: GradualUnfreezing: the top {n_trainable} of "
                f"{n_groups} layer groups train (from {first!r} up)."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            frozen = self.model.frozen_groups
            logs["trainable_groups"] = len(self.model.layer_groups) - len(frozen)


def _check_schedule(schedule):
    if not isinstance(schedule, dict) or not schedule:
        raise ConfigurationError(
            "schedule must be a non-empty dict epoch -> number of trainable groups. "
            f"Received: schedule={schedule!r}"
        )
    for epoch, n in schedule.items():
        for value in (epoch, n):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigurationError(
                    f"schedule keys and values must be ints. Received: schedule={schedule!r}"
                )
        if epoch < 0 or n < 1:
            raise ConfigurationError(
                "schedule maps epochs >= 0 to at least 1 trainable group. "
                f"Received: schedule[{epoch}]={n}"
            )
