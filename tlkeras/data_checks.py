"""Checks that training data fits the model, before `fit()` spends time on it.

Keras reports a wrong shape or label deep inside a traced train step (or not
at all: an out-of-range sparse label gives a NaN or a silently wrong loss on
some devices). `TransferModel.fit` runs these checks on in-memory arrays
first, and each failure is a `tlkeras.errors.DataError` that names what was
received and what would work. Datasets (`tf.data`) are checked for emptiness
only, since reading them ahead of training could be expensive; a NaN/Inf they
carry is caught by `NonFiniteLossGuard` at the batch where it appears.
"""

import numpy as np

from tlkeras.errors import DataError
from tlkeras.inputs import is_dataset


def check_fit_data(model, x, y=None, batch_size=None, name="x"):
    """Raises `DataError` when in-memory data cannot train `model`.

    Args:
        model: a `tlkeras.TransferModel`.
        x: the inputs given to `fit()`.
        y: the targets given to `fit()`, or `None`.
        batch_size: `fit()`'s batch size, to name the batch of a bad example.
            Defaults to `None` (32, as Keras).
        name: what to call `x` in messages. Defaults to `"x"`.
    """
    if is_dataset(x):
        _check_dataset(x, name)
        return
    inputs = _as_named_arrays(x, model, name)
    if inputs is None:
        return  # a generator, PyDataset or other type Keras handles itself
    batch_size = batch_size or 32
    sizes = {key: len(array) for key, array in inputs.items()}
    for key, array in inputs.items():
        if len(array) == 0:
            raise DataError(f"No examples to train on. Received: {key} with shape {array.shape}")
        _check_input(model, key, array, batch_size)
    if y is not None and not is_dataset(y):
        _check_targets(model, y, sizes, batch_size)


def _check_dataset(dataset, name):
    if int(dataset.cardinality()) == 0:
        raise DataError(f"No batches to train on. Received: {name}={dataset!r} (0 elements)")


def _as_named_arrays(x, model, name):
    input_names = [tensor.name for tensor in model.inputs]
    # Several named inputs (a graph batch, token ids + mask) have their own
    # structure rules; the plugins and keras-hub check those themselves.
    if isinstance(x, (np.ndarray, list, tuple)) and len(input_names) == 1:
        return {name: np.asarray(x)}
    return None


def _check_input(model, key, array, batch_size):
    spec = model.inputs[0] if len(model.inputs) == 1 else None
    wants_text = spec is not None and spec.dtype == "string"
    if array.dtype.kind in "OUS" and not wants_text:
        raise DataError(
            f"{key} holds strings, but this model takes numbers "
            f"(input dtype {spec.dtype if spec is not None else 'numeric'}). Received: {key} "
            f"with dtype {array.dtype} and first value {array.reshape(-1)[0]!r}"
        )
    if spec is not None and not wants_text:
        expected = tuple(spec.shape[1:])
        got = array.shape[1:]
        if len(got) != len(expected) or any(
            e is not None and e != g for e, g in zip(expected, got, strict=False)
        ):
            hint = ""
            if len(got) + 1 == len(expected) and expected[-1] == 3:
                hint = (
                    " Grayscale images? Give them 3 channels: np.repeat(x[..., None], 3, axis=-1)."
                )
            elif len(got) == len(expected) and expected[-1] is not None and got[-1] != expected[-1]:
                hint = f" The backbone takes {expected[-1]} channels."
            elif len(got) == len(expected) == 3:
                hint = (
                    f" Resize the images to {expected[0]}x{expected[1]}, or build with "
                    f"input_shape={tuple(got)!r} where the backbone allows it (CNNs take any "
                    "size when input_shape is left out; ViT needs a fixed one)."
                )
            raise DataError(
                f"{key} does not fit the model's input (None, {', '.join(map(str, expected))})."
                f"{hint} Received: {key} with shape {array.shape}"
            )
    if array.dtype.kind == "f":
        _check_finite(key, array, batch_size)


def _check_finite(key, array, batch_size):
    finite = np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    if not finite.all():
        index = int(np.argmin(finite))
        raise DataError(
            f"{key} holds NaN or Inf at example {index} (batch {index // batch_size} "
            f"with batch_size={batch_size}). Received: {key}[{index}] containing "
            f"{array[index].reshape(-1)[~np.isfinite(array[index].reshape(-1))][:3]}"
        )


def _check_targets(model, y, sizes, batch_size):
    heads = model.heads
    if isinstance(y, dict):
        unknown = set(y) - set(heads)
        if unknown:
            raise DataError(
                f"y names tasks the model has no head for; expected keys among {sorted(heads)}. "
                f"Received: y keys {sorted(y)}"
            )
        targets = {f"y[{task!r}]": (heads[task], np.asarray(y[task])) for task in y}
    elif len(heads) == 1:
        targets = {"y": (next(iter(heads.values())), np.asarray(y))}
    else:
        raise DataError(
            f"A model with several heads takes y as a dict task -> targets, one per head "
            f"{sorted(heads)}. Received: y of type {type(y).__name__}"
        )
    examples = next(iter(sizes.values()))
    # A loss the user chose (e.g. categorical cross-entropy on one-hot labels)
    # defines its own label format: only the heads' "auto" losses are checked.
    auto_loss = getattr(model, "_compile_arguments", {}).get("loss", "auto") == "auto"
    for key, (head, target) in targets.items():
        if len(target) != examples:
            raise DataError(
                f"{key} has {len(target)} targets for {examples} examples; they must match. "
                f"Received: {key} with shape {target.shape}"
            )
        if target.dtype.kind in "OUS":
            raise DataError(
                f"{key} holds strings; encode the labels as integers 0..num_classes-1 "
                f"(e.g. with sklearn.preprocessing.LabelEncoder). Received: {key} with first "
                f"value {target.reshape(-1)[0]!r}"
            )
        if target.dtype.kind == "f":
            _check_finite(key, target, batch_size)
        num_classes = getattr(head, "num_classes", None)
        # Token and node heads label every position; their shapes vary by task.
        if num_classes is None or not auto_loss or not getattr(head, "pooled", True):
            continue
        if getattr(head, "multi_label", False):
            _check_multi_hot(key, target, num_classes)
        else:
            _check_sparse_labels(key, target, num_classes)


def _check_sparse_labels(key, target, num_classes):
    if target.ndim == 2 and target.shape[1] == num_classes and target.shape[1] > 1:
        raise DataError(
            f"{key} looks one-hot ({num_classes} columns), but the classifier's loss takes "
            f"integer labels: pass {key}.argmax(-1), or compile with "
            "loss='categorical_crossentropy'. Received: "
            f"{key} with shape {target.shape}"
        )
    flat = target.reshape(len(target), -1)
    if flat.shape[1] != 1:
        raise DataError(
            f"{key} must hold one integer label per example. Received: {key} with shape "
            f"{target.shape}"
        )
    labels = flat[:, 0]
    integral = labels == np.round(labels)
    in_range = (labels >= 0) & (labels < num_classes)
    bad = ~(integral & in_range)
    if bad.any():
        index = int(np.argmax(bad))
        raise DataError(
            f"{key} holds a label outside the integers 0..{num_classes - 1} of this "
            f"{num_classes}-class head, at example {index}. Received: {key}[{index}]="
            f"{labels[index].item()!r}; expected an int in [0, {num_classes})"
        )


def _check_multi_hot(key, target, num_classes):
    if target.ndim != 2 or target.shape[1] != num_classes:
        raise DataError(
            f"A multi-label head takes {key} as a (examples, {num_classes}) array of 0/1. "
            f"Received: {key} with shape {target.shape}"
        )
    bad = ~np.isin(target, (0, 1)).all(axis=1)
    if bad.any():
        index = int(np.argmax(bad))
        raise DataError(
            f"{key} must hold 0 or 1 per class. Received: {key}[{index}]={target[index]!r}"
        )
