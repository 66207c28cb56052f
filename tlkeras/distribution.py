"""Several devices and machines through `tf.distribute` or `keras.distribution`.

tlkeras adds no engine of its own. `build(distribution=strategy)` builds (and
compiles) the model inside `strategy.scope()`, exactly as a Keras user would by
hand, so `fit()` then splits every global batch across the replicas. Building
inside `with strategy.scope():` without the argument works the same.

On JAX the same argument takes a `keras.distribution` distribution
(`keras.distribution.DataParallel()` for data parallelism) and makes it
Keras's global one, as `keras.distribution.set_distribution` does: Keras
shards batches only while a distribution is active, and the variables made
after `build` (optimizer slots, metrics) must be laid out on the same device
mesh. Setting it yourself before `build` works the same. One global program
runs (XLA inserts the reductions), so losses and BatchNorm statistics already
cover the whole batch, as on one device.

One thing differs from one device: a BatchNormalization layer would normalise
each replica's slice of the batch with that slice's own statistics, so N
replicas would train a different model from one device with the same global
batch. tlkeras switches its BatchNorm layers to synchronised statistics
(Keras' `synchronized=True`, an all-reduce of the moments) whenever the model is
built under more than one replica, which makes a distributed run match the
single-device run up to float rounding.
"""

import contextlib

import keras

from tlkeras.errors import ConfigurationError


def resolve_distribution(distribution):
    """Returns the strategy or distribution to build under, or `None` for the default.

    Args:
        distribution: a `tf.distribute.Strategy` (TensorFlow), a
            `keras.distribution` distribution (JAX: made the global one), or
            `None` for the one already active (none: one device).
    """
    backend = keras.backend.backend()
    if distribution is None:
        if backend == "jax":
            return keras.distribution.distribution()
        if backend != "tensorflow":
            return None
        import tensorflow as tf

        return tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    if is_keras_distribution(distribution):
        if backend != "jax":
            raise ConfigurationError(
                "A keras.distribution distribution (DataParallel, ModelParallel) needs the JAX "
                "backend; on TensorFlow pass a tf.distribute strategy, e.g. "
                "tf.distribute.MirroredStrategy(). "
                f"Received: distribution={distribution!r} with KERAS_BACKEND={backend!r}"
            )
        keras.distribution.set_distribution(distribution)
        return distribution
    if backend != "tensorflow":
        raise ConfigurationError(
            "distribution= takes a tf.distribute strategy, which needs the TensorFlow "
            f"backend. Received: distribution={distribution!r} with "
            f"KERAS_BACKEND={keras.backend.backend()!r}; on JAX use "
            "keras.distribution.set_distribution(keras.distribution.DataParallel()) before build()."
        )
    import tensorflow as tf

    if not isinstance(distribution, tf.distribute.Strategy):
        raise ConfigurationError(
            "distribution must be a tf.distribute.Strategy, e.g. "
            "tf.distribute.MirroredStrategy() or tf.distribute.MultiWorkerMirroredStrategy(). "
            f"Received: distribution={distribution!r}"
        )
    return distribution


def is_keras_distribution(value):
    """Whether `value` is a `keras.distribution` DataParallel / ModelParallel (JAX)."""
    # Keras exports the subclasses, not their base class.
    return hasattr(value, "device_mesh") and hasattr(value, "get_data_layout")


def num_replicas(strategy):
    """`tf.distribute` replicas a global batch is split across (1 without a strategy).

    A `keras.distribution` distribution runs one global program, whose losses
    and BatchNorm statistics already cover the whole batch: 1.
    """
    if strategy is None or is_keras_distribution(strategy):
        return 1
    return int(strategy.num_replicas_in_sync)


def replicas_in_sync():
    """Replicas of the `tf.distribute` strategy in the current context (1 without one)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def synchronize_batchnorm(model):
    """Makes every BatchNormalization layer in `model` use all-replica statistics.

    Returns:
        The number of layers switched.
    """
    switched = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            switched += 1
    return switched


def ensure_created_under(model, strategy):
    """Returns `model`, or a copy with the same weights whose variables `strategy` owns.

    A model built before `strategy.scope()` was entered holds plain variables,
    which the strategy refuses to train ("colocate_vars_with must only be
    passed a variable created in this tf.distribute.Strategy.scope()"). Users
    often build a backbone first and distribute later, so this rebuilds it
    from its config inside the scope and copies the weights over.
    """
    variables = model.weights
    if not variables or _created_under(variables[0], strategy):
        return model
    config = keras.saving.serialize_keras_object(model)
    try:
        with strategy.scope():
            copy = keras.saving.deserialize_keras_object(config)
    except Exception as error:  # any custom layer may fail to rebuild from its config
        raise ConfigurationError(
            f"The backbone {model.name!r} was built outside the distribution strategy's "
            "scope and could not be rebuilt inside it from its config "
            f"({type(error).__name__}: {error}). Build it inside `with strategy.scope():`, "
            "or pass its registered name to tlkeras.build(..., distribution=strategy)."
        ) from error
    copy.set_weights(model.get_weights())
    return copy


def _created_under(variable, strategy):
    if is_keras_distribution(strategy):
        # Laid out on the mesh: on all of its devices, not just the default one.
        devices = getattr(variable.value, "sharding", None)
        return devices is not None and len(devices.device_set) == strategy.device_mesh.devices.size
    return strategy.extended.variable_created_in_scope(variable.value)


def scope_of(model):
    """Enters the strategy or distribution `model` was built under (else does nothing).

    Models tlkeras makes around a user's model (the feature cache's top
    model, a domain-adaptation wrapper) and their optimizers must live under
    the same strategy, or the strategy refuses to train their variables.
    """
    strategy = getattr(model, "_distribute_strategy", None)
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def _multi_worker(strategy):
    if strategy is None or keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


class _MultiWorkerTraining:
    """Mixin that lets `fit()`/`evaluate()` run under `MultiWorkerMirroredStrategy`.

    Keras 3.15 on TF 2.21 fails there in two places, for any model: the
    symbolic build reduces the whole `(x, y)` structure of PerReplica batches
    in one call, which the collective strategy rejects; and the step's scalar
    logs are reduced across workers along axis 0, which a scalar lacks. This
    reduces the build batch element by element and hands the logs over as
    shape-(1,) tensors, whose axis-0 mean over workers is the usual scalar.
    Without a multi-worker strategy nothing changes.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = getattr(self, "_distribute_strategy", None)
        if iterator is not None and _multi_worker(strategy):
            import tensorflow as tf

            for _, _, batches in iterator:
                batch = next(batches)
                break
            data_batch = keras.tree.map_structure(
                lambda v: (
                    strategy.reduce("MEAN", v, axis=None)
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v
                ),
                batch,
            )
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        return self._per_worker_logs(super().train_step(data))

    def test_step(self, data):
        return self._per_worker_logs(super().test_step(data))

    def _per_worker_logs(self, logs):
        if not _multi_worker(getattr(self, "_distribute_strategy", None)):
            return logs
        return {
            name: keras.ops.reshape(value, (1,)) if len(keras.ops.shape(value)) == 0 else value
            for name, value in logs.items()
        }


class _NoChanges:
    pass


# Other backends' train steps have other signatures (JAX's is stateless) and no
# tf.distribute; JAX distributes through keras.distribution.
MultiWorkerTraining = (
    _MultiWorkerTraining if keras.backend.backend() == "tensorflow" else _NoChanges
)
