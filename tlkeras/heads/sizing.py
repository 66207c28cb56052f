"""How many classes the labels of a first `fit()` imply, for unsized classifier heads.

A classifier head built without `num_classes` is sized by `TransferModel.fit()`
from what it is given: integer labels (`max + 1`), one-hot or multi-hot labels
(their width), a `tf.data.Dataset` whose labels have a known width, or the
`class_names` that `keras.utils.image_dataset_from_directory` attaches to its
dataset. Integer labels inside a dataset are read once, in full.
"""

import numpy as np

from tlkeras.errors import ConfigurationError


def num_classes_from_labels(labels, multi_label=False, name="y"):
    """Returns the number of classes that an array of labels implies.

    Args:
        labels: integer class ids `(n,)` or `(n, 1)`, or one-hot / multi-hot
            rows `(n, classes)`.
        multi_label: whether the labels are multi-hot rows (their width is
            the number of classes, even 1). Defaults to `False`.
        name: what to call the labels in messages. Defaults to `"y"`.

    Returns:
        An int: the width of one-hot rows, else `max(labels) + 1` (at least 2).

    Raises:
        ConfigurationError: the labels are empty, negative, not integers, or
            of a shape that names no classes.

    Example:

    ```python
    num_classes_from_labels([0, 2, 1, 2])  # 3
    num_classes_from_labels(np.eye(4)[[0, 3]])  # 4
    ```
    """
    array = np.asarray(labels)
    if array.ndim == 2 and (array.shape[1] > 1 or multi_label):
        return int(array.shape[1])
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iuf":
        raise ConfigurationError(
            "Cannot read a number of classes from these labels: expected integer class ids "
            f"(n,) or one-hot rows (n, classes). Received: {name} with shape {array.shape} "
            f"and dtype {array.dtype}. Build with num_classes=N instead."
        )
    if array.dtype.kind == "f" and not np.all(np.equal(np.mod(array, 1), 0)):
        raise ConfigurationError(
            f"Class ids must be whole numbers. Received: {name} with values like "
            f"{array[np.mod(array, 1) != 0][:3]}"
        )
    if array.min() < 0:
        raise ConfigurationError(
            f"Class ids must be >= 0. Received: {name} with minimum {array.min()}"
        )
    # All-zero labels still describe a two-class problem.
    return max(2, int(array.max()) + 1)


def num_classes_from_fit_data(x, y=None, task=None, multi_label=False):
    """Returns the number of classes of one head from `fit(x, y)`'s data.

    Args:
        x: `fit()`'s `x`: arrays, or a `tf.data.Dataset` of `(x, y, ...)`.
        y: `fit()`'s `y`, or `None` when `x` is a dataset. Defaults to `None`.
        task: the head's task name when `y` is a dict of task -> labels.
            Defaults to `None` (one head).
        multi_label: whether the head takes multi-hot rows. Defaults to `False`.

    Returns:
        An int >= 1.

    Raises:
        ConfigurationError: the data carries no labels this function can read.
    """
    name = "y" if task is None else f"y[{task!r}]"
    if y is None and _is_dataset(x):
        return _from_dataset(x, task, multi_label, name)
    if y is None:
        raise ConfigurationError(
            "The classifier head is sized from the labels of the first fit(), and this "
            f"fit() has none it can read (x of type {type(x).__name__}, y=None). Build "
            "with num_classes=N, or pass labels: fit(x, y) or a tf.data dataset of (x, y)."
        )
    if task is not None:
        if not isinstance(y, dict) or task not in y:
            raise ConfigurationError(
                f"The head {task!r} is sized from y[{task!r}] at the first fit(); y has no "
                f"such key. Received: y of type {type(y).__name__}"
                + (f" with keys {sorted(y)}" if isinstance(y, dict) else "")
            )
        y = y[task]
    return num_classes_from_labels(y, multi_label, name)


def _is_dataset(value):
    return hasattr(value, "element_spec") and hasattr(value, "as_numpy_iterator")


def _from_dataset(dataset, task, multi_label, name):
    names = getattr(dataset, "class_names", None)
    if names and task is None:  # keras.utils.image_dataset_from_directory
        return len(names)
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise ConfigurationError(
            "The classifier head is sized from the labels of the first fit(); this dataset's "
            f"elements hold no (x, y) pair. Received: element_spec={spec!r}. Build with "
            "num_classes=N."
        )
    label_spec = spec[1]
    if task is not None:
        label_spec = label_spec.get(task) if isinstance(label_spec, dict) else None
    if label_spec is None:
        raise ConfigurationError(
            f"The dataset holds no labels for the head {task!r}. Received: element_spec={spec!r}"
        )
    shape = label_spec.shape
    if len(shape) >= 2 and shape[-1] is not None and (shape[-1] > 1 or multi_label):
        return int(shape[-1])
    # Integer ids: read them once (the dataset is read in full, images included).
    labels = dataset.map(lambda *element: element[1] if task is None else element[1][task])
    batches = [np.reshape(batch, (-1,)) for batch in labels.as_numpy_iterator()]
    return num_classes_from_labels(np.concatenate(batches) if batches else [], name=name)
