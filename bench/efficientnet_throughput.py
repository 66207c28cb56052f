"""Images/s for EfficientNet-B0 training and inference at 224x224, and tlkeras's overhead.

Measured side by side in one run, on whatever device Keras sees:
- precision: float32 vs mixed_bfloat16 (tlkeras.build(mixed_precision=...));
- XLA: jit_compile False vs True (where the backend can run without XLA);
- framework overhead: a tlkeras model vs the hand-written keras.applications
  EfficientNetB0 with the same head, same compile settings.

Inputs are device-resident random batches, so the input pipeline is not
measured (bench/README.md has the tf.data numbers). The roofline fraction uses
EfficientNet-B0's 0.39 G multiply-adds per 224x224 image (Tan & Le 2019),
x2 FLOPs per MAC, x3 for a training step (forward + two backward products).

Run: python bench/efficientnet_throughput.py [--batch-size 128] [--steps 30] [--peak-tflops 989]
"""

import argparse
import time

import keras
import numpy as np

import tlkeras

FORWARD_GFLOP_PER_IMAGE = 2 * 0.39


def handwritten(num_classes, policy):
    with tlkeras.precision.policy_scope(policy):
        inputs = keras.Input((224, 224, 3))
        trunk = keras.applications.EfficientNetB0(
            include_top=False, weights=None, input_tensor=inputs
        )
        x = keras.layers.GlobalAveragePooling2D()(trunk.output)
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
        model = keras.Model(inputs, outputs)
    return model


def runner(model, x, y, jit_compile, train):
    """A compiled, warmed-up zero-argument step function."""
    if train:
        model.compile(
            optimizer=keras.optimizers.Adam(1e-4),
            loss="sparse_categorical_crossentropy",
            jit_compile=jit_compile,
        )
        run = lambda: model.train_on_batch(x, y)  # noqa: E731
    else:
        model.compile(jit_compile=jit_compile)
        run = lambda: model.predict_on_batch(x)  # noqa: E731
    for _ in range(5):  # trace, compile, warm up
        np.asarray(run())
    return run


def images_per_second(run, batch_size, steps):
    start = time.perf_counter()
    for _ in range(steps):
        result = run()
    np.asarray(result)  # waits for the device
    return steps * batch_size / (time.perf_counter() - start)


def side_by_side(first, second, batch_size, steps, rounds=3):
    """Best of `rounds` alternating timings, so clock ramps hit both alike."""
    best = [0.0, 0.0]
    for _ in range(rounds):
        for index, run in enumerate((first, second)):
            best[index] = max(best[index], images_per_second(run, batch_size, steps))
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the device"
    )
    parser.add_argument("--no-eager", action="store_true", help="skip jit_compile=False runs")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(
        rng.uniform(0, 255, (args.batch_size, 224, 224, 3)).astype("float32")
    )
    y = keras.ops.convert_to_tensor(rng.integers(0, 1000, args.batch_size))
    print(
        f"backend={keras.backend.backend()} devices={keras.distribution.list_devices()} batch={args.batch_size}"
    )
    rows = []
    jits = [True] if args.no_eager else [False, True]
    for policy in ("mixed_bfloat16", "float32"):
        for jit in jits:
            for train in (True, False):
                model = tlkeras.build(
                    "efficientnet",
                    num_classes=1000,
                    weights=None,
                    freeze=False,
                    mixed_precision=policy,
                    compile=False,
                )
                ips, base = side_by_side(
                    runner(model, x, y, jit, train),
                    runner(handwritten(1000, policy), x, y, jit, train),
                    args.batch_size,
                    args.steps,
                )
                flops = ips * FORWARD_GFLOP_PER_IMAGE * (3 if train else 1) / 1e3
                rows.append(
                    (policy, jit, "train" if train else "infer", ips, base, base / ips, flops)
                )
                print(
                    f"{policy:15} xla={jit!s:5} {'train' if train else 'infer':5} "
                    f"tlkeras {ips:8.0f} img/s  hand-written {base:8.0f} img/s  "
                    f"step-time ratio {base / ips:5.3f}  {flops:6.1f} TFLOP/s "
                    f"({100 * flops / args.peak_tflops:4.1f}% of {args.peak_tflops:.0f})",
                    flush=True,
                )
    return rows


if __name__ == "__main__":
    main()
