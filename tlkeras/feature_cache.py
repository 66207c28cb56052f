"""Feature cache: run a frozen backbone once, train the layers on top for many epochs.

With the backbone frozen (feature extraction), its output for an example is
the same in every epoch, yet `fit()` recomputes it each time, and the backbone
is nearly all of the cost. `fit_cached` (or `model.fit(..., cache_features=True)`)
computes the features once for the training and validation data, then trains
the layers on top (pooling, bottleneck, heads) on them. The model, its
optimizer and its weights are the same objects: the result matches the
uncached run up to float rounding. The cache lives for one `fit()` call, so
it is gone as soon as a later call trains a backbone group; on disk
(`cache_dir`), a killed call leaves it, fingerprinted, for the resumed one.
"""

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

from tlkeras import distribution
from tlkeras.callbacks.gradual_unfreezing import GradualUnfreezing
from tlkeras.errors import ConfigurationError
from tlkeras.weights.cache import atomic_directory

DEFAULT_BATCH_SIZE = 32
CACHE_FORMAT = 1
FINGERPRINT_FILE = "fingerprint.json"
# Published entries, and the temporary folders a killed fit may leave behind.
ENTRY_NAME = re.compile(r"^(?:(?:train|val)-[0-9a-f]{32}|\.(?:train|val)-.*\.tmp)$")
# Steps the top model runs per graph call when nothing needs to see each batch:
# its steps are tiny, so Keras' per-call overhead would dominate them.
TOP_STEPS_PER_EXECUTION = 16
BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
)
# Layers whose output in training differs from inference: features cached in
# inference mode would not match what fit() sees.
STOCHASTIC_LAYERS = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)


def fit_cached(
    model,
    x=None,
    y=None,
    batch_size=None,
    epochs=1,
    verbose="auto",
    callbacks=None,
    validation_split=0.0,
    validation_data=None,
    shuffle=True,
    class_weight=None,
    sample_weight=None,
    initial_epoch=0,
    steps_per_epoch=None,
    validation_steps=None,
    validation_batch_size=None,
    validation_freq=1,
    cache_dir=None,
):
    """`model.fit(...)` for a frozen backbone, computing its features only once.

    Takes the arguments of `keras.Model.fit`, with `x` as NumPy arrays or a
    `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)` batches (one pass
    over the dataset is cached; its batch size is kept). Callbacks see the
    full model, so checkpoints save it whole.

    Args:
        model: a compiled `tlkeras.TransferModel` whose backbone is frozen and
            holds no dropout or noise layers.
        cache_dir: a folder to keep the features in as NumPy memmaps, for
            data larger than memory. Each dataset's features are published
            there atomically with a fingerprint of the backbone's weights and
            the data, and removed when the fit completes; a fit killed before
            (resumed with `tlkeras.callbacks.ResumableTraining`) finds them
            and skips the backbone. Defaults to `None` (in memory).
        **fit arguments: as for `keras.Model.fit`.

    Returns:
        The `History` of the run.

    Example:

    ```python
    model = tlkeras.build("mobilenet_v2", num_classes=10, strategy="feature_extraction")
    model.fit(x, y, epochs=20, validation_data=(x_val, y_val), cache_features=True)
    ```
    """
    _check_cacheable(model, callbacks)
    folder = None
    if cache_dir is not None:
        os.makedirs(cache_dir, exist_ok=True)
        folder = cache_dir
    extractor, top = split_model(model)
    train = _cache(extractor, x, y, sample_weight, batch_size, folder, "train")
    batch_size = batch_size or train.batch_size
    if validation_data is None and validation_split:
        train, validation = train.split(validation_split)
    elif validation_data is not None:
        val_x, val_y, val_w = keras.utils.unpack_x_y_sample_weight(
            validation_data if isinstance(validation_data, tuple) else (validation_data,)
        )
        validation = _cache(
            extractor, val_x, val_y, val_w, validation_batch_size or batch_size, folder, "val"
        )
    else:
        validation = None
    return _fit_top(
        model,
        top,
        train,
        validation,
        batch_size=batch_size,
        epochs=epochs,
        verbose=verbose,
        callbacks=callbacks,
        shuffle=shuffle,
        class_weight=class_weight,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps,
        validation_batch_size=validation_batch_size,
        validation_freq=validation_freq,
        folder=folder,
    )


def fit_features(
    model,
    features,
    y,
    *,
    batch_size=DEFAULT_BATCH_SIZE,
    epochs=1,
    verbose="auto",
    callbacks=None,
    validation_data=None,
    shuffle=True,
    class_weight=None,
    sample_weight=None,
):
    """Trains `model`'s layers on top of its frozen extractor from features computed earlier.

    The second half of `fit_cached`, for a caller that keeps features across
    fits (`tlkeras.compare` computes each example's once for every learning
    rate, size and seed). The features must be what `split_model(model)[0]`
    outputs for those examples; callbacks see the full model.

    Args:
        model: a compiled `tlkeras.TransferModel` whose backbone is frozen.
        features: the extractor's outputs for the training examples.
        y: their targets.
        validation_data: `(features, y)` of the validation examples, or
            `None`. Defaults to `None`.
        **fit arguments: as for `keras.Model.fit`.

    Returns:
        The `History` of the run.
    """
    _check_cacheable(model, callbacks)
    validation = None
    if validation_data is not None:
        val_x, val_y, val_w = keras.utils.unpack_x_y_sample_weight(validation_data)
        validation = _Cached(val_x, val_y, val_w, batch_size)
    return _fit_top(
        model,
        split_model(model)[1],
        _Cached(features, y, sample_weight, batch_size),
        validation,
        batch_size=batch_size,
        epochs=epochs,
        verbose=verbose,
        callbacks=callbacks,
        shuffle=shuffle,
        class_weight=class_weight,
    )


def _fit_top(
    model,
    top,
    train,
    validation,
    *,
    batch_size,
    epochs,
    verbose,
    callbacks,
    shuffle,
    class_weight,
    initial_epoch=0,
    steps_per_epoch=None,
    validation_steps=None,
    validation_batch_size=None,
    validation_freq=1,
    folder=None,
):
    top.compile(**_compile_arguments(model, callbacks))
    steps = steps_per_epoch or train.num_batches(batch_size)
    callbacks = _callback_list(model, top, callbacks, verbose, epochs, steps)
    # Keras' fit() returns its model's `history`; the callbacks record the
    # full model's, which is what this function returns.
    top.history = None
    # Callbacks that steer the loop (ResumableTraining) find the model running
    # it here; set in __dict__ so that Keras does not track it as a layer.
    model.__dict__["_tlkeras_runner"] = top
    try:
        top.fit(
            train.inputs(batch_size, shuffle),
            None if train.is_sequence else train.y,
            batch_size=None if train.is_sequence else batch_size,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_data=None if validation is None else validation.as_validation(),
            shuffle=shuffle and not train.is_sequence,
            class_weight=class_weight,
            sample_weight=None if train.is_sequence else train.sample_weight,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            validation_batch_size=None if train.is_sequence else validation_batch_size,
            validation_freq=validation_freq,
        )
    finally:
        model.__dict__.pop("_tlkeras_runner", None)
    if folder is not None:
        # Kept on disk only until the fit completes: a killed fit's resumed run
        # (ResumableTraining) reuses them.
        _remove_entries(folder)
    return model.history


def split_model(model):
    """Splits `model` into a feature extractor and the model on top of it.

    The extractor is the backbone followed by the global pooling when every
    head reads the pooled features (a cache of pooled features is smaller by
    the feature map's area); else the backbone alone. Both share their layers,
    and so their weights, with `model`.

    Returns:
        A tuple `(extractor, top)` of functional models.
    """
    backbone = model.backbone
    nodes = backbone._inbound_nodes
    # The node where this model calls the backbone (a backbone may be shared).
    ours = [n for i, n in enumerate(nodes) if f"{id(backbone)}_ib-{i}" in model._nodes]
    cut = _single((ours or nodes)[-1].output_tensors)
    pool = next((layer for layer in model.layers if layer.name == "pool"), None)
    if pool is not None and pool.input is cut:
        try:
            top = _top_model(model, pool.output)
            return keras.Model(model.input, pool.output), top
        except ValueError:
            pass  # a head reads the unpooled features
    return keras.Model(model.input, cut), _top_model(model, cut)


def _top_model(model, features):
    # Under a tf.distribute strategy the top model trains on the replicas, so
    # it is made in the strategy's scope; the extractor is not, and computes
    # the features once per worker (per batch on one device), not once per replica.
    with distribution.scope_of(model):
        return _TopModel(features, model._outputs_struct, name=f"{model.name}_top")


class _TopModel(distribution.MultiWorkerTraining, keras.Model):
    """The functional model on top of the cached features."""


def _single(tensors):
    return tensors[0] if len(tensors) == 1 else tensors


def cache_problem(model, callbacks=None):
    """Why `model` cannot train from cached features, or `None` when it can.

    Args:
        model: a `tlkeras.TransferModel`.
        callbacks: the callbacks the `fit()` would run. Defaults to `None`.
    """
    if not hasattr(model, "backbone") or not getattr(model, "compiled", False):
        return (
            "The feature cache trains a compiled tlkeras.TransferModel. "
            f"Received: model of type {type(model).__name__}"
        )
    training = sorted({v.path for v in model.backbone.trainable_weights})
    if training:
        return (
            "cache_features needs a frozen backbone (nothing upstream of the head trains); "
            f"these backbone weights train: {training[:3]}. Call model.freeze() or "
            "configure('feature_extraction') first."
        )
    unfreezing = [c for c in callbacks or [] if isinstance(c, GradualUnfreezing)]
    if unfreezing:
        return (
            "cache_features cannot be combined with GradualUnfreezing: the backbone "
            "must stay frozen for the whole fit(). Received: callbacks with "
            f"{type(unfreezing[0]).__name__}"
        )
    stochastic = [
        layer.name
        for layer in model.backbone._flatten_layers(include_self=False)
        if isinstance(layer, STOCHASTIC_LAYERS) or type(layer).__name__.startswith("Random")
    ]
    if stochastic:
        return (
            "cache_features computes the backbone once, in inference mode, but these "
            f"backbone layers act differently in training: {stochastic[:5]}."
        )
    return None


def _check_cacheable(model, callbacks):
    problem = cache_problem(model, callbacks)
    if problem is not None:
        raise ConfigurationError(problem)


def _compile_arguments(model, callbacks=None):
    arguments = dict(model._compile_config.config)
    # Keras's multi-step loop fails under MirroredStrategy (TF 2.21: "You must
    # feed a value for placeholder tensor"), so several replicas run one step
    # per call.
    replicated = distribution.num_replicas(getattr(model, "_distribute_strategy", None)) > 1
    if (
        arguments.get("steps_per_execution", 1) == 1
        and not replicated
        and not any(
            _overrides(callback, hook) for callback in callbacks or [] for hook in BATCH_HOOKS
        )
    ):
        # Same updates in the same order, fewer graph calls.
        arguments["steps_per_execution"] = TOP_STEPS_PER_EXECUTION
    # The top model shares the optimizer (its state and step counter carry on);
    # losses and metrics are copies so that the full model's stay untouched.
    for key in ("loss", "metrics", "weighted_metrics"):
        arguments[key] = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(arguments[key])
        )
    arguments["optimizer"] = model.optimizer
    return arguments


def _callback_list(model, top, callbacks, verbose, epochs, steps):
    relay = _StopTrainingRelay(top)
    model.stop_training = False
    return keras.callbacks.CallbackList(
        list(callbacks or []) + [relay],
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps,
        model=model,
    )


def _overrides(callback, hook):
    return getattr(type(callback), hook, None) is not getattr(keras.callbacks.Callback, hook)


class _StopTrainingRelay(keras.callbacks.Callback):
    """Passes `model.stop_training` (set by e.g. EarlyStopping) to the top model's loop."""

    def __init__(self, top):
        super().__init__()
        self.top = top

    def on_train_batch_end(self, batch, logs=None):
        self.top.stop_training = self.model.stop_training

    def on_epoch_end(self, epoch, logs=None):
        self.top.stop_training = self.model.stop_training


class _Cached:
    """Cached features of one dataset, with its targets and sample weights."""

    def __init__(self, features, y, sample_weight, batch_size):
        self.features = features
        self.y = y
        self.sample_weight = sample_weight
        self.batch_size = batch_size

    @property
    def size(self):
        return len(keras.tree.flatten(self.features)[0])

    @property
    def is_sequence(self):
        # Memmaps are read batch by batch; keras would load whole arrays.
        return any(isinstance(f, np.memmap) for f in keras.tree.flatten(self.features))

    def num_batches(self, batch_size):
        return math.ceil(self.size / batch_size)

    def inputs(self, batch_size, shuffle):
        if self.is_sequence:
            return _MemmapBatches(self, batch_size, shuffle)
        return self.features

    def as_validation(self):
        if self.is_sequence:
            return _MemmapBatches(self, self.batch_size, shuffle=False)
        if self.sample_weight is None:
            return (self.features, self.y)
        return (self.features, self.y, self.sample_weight)

    def split(self, fraction):
        # As keras.Model.fit(validation_split=...): the last fraction validates.
        cut = int(math.floor(self.size * (1.0 - fraction)))

        def part(part_slice):
            return keras.tree.map_structure(
                lambda a: None if a is None else a[part_slice],
                (self.features, self.y, self.sample_weight),
            )

        head, tail = part(slice(0, cut)), part(slice(cut, None))
        return _Cached(*head, self.batch_size), _Cached(*tail, self.batch_size)


class _MemmapBatches(keras.utils.PyDataset):
    """Batches read from memmapped features, reshuffled each epoch."""

    def __init__(self, cached, batch_size, shuffle):
        super().__init__()
        self.cached = cached
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.order = np.arange(cached.size)
        self.on_epoch_end()

    def __len__(self):
        return self.cached.num_batches(self.batch_size)

    def __getitem__(self, index):
        # Sorted indices read the memmap forward, which disks prefer.
        rows = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        items = keras.tree.map_structure(
            lambda a: None if a is None else np.asarray(a[rows]),
            (self.cached.features, self.cached.y, self.cached.sample_weight),
        )
        return items if items[2] is not None else items[:2]

    def on_epoch_end(self):
        if self.shuffle:
            np.random.shuffle(self.order)


def _cache(extractor, x, y, sample_weight, batch_size, folder, name):
    if _is_dataset(x):
        if y is not None:
            raise ConfigurationError(
                "With a dataset, targets come from the dataset. Received: y of type "
                f"{type(y).__name__}"
            )
        return _cache_batches(extractor, x, folder, name)
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    key = None
    if folder is not None:
        digest = _Digest(extractor, name, batch_size)
        digest.update(x)
        key = digest.key
    size = len(keras.tree.flatten(x)[0])

    def batches():
        for start in range(0, size, batch_size):
            rows = slice(start, start + batch_size)
            yield keras.tree.map_structure(lambda a, rows=rows: a[rows], x)

    features = _features(extractor, batches(), folder, name, key)
    return _Cached(features, y, sample_weight, batch_size)


def _cache_batches(extractor, dataset, folder, name):
    # Targets are gathered in the pass whose features are kept: a dataset
    # that reshuffles on each pass pairs them only within one pass.
    found = {}
    if folder is not None:
        # A hashing pass (no backbone) finds features a killed fit left behind.
        ys, weights, digest = _read_targets(dataset, _Digest(extractor, name))
        if _complete(_entry(folder, name, digest.key), digest.key):
            found = {"key": digest.key, "ys": ys, "weights": weights}
    ys, weights = [], []
    digest = None if folder is None or found else _Digest(extractor, name)

    def batches():
        for batch in dataset:
            bx, by, bw = keras.utils.unpack_x_y_sample_weight(batch)
            if digest is not None:
                digest.update(batch)
            ys.append(keras.tree.map_structure(keras.ops.convert_to_numpy, by))
            weights.append(None if bw is None else keras.ops.convert_to_numpy(bw))
            yield bx

    if found:
        features = _read_entry(extractor, _entry(folder, name, found["key"]))
        ys, weights = found["ys"], found["weights"]
    else:
        features = _features(extractor, batches(), folder, name, lambda: digest.key)
    if not ys:
        raise ConfigurationError(f"The {name} dataset yielded no batches.")
    y = keras.tree.map_structure(lambda *parts: np.concatenate(parts), *ys)
    weight = None if weights[0] is None else np.concatenate(weights)
    return _Cached(features, y, weight, len(keras.tree.flatten(ys[0])[0]))


def _read_targets(dataset, digest):
    ys, weights = [], []
    for batch in dataset:
        _, by, bw = keras.utils.unpack_x_y_sample_weight(batch)
        digest.update(batch)
        ys.append(keras.tree.map_structure(keras.ops.convert_to_numpy, by))
        weights.append(None if bw is None else keras.ops.convert_to_numpy(bw))
    return ys, weights, digest


def _features(extractor, batches, folder, name, key):
    """Runs the extractor over `batches`: in memory, or into a published cache entry.

    Args:
        key: the fingerprint of the data and the extractor's weights, or a
            callable returning it once `batches` is exhausted (a dataset's).
    """
    if folder is None:
        parts = [keras.tree.flatten(extractor.predict_on_batch(b)) for b in batches]
        if not parts:
            return None
        flat = [np.concatenate(arrays) for arrays in zip(*parts, strict=True)]
        return keras.tree.pack_sequence_as(extractor.output, flat)
    if isinstance(key, str) and _complete(_entry(folder, name, key), key):
        return _read_entry(extractor, _entry(folder, name, key))
    with tempfile.TemporaryDirectory(prefix=f".{name}-", suffix=".tmp", dir=folder) as tmp:
        specs, rows = _write_features(extractor, batches, tmp)
        if specs is None:
            return None
        key = key if isinstance(key, str) else key()
        entry = _entry(folder, name, key)
        # A complete entry is never rewritten in place; one that fails the
        # check (a crash before atomic writes, a disk error) is replaced.
        if not _complete(entry, key):
            shutil.rmtree(entry, ignore_errors=True)
            with atomic_directory(entry) as publish:
                for spec in specs:
                    os.replace(os.path.join(tmp, spec["file"]), publish / spec["file"])
                # Written last: an entry without it is incomplete.
                fingerprint = {"format": CACHE_FORMAT, "key": key, "rows": rows, "arrays": specs}
                (publish / FINGERPRINT_FILE).write_text(json.dumps(fingerprint))
    return _read_entry(extractor, entry)


def _write_features(extractor, batches, folder):
    files, specs, rows = None, None, 0
    try:
        for batch in batches:
            flat = [np.asarray(f) for f in keras.tree.flatten(extractor.predict_on_batch(batch))]
            if files is None:
                specs = [
                    {"file": f"features_{i}.bin", "dtype": f.dtype.str, "shape": list(f.shape[1:])}
                    for i, f in enumerate(flat)
                ]
                files = [open(os.path.join(folder, spec["file"]), "wb") for spec in specs]
            for handle, array in zip(files, flat, strict=True):
                handle.write(np.ascontiguousarray(array).tobytes())
            rows += len(flat[0])
    finally:
        for handle in files or []:
            handle.close()
    return specs, rows


def _entry(folder, name, key):
    return Path(folder) / f"{name}-{key[:32]}"


def _complete(entry, key):
    """Whether `entry` holds every byte of the features fingerprinted `key`."""
    try:
        fingerprint = json.loads((entry / FINGERPRINT_FILE).read_text())
        if fingerprint.get("format") != CACHE_FORMAT or fingerprint.get("key") != key:
            return False
        for spec in fingerprint["arrays"]:
            expected = fingerprint["rows"] * np.dtype(spec["dtype"]).itemsize
            expected *= math.prod(spec["shape"])
            if os.path.getsize(entry / spec["file"]) != expected:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def _read_entry(extractor, entry):
    fingerprint = json.loads((entry / FINGERPRINT_FILE).read_text())
    flat = [
        np.memmap(
            entry / spec["file"],
            dtype=np.dtype(spec["dtype"]),
            mode="r",
            shape=(fingerprint["rows"], *spec["shape"]),
        )
        for spec in fingerprint["arrays"]
    ]
    return keras.tree.pack_sequence_as(extractor.output, flat)


def _remove_entries(folder):
    """Removes the cache entries (and crash leftovers) of fit_cached from `folder`."""
    for path in Path(folder).iterdir():
        if ENTRY_NAME.match(path.name) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


class _Digest:
    """SHA-256 of the extractor (structure and weights), its batching and the data."""

    def __init__(self, extractor, name, batch_size=None):
        self._hash = hashlib.sha256()
        header = {
            "format": CACHE_FORMAT,
            "name": name,
            "batch_size": batch_size,
            "outputs": [[list(o.shape), str(o.dtype)] for o in extractor.outputs],
            # Shapes and values, not paths: Keras numbers auto-named layers per process.
            "weights": [[list(v.shape), str(v.dtype)] for v in extractor.weights],
        }
        self._hash.update(json.dumps(header).encode())
        for variable in extractor.weights:
            self._hash.update(_bytes(keras.ops.convert_to_numpy(variable)))

    def update(self, data):
        for array in keras.tree.flatten(data):
            if array is None:
                continue
            array = np.asarray(keras.ops.convert_to_numpy(array))
            self._hash.update(f"{array.dtype.str}{array.shape}".encode())
            if array.dtype.kind == "O":  # strings, for text backbones
                self._hash.update(repr(array.tolist()).encode())
            else:
                self._hash.update(_bytes(array))

    @property
    def key(self):
        return self._hash.hexdigest()


def _bytes(array):
    # A flat uint8 view hashes any dtype (bfloat16 too) and 0-d arrays, uncopied.
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _is_dataset(x):
    return hasattr(x, "element_spec") or isinstance(x, keras.utils.PyDataset)


def fingerprint(extractor):
    """SHA-256 of an extractor's structure and weights: equal for two that compute the same features."""
    return _Digest(extractor, "features").key
