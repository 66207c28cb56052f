"""Stops training at the batch whose loss turned NaN or Inf, and says which."""

import math

import keras

from tlkeras.errors import DataError


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Raises `tlkeras.errors.DataError` naming the epoch and batch of a NaN/Inf loss.

    Keras' `TerminateOnNaN` prints a line and ends the run as if it had
    finished; a script then saves a model full of NaNs. This guard raises
    instead, before anything else (a checkpoint callback) sees the epoch end.
    `TransferModel.fit` adds it unless `check_finite=False`.

    Example:

    ```python
    model.fit(x, y, callbacks=[tlkeras.callbacks.NonFiniteLossGuard()])
    ```
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = float(keras.ops.convert_to_numpy(loss))
        if not math.isfinite(value):
            self.model.stop_training = True
            raise DataError(
                f"The training loss became {value} at epoch {self._epoch}, batch {batch}. "
                "Look for NaN/Inf in that batch's inputs or targets (tlkeras checks in-memory "
                "arrays before fit; a tf.data pipeline can produce them later), or lower the "
                f"learning rate if the model diverged. Received: loss={value} at batch {batch}"
            )
