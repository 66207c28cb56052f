"""The README's main job: pretrained vs from-scratch on real data, offline, on a CPU.

EfficientNet-Lite0 with its real ImageNet weights (feature extraction, then a
short fine-tuning of the top groups) against the same network trained from
random weights, same data, same epochs, on a few thousand Fashion-MNIST images.
"""

import time

import keras
import numpy as np

import tlkeras
from tlkeras.data import as_rgb_dataset
from tlkeras.data import load_fashion_mnist
from tlkeras.data import subsample


def run_demo(per_class=100, test_per_class=100, image_size=96, epochs=6, seed=0, verbose=2):
    """Trains both models and returns a list of result dicts (also printed).

    Args:
        per_class: training images per class (10 classes). Defaults to `100`.
        test_per_class: held-out test images per class. Defaults to `100`.
        image_size: side of the square RGB input. Defaults to `96`.
        epochs: training epochs of each model. Defaults to `6`.
        seed: seed for the subsets and initialisation. Defaults to `0`.
        verbose: Keras progress output (2: one line per epoch). Defaults to `2`.
    """
    keras.utils.set_random_seed(seed)
    train_images, train_labels = subsample(*load_fashion_mnist("train"), per_class, seed=seed)
    test_images, test_labels = subsample(*load_fashion_mnist("test"), test_per_class, seed=seed)
    train = as_rgb_dataset(train_images, train_labels, image_size, shuffle_seed=seed)
    test = as_rgb_dataset(test_images, test_labels, image_size)
    print(
        f"Fashion-MNIST: {len(train_labels)} training / {len(test_labels)} test images, "
        f"{image_size}x{image_size} RGB, {epochs} epochs per model\n"
    )

    results = []
    for label, weights in (("pretrained (ImageNet)", "imagenet"), ("from scratch", None)):
        keras.utils.set_random_seed(seed)
        start = time.perf_counter()
        model = tlkeras.build(
            "efficientnet_lite0",
            num_classes=10,
            weights=weights,
            input_shape=(image_size, image_size, 3),
            bottleneck=128,
            dropout=0.2,
        )
        print(f"== {label}")
        model.trainable_summary()
        if weights is None:
            model.fit(train, epochs=epochs, verbose=verbose)
        else:
            # Feature extraction first, then the top half of the backbone
            # fine-tuned at a small learning rate (same total epochs).
            head_epochs = epochs // 2
            model.fit(train, epochs=head_epochs, verbose=verbose)
            model.freeze(model.num_backbone_groups // 2)
            model.compile()
            model.fit(train, epochs=epochs, initial_epoch=head_epochs, verbose=verbose)
        _, accuracy = model.evaluate(test, verbose=0)
        seconds = time.perf_counter() - start
        results.append(dict(model=label, test_accuracy=float(accuracy), seconds=seconds))

    print("\nEfficientNet-Lite0 on Fashion-MNIST")
    print(f"{'model':<24}{'test accuracy':>15}{'time (s)':>10}")
    for row in results:
        print(f"{row['model']:<24}{row['test_accuracy']:>15.3f}{row['seconds']:>10.0f}")
    gain = results[0]["test_accuracy"] - results[1]["test_accuracy"]
    print(f"\nTransfer gain: {100 * gain:+.1f} accuracy points (chance is 10%).")
    return results


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    run_demo()
