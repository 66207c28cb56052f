"""Transfer vs scratch learning curves on real Fashion-MNIST, offline, on a CPU."""

import time

DEFAULT_CONFIGS = {
    # Same architecture and head for all three; only the weights and what trains differ.
    "scratch": dict(weights=None, freeze=False),
    "feature_extraction": dict(weights="imagenet", freeze=True),
    "fine_tune": dict(weights="imagenet", freeze=False, learning_rate=3e-4),
}


def fashion_mnist_dataset_fn(image_size, batch_size=32):
    """A `compare()` `dataset_fn`: 28x28 grey uint8 -> `image_size` RGB float batches."""
    from tlkeras.data import as_rgb_dataset

    def dataset_fn(x, y, training, seed):
        return as_rgb_dataset(
            x, y, image_size, batch_size=batch_size, shuffle_seed=seed if training else None
        )

    return dataset_fn


def learning_curve_demo(
    fractions=(0.001, 0.005),
    seeds=(0,),
    image_size=64,
    epochs=5,
    test_per_class=50,
    configs=None,
    backbone="efficientnet_lite0",
    out_dir=None,
    verbose=2,
):
    """EfficientNet-Lite0: ImageNet weights vs random weights, over shares of Fashion-MNIST's labels.

    Runs `tlkeras.compare` on the real Fashion-MNIST (read offline, see
    `tlkeras.data.load_fashion_mnist`): each configuration is trained on the
    same nested, class-balanced subsets of the 60,000 training images with the
    same epochs, and scored on the same held-out test images. Prints the
    Markdown table and, with `out_dir`, writes the run folder with the learning
    curve PNG.

    Args:
        fractions: shares of the 60,000 training labels. Defaults to
            `(0.001, 0.005)` (60 and 300 images).
        seeds: seeds of the subsets, initialisation and shuffling. Defaults
            to `(0,)`.
        image_size: side of the square RGB input. Defaults to `64`.
        epochs: epochs of every run. Defaults to `5`.
        test_per_class: held-out test images per class. Defaults to `50`.
        configs: a dict of `compare()` configurations. Defaults to `None`:
            `scratch` (random weights, all trains), `feature_extraction`
            (ImageNet weights, frozen) and `fine_tune` (ImageNet weights, all
            trains, Adam at 3e-4).
        backbone: the registered backbone. Defaults to `"efficientnet_lite0"`.
        out_dir: the run folder to write (results, figures, settings).
            Defaults to `None` (nothing written).
        verbose: Keras progress output. Defaults to `2` (a line per epoch).

    Returns:
        A `tlkeras.evaluation.Report`.

    Example:

    ```python
    report = learning_curve_demo(fractions=(0.001, 0.01), out_dir="runs/demo")
    print(report.to_markdown())
    ```
    """
    from tlkeras.data import CLASS_NAMES
    from tlkeras.data import load_fashion_mnist
    from tlkeras.data import subsample
    from tlkeras.evaluation.compare import compare
    from tlkeras.evaluation.report import Report

    start = time.perf_counter()
    x_train, y_train = load_fashion_mnist("train")
    x_test, y_test = subsample(*load_fashion_mnist("test"), test_per_class, seed=0)
    results = compare(
        configs or DEFAULT_CONFIGS,
        (x_train, y_train),
        (x_test, y_test),
        backbone=backbone,
        input_shape=(image_size, image_size, 3),
        num_classes=len(CLASS_NAMES),
        fractions=fractions,
        seeds=seeds,
        epochs=epochs,
        dataset_fn=fashion_mnist_dataset_fn(image_size),
        class_names=list(CLASS_NAMES),
        verbose=verbose,
    )
    results.attrs["settings"]["data"] = dict(
        name="fashion_mnist", image_size=image_size, test_per_class=test_per_class
    )
    report = Report(results, title=f"{backbone} on Fashion-MNIST: transfer vs scratch")
    print(report.to_markdown())
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    if out_dir is not None:
        path = report.save(out_dir, overwrite=True)
        print(f"Run folder: {path}")
    return report
