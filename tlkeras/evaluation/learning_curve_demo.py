"""Learning curves of transfer vs a classical model on real Fashion-MNIST, offline, on a CPU."""

import time

from tlkeras.evaluation.compare import DEFAULT_STEPS

DEFAULT_CONFIGS = {
    # Frozen ImageNet features, unit-normalised before the head (L2): on
    # Fashion-MNIST at 96-128 px this beat raw pooled features and the pixels'
    # logistic regression at every size (bench/fashion_mnist_vs_baselines.py).
    "feature_extraction": dict(weights="imagenet", freeze=True, feature_norm="l2"),
}
# The same network trained from random weights (`tlkeras demo --scratch`).
# Left out of the default: it trains the whole network at every step, and at
# 80 steps of 16 it took 480 of the demo's 600 s (2 quiet CPU cores) for 0.18
# accuracy at 50 shots, while the pixels' logistic regression, the honest
# no-transfer reference, costs a second.
SCRATCH_CONFIG = {"scratch": dict(weights=None, freeze=False)}
# Fine-tuning the whole network: as costly as scratch (one config away).
FINE_TUNE_CONFIG = {"fine_tune": dict(weights="imagenet", freeze=False)}
# The demo runs compare()'s own protocol and budget: every run takes the same
# optimizer steps at this batch size, the learning rate picked on the
# validation split from compare's grid. The frozen configuration trains from
# features computed once (the feature store), so these steps are cheap.
DEMO_IMAGE_SIZE = 96  # ImageNet filters need objects well above Fashion-MNIST's 28 px
DEMO_STEPS = DEFAULT_STEPS
DEMO_BATCH_SIZE = 32


def fashion_mnist_dataset_fn(image_size, batch_size=32):
    """A `compare()` `dataset_fn`: 28x28 grey uint8 -> `image_size` RGB float batches."""
    from tlkeras.data import as_rgb_dataset

    def dataset_fn(x, y, training, seed):
        return as_rgb_dataset(
            x, y, image_size, batch_size=batch_size, shuffle_seed=seed if training else None
        )

    return dataset_fn


def learning_curve_demo(
    shots=(1, 5, 10, 50),
    seeds=(0, 1, 2),
    image_size=DEMO_IMAGE_SIZE,
    steps=DEMO_STEPS,
    batch_size=DEMO_BATCH_SIZE,
    tune=None,
    test_per_class=50,
    configs=None,
    backbone="efficientnet_lite0",
    fractions=None,
    out_dir=None,
    verbose=1,
):
    """EfficientNet-Lite0's frozen ImageNet features vs a logistic regression on the pixels, by labels.

    Runs `tlkeras.compare` at its own protocol on the real Fashion-MNIST (read
    offline, see `tlkeras.data.load_fashion_mnist`): each configuration is
    trained on the same nested, class-balanced subsets of the 60,000 training
    images with the same optimizer steps and learning-rate grid, next to the
    baselines (a logistic regression on the pixels and a linear probe on the
    frozen ImageNet features), and scored on the same held-out test images.
    The frozen configuration trains from features computed once for the whole
    comparison (feature store). Prints a `run k/N` line per run, then the
    Markdown report; with `out_dir`, writes the run folder with the learning
    curve PNG.

    Args:
        shots: labelled training images per class. Defaults to
            `(1, 5, 10, 50)` (10 to 500 images).
        seeds: seeds of the subsets, initialisation and shuffling. Defaults
            to `(0, 1, 2)`.
        image_size: side of the square RGB input. Defaults to `DEMO_IMAGE_SIZE` (96).
        steps: optimizer steps of every run. Defaults to `DEMO_STEPS`.
        batch_size: batch size of every run. Defaults to `DEMO_BATCH_SIZE`.
        tune: the learning-rate grid. Defaults to `None`: compare's own
            (`tlkeras.evaluation.compare.DEFAULT_GRID`).
        test_per_class: held-out test images per class. Defaults to `50`.
        configs: a dict of `compare()` configurations. Defaults to `None`:
            `feature_extraction` (ImageNet weights, frozen, unit-length
            features); `{**DEFAULT_CONFIGS, **SCRATCH_CONFIG}` adds `scratch`
            (random weights, all trains), `FINE_TUNE_CONFIG` `fine_tune`
            (ImageNet weights, all trains).
        backbone: the registered backbone. Defaults to `"efficientnet_lite0"`.
        fractions: shares of the training labels instead of `shots`.
            Defaults to `None`.
        out_dir: the run folder to write (results, figures, settings).
            Defaults to `None` (nothing written).
        verbose: `1`: a `run k/N` line per run; `2`: Keras' epoch lines too.
            Defaults to `1`.

    Returns:
        A `tlkeras.evaluation.Report`.

    Example:

    ```python
    report = learning_curve_demo(shots=(1, 10), seeds=(0, 1), out_dir="runs/demo")
    print(report.to_markdown())
    ```
    """
    from tlkeras.data import CLASS_NAMES
    from tlkeras.data import load_fashion_mnist
    from tlkeras.data import subsample
    from tlkeras.evaluation.compare import compare
    from tlkeras.evaluation.report import Report

    start, cpu = time.perf_counter(), time.process_time()
    x_train, y_train = load_fashion_mnist("train")
    x_test, y_test = subsample(*load_fashion_mnist("test"), test_per_class, seed=0)
    results = compare(
        configs or DEFAULT_CONFIGS,
        (x_train, y_train),
        (x_test, y_test),
        backbone=backbone,
        input_shape=(image_size, image_size, 3),
        num_classes=len(CLASS_NAMES),
        shots=None if fractions else shots,
        fractions=fractions,
        seeds=seeds,
        steps=steps,
        batch_size=batch_size,
        tune=tune or "auto",
        dataset_fn=fashion_mnist_dataset_fn(image_size, batch_size),
        class_names=list(CLASS_NAMES),
        verbose=verbose,
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    sizes = (
        f"--fractions {' '.join(map(str, fractions))}"
        if fractions
        else (f"--shots {' '.join(map(str, shots))}")
    )
    results.attrs["settings"].update(
        data=dict(name="fashion_mnist", image_size=image_size, test_per_class=test_per_class),
        rerun=(
            f"tlkeras demo {sizes} --seeds {' '.join(map(str, seeds))} --image-size {image_size} "
            f"--steps {steps} --batch-size {batch_size}"
            + ("" if configs is None and tune is None else "  (with the configs/grid in this file)")
        ),
        wall_seconds=round(wall, 1),
        cpu_seconds=round(cpu, 1),
    )
    report = Report(
        results,
        title=f"{backbone} on Fashion-MNIST: "
        + " vs ".join([*(configs or DEFAULT_CONFIGS), "pixels (logistic regression)"]),
    )
    print(report.to_markdown())
    print(f"\n(total {wall:.0f} s wall, {cpu:.0f} s CPU)")
    if out_dir is not None:
        path = report.save(out_dir, overwrite=True)
        print(f"Run folder: {path}")
    return report
