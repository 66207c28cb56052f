"""pair_datasets: zip labeled source data with unlabeled (and a few labeled) target data."""

import numpy as np

from tlkeras.errors import ConfigurationError
from tlkeras.inputs import model_inputs
from tlkeras.inputs import targets

SHUFFLE_BUFFER = 10_000


def pair_datasets(
    source,
    target,
    labeled_target=None,
    *,
    batch_size=32,
    labeled_batch_size=None,
    shuffle=True,
    seed=None,
):
    """Makes the dataset a `DomainAdaptationModel` trains on with `fit()`.

    One pass over the source data is one epoch. The target streams are
    repeated (and reshuffled) as often as the source needs, so source and
    target may have any sizes. Every batch holds `batch_size` source and
    `batch_size` target examples (the remainder is dropped, so the domain
    classes stay balanced), plus `labeled_batch_size` labeled target
    examples when `labeled_target` is given (semi-supervised adaptation).

    Elements are `(x, y)` with `x = {"source": xs, "target": xt}` and
    `y = ys`; with labeled target data, `x` also holds `"labeled_target"` and
    `y = {"source": ys, "labeled_target": yl}`.

    Args:
        source: labeled source data: a tuple `(x, y)` of arrays (texts may
            be a list or a pandas column, see `tlkeras.inputs`), or an
            unbatched `tf.data.Dataset` of `(x, y)` pairs.
        target: unlabeled target data: an array (or list) of inputs, or an
            unbatched `tf.data.Dataset` of inputs.
        labeled_target: a few labeled target examples, as `source`. Defaults
            to `None` (unsupervised adaptation).
        batch_size: source (and unlabeled target) examples per batch.
            Defaults to `32`.
        labeled_batch_size: labeled target examples per batch. Defaults to
            `None`: `max(1, batch_size // 4)`, capped at the number of
            labeled examples.
        shuffle: shuffle every stream each epoch; use `False` for validation
            data. Defaults to `True`.
        seed: shuffling seed. Defaults to `None`.

    Returns:
        A batched, prefetched `tf.data.Dataset`.

    Example:

    ```python
    train = tlkeras.domain.pair_datasets((x_source, y_source), x_target, batch_size=64)
    dann.fit(train, epochs=10)
    ```
    """
    # tf.data is imported here, not at import time: `import tlkeras` stays
    # light, and JAX / PyTorch users who feed their own batches never need it.
    import tensorflow as tf

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(
            f"batch_size must be a positive int. Received: batch_size={batch_size!r}"
        )
    source_ds = _as_dataset(source, "source", labeled=True)
    target_ds = _as_dataset(target, "target", labeled=False)
    streams = {
        "source": _batched(source_ds, batch_size, shuffle, seed, repeat=False),
        "target": _batched(target_ds, batch_size, shuffle, seed, repeat=True),
    }
    if labeled_target is not None:
        labeled_ds = _as_dataset(labeled_target, "labeled_target", labeled=True)
        if labeled_batch_size is None:
            count = int(labeled_ds.cardinality())
            labeled_batch_size = max(1, batch_size // 4)
            if count > 0:
                labeled_batch_size = min(labeled_batch_size, count)
        streams["labeled_target"] = _batched(
            labeled_ds, labeled_batch_size, shuffle, seed, repeat=True
        )

    def arrange(batches):
        xs, ys = batches["source"]
        x = {"source": xs, "target": batches["target"]}
        if "labeled_target" not in batches:
            return x, ys
        xl, yl = batches["labeled_target"]
        x["labeled_target"] = xl
        return x, {"source": ys, "labeled_target": yl}

    paired = tf.data.Dataset.zip(streams).map(arrange, num_parallel_calls=tf.data.AUTOTUNE)
    return paired.prefetch(tf.data.AUTOTUNE)


def _as_dataset(data, name, labeled):
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        return data
    if labeled:
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise ConfigurationError(
                f"{name} must be a tuple (x, y) of arrays or an unbatched tf.data.Dataset "
                f"of (x, y). Received: {name}={type(data).__name__}"
            )
        x, y = model_inputs(data[0], f"{name} x"), targets(data[1])
        if len(np.asarray(y)) != _length(x):
            raise ConfigurationError(
                f"{name} x and y hold different numbers of examples. Received: "
                f"{_length(x)} inputs and {len(np.asarray(y))} labels"
            )
        return tf.data.Dataset.from_tensor_slices((x, np.asarray(y)))
    return tf.data.Dataset.from_tensor_slices(model_inputs(data, name))


def _length(x):
    import tensorflow as tf

    leaves = tf.nest.flatten(x)
    return len(np.asarray(leaves[0]))


def _batched(dataset, batch_size, shuffle, seed, repeat):
    if shuffle:
        buffer = int(dataset.cardinality())
        # A full shuffle of small data, a window of large (or unknown-size) data.
        buffer = min(buffer, SHUFFLE_BUFFER) if buffer > 0 else SHUFFLE_BUFFER
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size, drop_remainder=True)
