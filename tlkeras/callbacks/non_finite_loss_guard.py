"""Stops training at the end of an epoch that met a NaN/Inf loss or gradient, and says where."""

import math

import keras

from tlkeras.errors import DataError


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Raises `tlkeras.errors.DataError` naming the epoch and batch of a NaN/Inf step.

    Keras' `TerminateOnNaN` prints a line and ends the run as if it had
    finished; a script then saves a model full of NaNs. `TransferModel.fit`
    (and `DomainAdaptationModel.fit`) add this guard first, unless
    `check_data=False`, and train with a guarded step
    (`tlkeras.step_guard.GuardedTrainStep`): the compiled step itself checks
    the loss and the gradients, applies no update from the first non-finite
    batch on, and records that batch on the device. The guard reads the record
    once per epoch, at its end, before any later callback (a checkpoint) sees
    the epoch end: no per-batch work on the host, so `steps_per_execution`
    and asynchronous dispatch keep working, and the weights are those from
    before the bad batch.

    On a model without the guarded step (a plain `keras.Model`), it can only
    check the epoch's mean loss and names the epoch alone.

    Example:

    ```python
    model.fit(x, y, callbacks=[tlkeras.callbacks.NonFiniteLossGuard()])
    ```
    """

    def on_train_begin(self, logs=None):
        self._restart()

    def on_epoch_begin(self, epoch, logs=None):
        self._restart()

    def on_epoch_end(self, epoch, logs=None):
        record = getattr(self.model, "step_record", None)
        if record is not None and getattr(self.model, "_step_guard_armed", False):
            batch = record.first_bad_step()
            if batch is not None:
                # The next fit() or train_on_batch() starts with a clean record.
                record.restart()
                self.model.stop_training = True
                raise DataError(
                    f"The training loss or its gradients became NaN/Inf at epoch {epoch}, "
                    f"batch {batch}; tlkeras applied no update from that batch on, so the "
                    "weights are those from before it. Look for NaN/Inf in that batch's "
                    "inputs or targets (tlkeras checks in-memory arrays before fit; a tf.data "
                    "pipeline can produce them later), or lower the learning rate if the "
                    f"model diverged. Received: a non-finite step at batch {batch}"
                )
            return
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise DataError(
                f"The training loss became {loss} in epoch {epoch}. Look for NaN/Inf in the "
                "inputs or targets, or lower the learning rate if the model diverged. "
                f"Received: loss={loss} at epoch {epoch}"
            )

    def _restart(self):
        record = getattr(self.model, "step_record", None)
        if record is not None:
            record.restart()
