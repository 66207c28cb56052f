"""EfficientNet-Lite0 on Fashion-MNIST: ImageNet weights vs random weights at <= 0.5% of the labels.

Three configurations of the same network (same head, same epochs, same nested
class-balanced subsets, same 500 held-out test images), via `tlkeras.compare`:
`scratch` (random weights, everything trains), `feature_extraction` (ImageNet
weights frozen, the head trains) and `fine_tune` (ImageNet weights, everything
trains at Adam 3e-4). BatchNorm statistics of every trainable BN layer are
re-estimated on the training subset after training (precise BN), for every
configuration alike.

Goal: fine-tuning beats training from scratch by >= 10 accuracy points at
<= 10% of the labels.

    .venv/bin/python bench/transfer_vs_scratch.py                        # ~8 min on 2 cores (shared)
    .venv/bin/python bench/transfer_vs_scratch.py --fractions 0.005 --epochs 3   # quicker
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tlkeras.evaluation import learning_curve_demo  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.001, 0.005])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--test-per-class", type=int, default=50)
    parser.add_argument("--out", default="runs/transfer_vs_scratch")
    args = parser.parse_args()
    report = learning_curve_demo(
        fractions=tuple(args.fractions),
        seeds=tuple(args.seeds),
        image_size=args.image_size,
        epochs=args.epochs,
        test_per_class=args.test_per_class,
        out_dir=args.out,
    )
    accuracy = report.summary()
    accuracy = accuracy[accuracy["metric"] == "accuracy"].pivot(index="size", columns="config", values="mean")
    gains = 100 * (accuracy["fine_tune"] - accuracy["scratch"])
    print("\nfine_tune - scratch (accuracy points):")
    for size, gain in gains.items():
        print(f"  {size}: {gain:+.1f}")


if __name__ == "__main__":
    main()
