"""Trains tiny models on one device and under tf.distribute, in a fresh process.

Logical devices must be configured before TensorFlow initialises, which the
pytest process has long done; the tests run this file as a script.

    python distributed_cases.py mirrored OUT.json
        Every case on one device and under MirroredStrategy over two logical
        CPUs; writes {case: largest absolute weight difference}.
    python distributed_cases.py worker INDEX PORT0,PORT1 OUT.npz
        One MultiWorkerMirroredStrategy worker (TF_CONFIG on 127.0.0.1) trains
        the "full" case and saves its final weights.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

GLOBAL_BATCH = 16
# Initial weights of each case's one-device model, given to its distributed
# twin: rebuilding a backbone under the strategy draws fresh random numbers.
_INITIAL = {}
_LAST_START = {}  # each case's weights at the start of its latest run


def _tiny_backbone():
    import keras

    import tlkeras

    inputs = keras.Input((8, 8, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv_c")(x)
    return tlkeras.Backbone.from_model(keras.Model(inputs, x, name="tiny"))


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 3)).astype("float32")
    y = (x[:, :4, :, 0].mean(axis=(1, 2)) > 0).astype("int32") + (x[..., 1].mean((1, 2)) > 0)
    return x, y.astype("int32")


def _build(distribution, key=None, **kwargs):
    import keras

    import tlkeras

    keras.utils.set_random_seed(0)
    kwargs.setdefault("num_classes", 3)
    kwargs.setdefault("bottleneck", 5)
    if "strategy" not in kwargs:
        kwargs.setdefault("freeze", False)
    model = tlkeras.build(_tiny_backbone(), distribution=distribution, **kwargs)
    _same_start(model, distribution, key or sys._getframe(1).f_code.co_name)
    return model


def _same_start(model, distribution, key):
    _LAST_START[key] = model.get_weights()
    if distribution is None:
        _INITIAL[key] = model.get_weights()
    elif key in _INITIAL:  # a worker process has no one-device twin
        model.set_weights(_INITIAL[key])


def _fit(model, x, y, **kwargs):
    import keras

    model.compile(optimizer=keras.optimizers.SGD(0.05), **kwargs)
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=3, shuffle=False, verbose=0)
    return model.weights


def full(distribution):
    x, y = _data()
    return _fit(_build(distribution), x, y)


def feature_extraction(distribution):
    x, y = _data()
    return _fit(_build(distribution, freeze=True), x, y)


def partial(distribution):
    x, y = _data()
    return _fit(_build(distribution, strategy="partial"), x, y)


def gradual_unfreezing(distribution):
    import tlkeras

    x, y = _data()
    model = _build(distribution, freeze=True)
    model.compile(optimizer="sgd")
    model.fit(
        x,
        y,
        batch_size=GLOBAL_BATCH,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[tlkeras.callbacks.GradualUnfreezing(every=1)],
    )
    return model.weights


def discriminative(distribution):
    x, y = _data()
    model = _build(distribution, strategy="discriminative")
    weights = _fit(model, x, y)
    if type(model.optimizer).__name__ != "LayerwiseOptimizer":
        raise RuntimeError(f"expected layer-wise rates, got {type(model.optimizer).__name__}")
    return weights


def lora(distribution):
    x, y = _data()
    return _fit(_build(distribution, strategy="lora"), x, y)


def feature_cache(distribution):
    import keras

    x, y = _data()
    model = _build(distribution, freeze=True)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    model.fit(
        x, y, batch_size=GLOBAL_BATCH, epochs=3, shuffle=False, verbose=0, cache_features=True
    )
    return model.weights


def multi_task(distribution):
    x, y = _data()
    model = _build(
        distribution, heads={"kind": "classifier", "score": "regressor"}, num_classes={"kind": 3}
    )
    score = x.mean(axis=(1, 2, 3))[:, None]
    return _fit(model, x, {"kind": y, "score": score})


def domain_adversarial(distribution):
    import keras

    import tlkeras

    x, y = _data()
    target = x[:, ::-1] + 0.5
    model = _build(distribution, key="task_model")
    trainer = tlkeras.domain.adapt(model, method="dann", optimizer=keras.optimizers.SGD(0.05))
    _same_start(trainer, distribution, "domain_adversarial")  # the discriminator too
    data = tlkeras.domain.pair_datasets((x, y), target, batch_size=8, shuffle=False)
    trainer.fit(data, epochs=3, verbose=0)
    return trainer.weights


def nan_batch(distribution):
    """One example of batch 2 is NaN: every replica skips the update from that batch on."""
    import keras

    from tlkeras.errors import DataError

    x, y = _data()
    x[2 * GLOBAL_BATCH + 1] = np.nan  # on one replica only
    model = _build(distribution)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    try:
        model.fit(dataset, epochs=2, verbose=0)
    except DataError as error:
        if "epoch 0, batch 2;" not in str(error):
            raise
    else:
        raise RuntimeError("the NaN batch was not reported")
    return model.weights


CASES = {
    case.__name__: case
    for case in (
        full,
        feature_extraction,
        partial,
        gradual_unfreezing,
        discriminative,
        lora,
        feature_cache,
        multi_task,
        domain_adversarial,
        nan_batch,
    )
}


WORKER_CASES = ("full", "gradual_unfreezing", "feature_cache", "domain_adversarial")


def _values(variables):
    return [np.array(v.numpy() if hasattr(v, "numpy") else v) for v in variables]


def mirrored(out_path):
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
    mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {}
    for name, case in CASES.items():
        try:
            one = _values(case(None))
            two = _values(case(mirrored_strategy))
            if len(one) != len(two):
                raise RuntimeError(f"{len(one)} variables on one device, {len(two)} mirrored")
            diff = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two, strict=True))
            start = _INITIAL[name]
            moved = max(float(np.max(np.abs(a - b))) for a, b in zip(one, start, strict=False))
            results[name] = {"max_abs_diff": diff, "largest_update": moved}
        except Exception as error:  # reported per case to the test, which fails on it
            import traceback

            results[name] = {"error": f"{type(error).__name__}: {error}"}
            if os.environ.get("TLKERAS_DEBUG"):
                traceback.print_exc()
    with open(out_path, "w") as file:
        json.dump(results, file)


def worker(index, ports, out_path):
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports.split(",")]},
            "task": {"type": "worker", "index": int(index)},
        }
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    arrays = {"replicas": strategy.num_replicas_in_sync}
    # Both workers read the same arrays; Keras shards them across the workers.
    for name in WORKER_CASES:
        final = _values(CASES[name](strategy))
        arrays.update({f"{name}/{i}": value for i, value in enumerate(final)})
        start = _LAST_START[name]
        arrays[f"moved:{name}"] = max(
            np.max(np.abs(a - b)) for a, b in zip(final, start, strict=True)
        )
    np.savez(out_path, **arrays)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    if sys.argv[1] == "mirrored":
        mirrored(sys.argv[2])
    elif sys.argv[1] == "worker":
        worker(*sys.argv[2:5])
    else:
        raise SystemExit(f"Unknown mode. Received: {sys.argv[1]!r}; expected mirrored or worker.")
