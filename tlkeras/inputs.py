"""The inputs a Keras user has, as the arrays Keras takes.

Keras' data adapters read NumPy arrays, tensors, `tf.data` datasets and numeric
pandas objects, but refuse a Python list of texts (`Unrecognized data type`)
and a NumPy `str_` / `bytes_` array (`Invalid dtype: str800`). KerasHub's
models take all of these; `tlkeras` models do too, through one step run before
Keras sees the data:

- `model_inputs(x)`: a list or tuple of texts, a `str_` / `bytes_` array, a
  pandas `Series`, `Index` or one-column `DataFrame` of texts become a NumPy
  object array (what a `tf.string` input takes); a (nested) list of numbers
  becomes an array; dicts of named inputs are adapted value by value;
  everything else (arrays, tensors, datasets, generators) is passed through.
- `targets(y)`: a list of labels, a pandas `Series` or `DataFrame` become an array.
- `adapt_arguments(method, args, kwargs)`: both, applied to `x`, `y` and
  `validation_data` of any `keras.Model` training or inference method;
  `InputAdapter` is the model mixin that calls it.
- `examples(data)`: `(x, y)` in any of these forms, or a `tf.data` dataset of
  `(x, y)` pairs (`tfds.load(..., as_supervised=True)`,
  `keras.utils.image_dataset_from_directory`), read into arrays, for code
  that selects examples by index (`tlkeras.compare`).
"""

import functools
import inspect
import numbers

import keras
import numpy as np

from tlkeras.errors import DataError

# Batches of a dataset read at once by `examples`: large enough to be fast,
# small enough that a batch of images stays a few hundred MB at most.
READ_BATCH = 256


def model_inputs(x, name="x"):
    """`x` as Keras takes it: texts as an object array, pandas as NumPy.

    Args:
        x: inputs of `fit()`, `evaluate()` or `predict()`.
        name: what to call `x` in error messages. Defaults to `"x"`.

    Returns:
        `x`, converted where Keras would refuse it, otherwise unchanged.

    Example:

    ```python
    model_inputs(["a puppy barked", "shares dropped"])
    # array(['a puppy barked', 'shares dropped'], dtype=object)
    ```
    """
    if isinstance(x, dict):
        return {key: model_inputs(value, f"{name}[{key!r}]") for key, value in x.items()}
    if isinstance(x, (str, bytes)):
        raise DataError(
            f"{name} is one text; a model takes a batch of them. Pass a list: [{name}]. "
            f"Received: {name}={x[:80]!r}"
        )
    if _is_pandas(x):
        return _pandas_inputs(x, name)
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (str, bytes)) for v in x):
        return _texts(np.array(x, dtype=object), name)
    if isinstance(x, (list, tuple)) and _plain_numbers(x):
        return np.asarray(x)
    if isinstance(x, np.ndarray) and x.dtype.kind in "USO":
        return _texts(x.astype(object, copy=False), name)
    return x


def targets(y):
    """`y` as Keras takes it: a list of labels or a pandas object as a NumPy array.

    Args:
        y: targets of `fit()` or `evaluate()`, or `None`.

    Returns:
        `y`, converted where Keras would refuse it, otherwise unchanged.
    """
    if isinstance(y, dict):
        return {key: targets(value) for key, value in y.items()}
    if _is_pandas(y):
        return y.to_numpy()
    if isinstance(y, (list, tuple)) and _plain_numbers(y):
        return np.asarray(y)
    return y


def adapt_arguments(method, args, kwargs):
    """`args` and `kwargs` of `keras.Model.<method>` with `x`, `y` and `validation_data` adapted.

    Args:
        method: `"fit"`, `"evaluate"`, `"predict"`, `"train_on_batch"`, ...
        args: the positional arguments, as Keras' signature orders them.
        kwargs: the keyword arguments.

    Returns:
        `(args, kwargs)`.
    """
    args, kwargs = list(args), dict(kwargs)
    parameters = _parameters(method)
    for name, adapt in (("x", model_inputs), ("y", targets), ("validation_data", _validation)):
        if name not in parameters:
            continue
        position = parameters.index(name)
        if position < len(args):
            args[position] = adapt(args[position])
        elif name in kwargs:
            kwargs[name] = adapt(kwargs[name])
    return args, kwargs


def _adapted(method):
    """`method` of `keras.Model`, called with its data adapted."""

    def adapted(self, *args, **kwargs):
        args, kwargs = adapt_arguments(method, args, kwargs)
        return getattr(super(InputAdapter, self), method)(*args, **kwargs)

    adapted.__name__, adapted.__qualname__ = method, f"InputAdapter.{method}"
    adapted.__doc__ = f"`keras.Model.{method}`, taking any input kind of `tlkeras.inputs`."
    return adapted


class InputAdapter:
    """Model mixin: `fit`, `evaluate`, `predict` and the `*_on_batch` methods take any input kind.

    Put it before `keras.Model` among the bases. A subclass that reads the data
    itself before calling `super().fit(...)` calls `adapt_arguments` first.
    """

    fit = _adapted("fit")
    evaluate = _adapted("evaluate")
    predict = _adapted("predict")
    train_on_batch = _adapted("train_on_batch")
    test_on_batch = _adapted("test_on_batch")
    predict_on_batch = _adapted("predict_on_batch")


def examples(data, name="data"):
    """All examples of `data` in memory: `(x, y)` arrays that can be indexed.

    Args:
        data: a tuple `(x, y)` in any form `model_inputs` / `targets` take,
            or a finite `tf.data.Dataset` of `(x, y)` pairs. A dataset whose
            labels have an unknown first dimension holds batches (as
            `image_dataset_from_directory` and `text_dataset_from_directory`
            make) and is unbatched; otherwise each element is one example (as
            `tfds.load(..., as_supervised=True)` makes). The whole dataset is
            read once, so it must fit in memory.
        name: what to call `data` in error messages. Defaults to `"data"`.

    Returns:
        `(x, y)`: `x` an array (object array for texts) or a dict of arrays,
        `y` an array.

    Example:

    ```python
    train = keras.utils.text_dataset_from_directory("reviews/train")
    x, y = examples(train, "train_data")
    ```
    """
    if is_dataset(data):
        return _read_dataset(data, name)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise DataError(
            f"{name} must be a tuple (x, y) or a tf.data.Dataset of (x, y) pairs. "
            f"Received: {name} of type {type(data).__name__}"
        )
    x, y = data
    return model_inputs(x, f"{name}[0]"), np.asarray(targets(y))


def _read_dataset(dataset, name):
    import tensorflow as tf

    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise DataError(
            f"{name} must yield (x, y) pairs: use tfds.load(..., as_supervised=True) or "
            "dataset.map(lambda e: (e['image'], e['label'])). Received: "
            f"{name} with element_spec {spec}"
        )
    if int(dataset.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
        raise DataError(
            f"{name} is infinite (a repeat() without a count); pass one pass over the "
            f"examples. Received: {name}={dataset!r}"
        )
    label_shape = spec[1].shape
    if label_shape.rank and label_shape[0] is None:
        dataset = dataset.unbatch()
    parts = []
    try:
        for x, y in dataset.batch(READ_BATCH).as_numpy_iterator():
            parts.append((x, y))
    except tf.errors.InvalidArgumentError as error:
        raise DataError(
            f"The examples of {name} have different shapes, so they cannot form one array "
            "(resize images to one size first, e.g. image_size= of "
            f"image_dataset_from_directory). Received: {str(error).splitlines()[0][:300]}"
        ) from error
    if not parts:
        raise DataError(f"{name} holds no examples. Received: {name}={dataset!r}")
    x = keras.tree.map_structure(lambda *a: np.concatenate(a), *(p[0] for p in parts))
    return model_inputs(x, name), np.concatenate([p[1] for p in parts])


def _validation(data):
    if isinstance(data, tuple) and len(data) in (2, 3):
        return (model_inputs(data[0], "validation x"), targets(data[1]), *data[2:])
    return data


def _pandas_inputs(x, name):
    from pandas.api.types import is_numeric_dtype

    if hasattr(x, "columns"):  # a DataFrame
        text_columns = [c for c in x.columns if not is_numeric_dtype(x[c])]
        if not text_columns:
            return x  # numeric: Keras reads it as a 2-D array
        if len(x.columns) != 1:
            raise DataError(
                f"{name} is a DataFrame with text columns {text_columns}; a model takes one "
                f"input per example: pass one column, e.g. {name}[{text_columns[0]!r}]. "
                f"Received: {name} with columns {list(x.columns)}"
            )
        x = x[x.columns[0]]
    return model_inputs(x.to_numpy(), name)


def _texts(x, name):
    """An object array of `str`: Keras reads `bytes` objects as an unknown dtype.

    Object arrays that do not start with a text (graphs, ...) are returned as they are.
    """
    flat = x.reshape(-1)
    if not flat.size or not isinstance(flat[0], (str, bytes)):
        return x
    texts = np.empty(flat.shape, dtype=object)
    for index, value in enumerate(flat):
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif not isinstance(value, str):
            # A missing value (None, NaN) would fail inside TensorFlow; name it here.
            raise DataError(
                f"{name} holds texts and a missing value at example {index}; fill it first "
                f"(e.g. series.fillna('')). Received: {name}[{index}]={value!r}"
            )
        texts[index] = value
    return texts.reshape(x.shape)


def _plain_numbers(values):
    """Whether `values` is a non-empty (nested) list of Python or NumPy numbers."""
    if not values:
        return False
    return all(
        isinstance(v, numbers.Number) or (isinstance(v, (list, tuple)) and _plain_numbers(v))
        for v in values
    )


def _is_pandas(value):
    return type(value).__module__.startswith("pandas") and hasattr(value, "to_numpy")


def is_dataset(value):
    """Whether `value` is a `tf.data.Dataset` (without importing TensorFlow)."""
    return type(value).__module__.startswith("tensorflow") and hasattr(value, "element_spec")


@functools.cache
def _parameters(method):
    return list(inspect.signature(getattr(keras.Model, method)).parameters)[1:]
