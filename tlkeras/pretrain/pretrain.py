"""`tlkeras.pretrain`: turn unlabeled data into a pretrained backbone."""

import os

import keras
import numpy as np

from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.lookup import get_backbone
from tlkeras.errors import ConfigurationError
from tlkeras.pretrain.epoch_checkpoint import WEIGHTS_FILE
from tlkeras.pretrain.epoch_checkpoint import EpochCheckpoint
from tlkeras.pretrain.epoch_checkpoint import read_state
from tlkeras.pretrain.epoch_seeds import EpochSeeds
from tlkeras.pretrain.objectives import get_objective


def pretrain(
    backbone,
    unlabeled_data,
    objective="contrastive",
    *,
    epochs=10,
    batch_size=256,
    learning_rate=1e-3,
    optimizer=None,
    checkpoint_dir=None,
    seed=0,
    callbacks=None,
    verbose="auto",
    **objective_kwargs,
):
    """Self-supervised pre-training of a backbone on unlabeled data.

    Wraps the backbone in the objective's pre-training model (for images:
    `"contrastive"` is `SimCLR`, `"reconstruction"` is `MaskedReconstruction`;
    graph backbones get the `tlkeras-gnn` objectives; see
    `from tlkeras.pretrain import list_objectives`), trains it with `fit()` (Keras
    progress bar with the loss, and the contrastive accuracy for SimCLR),
    and returns the backbone, trained in place. A backbone that already has
    weights (`tlkeras.get_backbone("efficientnet_lite0", ...)`) continues from
    them: domain-adaptive pre-training.

    Arrays (for text, e.g. an array of strings; a dict of arrays for several
    inputs) are fed in a fixed per-epoch order derived from `(seed, epoch)`;
    every full batch is used, the last partial one dropped. Grey images are
    repeated to RGB (or RGB averaged to grey) and resized to the backbone's
    input. With `checkpoint_dir`, the weights and optimizer
    state are saved after every epoch and a later call with the same folder
    resumes after the last finished epoch (with the same settings, `epochs`
    included: the learning-rate schedule spans the run); since the data order and every
    random stream restart from `(seed, epoch)` at each epoch, a resumed run
    ends with the same weights as an uninterrupted one. (A `tf.data.Dataset`
    is fed as it is, and its order after a resume is its own.)

    Args:
        backbone: a registered backbone name, a `tlkeras.Backbone`, or a
            functional `keras.Model` outputting features.
        unlabeled_data: images `(n, h, w)` or `(n, h, w, c)` with pixels in
            `[0, 255]`; for other modalities an array or a dict of arrays of
            the backbone's inputs; or a `tf.data.Dataset` of batches (graph
            batches for graph backbones).
        objective: an objective name for the backbone's modality. Defaults
            to `"contrastive"`.
        epochs: total number of epochs (a resumed run counts the finished
            ones). Defaults to `10`.
        batch_size: examples per step; contrastive learning uses the other
            `2 * (batch_size - 1)` views as negatives, so larger is better.
            Defaults to `256`.
        learning_rate: peak rate of Adam with cosine decay over the run,
            used when `optimizer` is `None`. Defaults to `1e-3`.
        optimizer: a Keras optimizer instead. Defaults to `None`.
        checkpoint_dir: folder for per-epoch checkpoints and resuming.
            Defaults to `None` (no checkpoints).
        seed: seed of the initialisation of the objective's layers, the
            data order and the augmentations. Defaults to `0`.
        callbacks: more Keras callbacks for `fit()`. Defaults to `None`.
        verbose: `fit()` verbosity. Defaults to `"auto"` (a progress bar).
        **objective_kwargs: passed to the objective (e.g. `temperature=0.2`,
            `projection_dim=64`, `mask_ratio=0.6`).

    Returns:
        The pre-trained `tlkeras.Backbone`, with `pretraining_info` (objective,
        settings, per-epoch history) that `tlkeras.save_preset` stores.

    Example:

    ```python
    backbone = tlkeras.pretrain(small_cnn, x_unlabeled, objective="contrastive",
                                epochs=20, batch_size=512, checkpoint_dir="ckpt")
    tlkeras.save_preset(backbone, "presets/my_simclr_fmnist")
    ```
    """
    if not isinstance(backbone, Backbone):
        backbone = get_backbone(backbone)
    if not isinstance(objective, str):
        raise ConfigurationError(
            f"objective must be a name. Received: objective={objective!r}; register a "
            "custom one with register_objective (from tlkeras.pretrain import register_objective)."
        )
    factory = get_objective(objective, backbone.modality)
    if int(epochs) < 1:
        raise ConfigurationError(f"epochs must be >= 1. Received: epochs={epochs!r}")
    if int(batch_size) < 2:
        raise ConfigurationError(f"batch_size must be >= 2. Received: batch_size={batch_size!r}")
    metadata = {
        "objective": objective,
        "modality": backbone.modality,
        "epochs": int(epochs),  # the learning-rate schedule spans the whole run
        "batch_size": int(batch_size),
        "seed": int(seed),
        "learning_rate": float(learning_rate) if optimizer is None else "custom optimizer",
        "objective_kwargs": {k: _jsonable(v) for k, v in objective_kwargs.items()},
    }
    state = read_state(checkpoint_dir) if checkpoint_dir is not None else None
    if state is not None:
        _check_resumable(state["metadata"], metadata, checkpoint_dir)
    first_epoch = 0 if state is None else int(state["epoch"])

    keras.utils.set_random_seed(int(seed))
    model = factory(backbone, seed=int(seed), **objective_kwargs)
    # A finished run still needs one batch to rebuild its variables before loading them.
    data_start = min(first_epoch, int(epochs) - 1)
    data, steps = _training_data(unlabeled_data, backbone, batch_size, seed, data_start, epochs)
    if optimizer is None:
        schedule = learning_rate
        if steps is not None:
            schedule = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps)
        optimizer = keras.optimizers.Adam(schedule)
    model.compile(optimizer=optimizer)
    if state is not None:
        _restore(model, data, checkpoint_dir)

    history = {} if state is None else dict(state["history"])
    run_callbacks = [EpochSeeds(seed)]
    if checkpoint_dir is not None:
        run_callbacks.append(EpochCheckpoint(checkpoint_dir, metadata, history=history))
    if first_epoch < epochs:
        fit_history = model.fit(
            data,
            epochs=int(epochs),
            initial_epoch=first_epoch,
            steps_per_epoch=steps,
            shuffle=False,  # the data order is the pipeline's, fixed per (seed, epoch)
            callbacks=run_callbacks + list(callbacks or []),
            verbose=verbose,
        )
        for key, values in fit_history.history.items():
            history[key] = list(history.get(key, [])) + [float(v) for v in values]
    model.backbone.pretraining_info = {**metadata, "history": history}
    return model.backbone


def _training_data(unlabeled_data, backbone, batch_size, seed, first_epoch, epochs):
    """What `fit()` takes, and its steps per epoch (`None`: the dataset's own)."""
    import tensorflow as tf

    if isinstance(unlabeled_data, tf.data.Dataset):
        return unlabeled_data, None
    arrays = keras.tree.map_structure(np.asarray, unlabeled_data)
    lengths = {len(leaf) for leaf in keras.tree.flatten(arrays)}
    if len(lengths) != 1:
        raise ConfigurationError(
            f"Every array of unlabeled_data needs one row per example. Received lengths {lengths}"
        )
    count = lengths.pop()
    image = backbone.modality == "image"
    if image and (not isinstance(arrays, np.ndarray) or arrays.ndim not in (3, 4)):
        shape = getattr(arrays, "shape", type(unlabeled_data).__name__)
        raise ConfigurationError(
            f"Unlabeled images must be one (n, h, w) or (n, h, w, c) array. Received: {shape}"
        )
    if count < batch_size:
        raise ConfigurationError(
            f"Fewer examples than one batch. Received: {count} examples, batch_size={batch_size}"
        )
    steps = count // batch_size
    target = tuple(backbone.input_shape[1:])
    stored = keras.tree.map_structure(tf.constant, arrays)

    def epoch_order(epoch):
        draws = tf.random.stateless_uniform([count], seed=tf.stack([int(seed), epoch]))
        return tf.data.Dataset.from_tensor_slices(tf.argsort(draws)[: steps * batch_size])

    def to_batch(indices):
        batch = keras.tree.map_structure(lambda array: tf.gather(array, indices), stored)
        return _fit_image_shape(tf.cast(batch, tf.float32), target) if image else batch

    dataset = (
        tf.data.Dataset.range(first_epoch, epochs)
        .flat_map(epoch_order)
        .batch(batch_size)
        .map(to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    return dataset, steps


def _fit_image_shape(images, target):
    """Grey <-> RGB and a resize, so a batch matches the backbone's `(h, w, c)` input."""
    import tensorflow as tf

    if images.shape.rank == 3:
        images = images[..., None]
    height, width, channels = target
    if channels == 3 and images.shape[-1] == 1:
        images = tf.repeat(images, 3, axis=-1)
    elif channels == 1 and images.shape[-1] == 3:
        images = tf.reduce_mean(images, axis=-1, keepdims=True)
    if (height, width) != tuple(images.shape[1:3]) and height is not None:
        images = tf.image.resize(images, (height, width))
    return images


def _restore(model, data, checkpoint_dir):
    # Variables (the objective's layers, the optimizer slots) exist only once
    # the model has seen a batch and the optimizer is built.
    batch = next(iter(data))
    model(batch, training=False)
    model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(str(checkpoint_dir), WEIGHTS_FILE))


def _check_resumable(saved, requested, checkpoint_dir):
    changed = {k: (saved.get(k), v) for k, v in requested.items() if saved.get(k) != v}
    if changed:
        details = ", ".join(f"{k}: saved {a!r}, received {b!r}" for k, (a, b) in changed.items())
        raise ConfigurationError(
            f"The checkpoint in {str(checkpoint_dir)!r} comes from a run with other settings "
            f"({details}); resume with the same settings or use another checkpoint_dir."
        )


def _jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "get_config"):
        # A layer (e.g. augmentation=) by its class and config without its automatic name:
        # equal settings compare equal on resume.
        config = {k: v for k, v in value.get_config().items() if k != "name"}
        return _jsonable({"class_name": type(value).__name__, "config": config})
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
