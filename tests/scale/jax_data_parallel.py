"""Trains a tiny model on one device and under keras.distribution.DataParallel, on JAX.

Run as a script in a fresh process: JAX reads XLA_FLAGS (two virtual CPU
devices) when it starts. `python jax_data_parallel.py OUT.json` writes, per
case, the largest weight difference between the two runs, how far training
moved the weights, and over how many devices the variables were laid out.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tlkeras  # noqa: E402

GLOBAL_BATCH = 16


def _model(distribution, **kwargs):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="conv_b")(x)
    backbone = tlkeras.Backbone.from_model(keras.Model(inputs, x, name="tiny"))
    return tlkeras.build(
        backbone, num_classes=3, bottleneck=5, distribution=distribution, compile=False, **kwargs
    )


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 3)).astype("float32")
    return x, (x[..., 0].mean(axis=(1, 2)) > 0).astype("int32")


def full(distribution, start=None):
    model = _model(distribution, freeze=False)
    if start is not None:
        model.set_weights(start)
    initial = model.get_weights()
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    x, y = _data()
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=3, shuffle=False, verbose=0)
    return model, initial


def gradual_unfreezing(distribution, start=None):
    model = _model(distribution, freeze=True)
    if start is not None:
        model.set_weights(start)
    initial = model.get_weights()
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    x, y = _data()
    model.fit(
        x, y, batch_size=GLOBAL_BATCH, epochs=3, shuffle=False, verbose=0,
        callbacks=[tlkeras.callbacks.GradualUnfreezing(every=1)],
    )  # fmt: skip
    return model, initial


def main(out_path):
    data_parallel = keras.distribution.DataParallel()
    results = {"devices": len(keras.distribution.list_devices())}
    for case in (full, gradual_unfreezing):
        keras.distribution.set_distribution(None)
        one, initial = case(None)
        # build(distribution=...) makes it Keras's global distribution, as
        # keras.distribution.set_distribution does.
        two, _ = case(data_parallel, start=initial)
        pairs = zip(one.get_weights(), two.get_weights(), strict=True)
        results[case.__name__] = {
            "max_abs_diff": max(float(np.max(np.abs(a - b))) for a, b in pairs),
            "largest_update": max(
                float(np.max(np.abs(a - b)))
                for a, b in zip(one.get_weights(), initial, strict=True)
            ),
            "layout_devices": len(two.weights[0].value.sharding.device_set),
        }
    with open(out_path, "w") as file:
        json.dump(results, file)


if __name__ == "__main__":
    main(sys.argv[1])
