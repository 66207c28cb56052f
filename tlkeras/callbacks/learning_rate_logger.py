"""LearningRateLogger: the learning rate each layer group trains with, per epoch."""

import keras
import numpy as np

from tlkeras.backbones.backbone import trainable_by_nature


class LearningRateLogger(keras.callbacks.Callback):
    """Adds `lr` and, per layer group, `lr_group_{i}` to each epoch's logs.

    `lr` is the optimizer's current learning rate (a schedule evaluated at the
    current step). `lr_group_{i}` is the rate group `i` (input side first)
    effectively trains with: `lr` times its factor under a
    `tlkeras.optimizers.LayerwiseOptimizer`, and `0.0` while the group is
    frozen. `History`, `CSVLogger` and `TensorBoard` record them.

    Example:

    ```python
    history = model.fit(x, y, epochs=3, callbacks=[tlkeras.callbacks.LearningRateLogger()])
    history.history["lr_group_0"]
    ```
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = self.model.optimizer
        rate = float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        logs["lr"] = rate
        multiplier = getattr(optimizer, "multiplier", lambda variable: 1.0)
        for index, group in enumerate(getattr(self.model, "layer_groups", ())):
            variables = trainable_by_nature(group)
            if not variables:
                continue
            training = [v for v in variables if v.trainable]
            logs[f"lr_group_{index}"] = rate * multiplier(training[0]) if training else 0.0
