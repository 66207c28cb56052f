"""EpochSeeds: every random stream of a model restarts from (seed, epoch) at each epoch."""

import keras
import numpy as np

# Room for this many random draws per stream and epoch before two epochs overlap.
_DRAWS_PER_EPOCH = 2**20


class EpochSeeds(keras.callbacks.Callback):
    """Sets each `SeedGenerator` of the model to a state derived from `(seed, epoch)`.

    Seed-generator states are not part of saved weights, so a run resumed
    from a checkpoint would otherwise draw other augmentations and dropout
    masks than the uninterrupted run. With the streams reset at every epoch
    start, epoch `k` draws the same numbers whether or not the run stopped
    before it.

    Args:
        seed: the run's seed (an int).
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = int(seed)

    def on_epoch_begin(self, epoch, logs=None):
        states = [v for v in self.model.variables if v.name == "seed_generator_state"]
        for index, state in enumerate(states):
            stream = (self.seed * 1_000_003 + index) % 2**32
            counter = (epoch * _DRAWS_PER_EPOCH) % 2**32
            state.assign(np.array([stream, counter], dtype=state.dtype))
