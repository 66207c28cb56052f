"""fit() step time of a tlkeras model vs the same network written by hand in Keras.

Both models are MobileNetV2 (random weights, everything trainable) with the
same [0, 255] -> [-1, 1] input scaling, global average pooling and a softmax
Dense head, compiled with Adam, sparse categorical cross-entropy and accuracy.
The tlkeras one comes from `tlkeras.build` (a nested Backbone, ClassifierHead,
TransferModel.fit with its strategy and trainable-state checks). Epoch times
after the first (tracing) epoch are divided by the steps; the two models run
interleaved, several rounds, and the best median per model is kept.
Goal: ratio <= 1.03.

    .venv/bin/python bench/fit_overhead.py              # ~3 min on 2 CPU cores
    .venv/bin/python bench/fit_overhead.py --size 96 --rounds 5
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tlkeras  # noqa: E402


class EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def tlkeras_model(size):
    model = tlkeras.build(
        "mobilenet_v2", weights=None, input_shape=(size, size, 3), num_classes=10, freeze=False
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def keras_model(size):
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    trunk = keras.applications.MobileNetV2(include_top=False, weights=None, input_tensor=x)
    x = keras.layers.GlobalAveragePooling2D()(trunk.output)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(args.examples, args.size, args.size, 3)).astype("float32")
    y = rng.integers(0, 10, size=args.examples)
    steps = int(np.ceil(args.examples / 32))
    models = {"keras": keras_model(args.size), "tlkeras": tlkeras_model(args.size)}
    counts = {name: model.count_params() for name, model in models.items()}
    medians = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            timer = EpochTimes()
            model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0, callbacks=[timer])
            # The first epoch of the first round traces the step; later ones are warm.
            medians[name].append(np.median(timer.times[1:]) / steps)
    best = {name: min(values) for name, values in medians.items()}
    print(
        f"MobileNetV2 {args.size}px, all trainable, batch 32, {steps} steps x "
        f"{args.epochs - 1} warm epochs x {args.rounds} rounds; params {counts}"
    )
    for name in models:
        rounds = ", ".join(f"{1000 * m:.1f}" for m in medians[name])
        print(f"{name:>8}: {1000 * best[name]:6.1f} ms/step (rounds: {rounds})")
    print(f"ratio tlkeras/keras = {best['tlkeras'] / best['keras']:.3f}  (goal <= 1.03)")


if __name__ == "__main__":
    main()
