"""Feature extraction for E epochs: the backbone cached once vs recomputed every epoch.

Both runs train the same model (MobileNetV2 trunk, frozen; bottleneck and
classifier on top) on the same data for the same epochs; "naive" is a plain
`fit()`, which runs the frozen backbone again in every epoch, "cached" is
`fit(cache_features=True)`. The wall time of each whole `fit()` call is
measured (graph tracing included), the runs interleaved. Goal: ratio <= 1.2/E.

    .venv/bin/python bench/feature_cache.py                   # ~2 min on 2 CPU cores
    .venv/bin/python bench/feature_cache.py --examples 256 --size 64 --epochs 10
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.feature_cache import split_model  # noqa: E402


def build(args):
    keras.utils.set_random_seed(0)
    return tlkeras.build(
        "mobilenet_v2",
        weights=None,
        input_shape=(args.size, args.size, 3),
        num_classes=10,
        bottleneck=64,
        strategy="feature_extraction",
    )


def timed_fit(x, y, val, args, cache):
    model = build(args)
    start = time.perf_counter()
    history = model.fit(
        x, y, validation_data=val, epochs=args.epochs, batch_size=32, verbose=0,
        cache_features=cache,
    )  # fmt: skip
    return time.perf_counter() - start, history.history["val_loss"][-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(args.examples, args.size, args.size, 3)).astype("float32")
    y = rng.integers(0, 10, size=args.examples)
    n_val = args.examples // 4
    val = (x[:n_val], y[:n_val])
    times = {"naive": [], "cached": []}
    losses = {}
    for _ in range(args.repeats):
        for name, cache in (("naive", False), ("cached", True)):
            seconds, losses[name] = timed_fit(x, y, val, args, cache)
            times[name].append(seconds)
    naive, cached = min(times["naive"]), min(times["cached"])
    # The floor of the cached run: one pass of the traced extractor over the data.
    extractor, _ = split_model(build(args))
    extractor.predict(x[:32], verbose=0)
    start = time.perf_counter()
    extractor.predict(x, batch_size=32, verbose=0)
    extractor.predict(val[0], batch_size=32, verbose=0)
    one_pass = time.perf_counter() - start
    print(
        f"MobileNetV2 {args.size}px frozen, {args.examples} train + {n_val} val examples, "
        f"E={args.epochs} epochs, batch 32, best of {args.repeats}"
    )
    print(f"naive fit():              {naive:7.2f} s")
    print(f"fit(cache_features=True): {cached:7.2f} s")
    print(f"ratio cached/naive = {cached / naive:.3f}  (goal <= 1.2/E = {1.2 / args.epochs:.3f})")
    print(
        f"one warm backbone pass over train + val: {one_pass:.2f} s = {one_pass / naive:.3f} of "
        "naive; the rest of the cached run is tracing and the top model's epochs"
    )
    print(f"final val_loss naive {losses['naive']:.6f}, cached {losses['cached']:.6f}")


if __name__ == "__main__":
    main()
