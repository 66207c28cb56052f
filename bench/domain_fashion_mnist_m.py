"""Fashion-MNIST -> Fashion-MNIST-M: source-only vs DANN vs target-supervised, same budget.

Fashion-MNIST-M is built offline the way Ganin et al. built MNIST-M: each
image (padded to 32x32) is blended with a random 32x32 patch of a real colour
photo (the scikit-image photos), `|patch - image|` per channel. Source =
Fashion-MNIST (grey, replicated to RGB), target = Fashion-MNIST-M.

Every method trains the same small CNN (Ganin's MNIST architecture: two
conv/pool stages, a 100-unit bottleneck) for the same number of steps on the
same batches; DANN adds the discriminator behind a gradient reversal layer,
target-supervised trains on the labeled target images (the ceiling). Target
accuracy is measured on target images made from the Fashion-MNIST test split.
Source-only and DANN are also scored after AdaBN (`adapt_batchnorm`: the
bottleneck's BatchNorm statistics re-estimated on the unlabeled target images),
and DANN once more after a self-training round: its confident target
predictions (`pseudo_label`, probability >= 0.9) join as labeled target
examples for 4 more epochs (so that row has 12 epochs, not 8), then AdaBN.

The DANN paper's anchor, MNIST -> MNIST-M: 0.52 source-only, 0.77 DANN, 0.96
ceiling. Goal here: DANN closes >= 50% of the source-only -> ceiling gap.

    .venv/bin/python bench/domain_fashion_mnist_m.py   # 3 seeds, about 40 min on 2 busy cores
    .venv/bin/python bench/domain_fashion_mnist_m.py --mixed-precision   # on a GPU
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.callbacks.domain_adversarial_schedule import DomainAdversarialSchedule  # noqa: E402
from tlkeras.data import load_fashion_mnist  # noqa: E402
from tlkeras.domain import adapt  # noqa: E402
from tlkeras.domain import adapt_batchnorm  # noqa: E402
from tlkeras.domain import pair_datasets  # noqa: E402
from tlkeras.domain import pseudo_label  # noqa: E402

METHODS = ("source_only", "dann", "target_supervised")
PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)


def photos():
    import skimage.data

    return [getattr(skimage.data, name)()[..., :3] for name in PHOTOS]


def to_rgb32(images):
    """uint8 (n, 28, 28) -> uint8 (n, 32, 32, 3): padded, grey replicated."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    return np.repeat(padded[..., None], 3, axis=-1)


def blend_with_photos(images, seed):
    """MNIST-M's recipe: |patch - image| with a random 32x32 colour patch per image."""
    rng = np.random.default_rng(seed)
    sources = photos()
    rgb = to_rgb32(images).astype("int16")
    which = rng.integers(0, len(sources), size=len(images))
    blended = np.empty_like(rgb)
    for index, photo_index in enumerate(which):
        photo = sources[photo_index]
        top = rng.integers(0, photo.shape[0] - 32)
        left = rng.integers(0, photo.shape[1] - 32)
        patch = photo[top : top + 32, left : left + 32].astype("int16")
        blended[index] = np.abs(patch - rgb[index])
    return blended.astype("uint8")


def make_data(args, seed):
    x_train, y_train = load_fashion_mnist("train")
    x_test, y_test = load_fashion_mnist("test")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    # Disjoint source and target images, as in MNIST -> MNIST-M.
    source = order[: args.n_train]
    target = order[args.n_train : 2 * args.n_train]
    test = rng.permutation(len(x_test))[: args.n_test]
    return {
        "source": (to_rgb32(x_train[source]).astype("float32"), y_train[source]),
        "target": (blend_with_photos(x_train[target], seed).astype("float32"), y_train[target]),
        "test": (blend_with_photos(x_test[test], seed + 1).astype("float32"), y_test[test]),
    }


def paired(labeled, x_target, batch_size, seed, labeled_target=None):
    """`(x, y, batch_size)` for fit(): pair_datasets where TensorFlow is installed,
    else (JAX / PyTorch machines) NumPy dicts with each source example paired
    with a random target example (and a random labeled target example),
    batches reshuffled by fit() every epoch."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(x_target))[: len(labeled[0])]
        x = {"source": labeled[0], "target": x_target[order]}
        if labeled_target is None:
            return x, labeled[1], batch_size
        drawn = rng.integers(0, len(labeled_target[0]), size=len(labeled[0]))
        x["labeled_target"] = labeled_target[0][drawn]
        return x, {"source": labeled[1], "labeled_target": labeled_target[1][drawn]}, batch_size
    dataset = pair_datasets(labeled, x_target, labeled_target, batch_size=batch_size, seed=seed)
    return dataset, None, None


def cnn_backbone():
    """Ganin et al.'s MNIST feature extractor, with pixels in [0, 255] in."""
    inputs = keras.Input((32, 32, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(32, 5, activation="relu", name="conv_1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool_1")(x)
    x = keras.layers.Conv2D(48, 5, activation="relu", name="conv_2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return tlkeras.Backbone.from_model(keras.Model(inputs, x, name="cnn"), modality="image")


def device_name():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return f"jax on {jax.devices()[0].device_kind}"
    if backend == "tensorflow":
        import tensorflow as tf

        return f"tensorflow on {'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'}"
    return backend


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.epoch_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)


def run(method, seed, data, args):
    keras.utils.set_random_seed(seed)
    model = tlkeras.build(cnn_backbone(), num_classes=10, bottleneck=100, freeze=False)
    alignment = "dann" if method == "dann" else None
    trainer = adapt(
        model,
        method=alignment,
        adaptation_weight=0.0,
        optimizer=keras.optimizers.Adam(args.learning_rate),
        discriminator_units=(100,),
    )
    labeled = data["target"] if method == "target_supervised" else data["source"]
    x, y, batch_size = paired(labeled, data["target"][0], args.batch_size, seed)
    timer = EpochTimer()
    callbacks = [timer]
    if alignment:
        callbacks.append(DomainAdversarialSchedule(max_weight=args.dann_weight))
    if method == "source_only":
        # The true baseline: the task model alone, on the source half of the
        # same batches (no target examples through its BatchNorm).
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
        # Slots in the order of the trainable variables: JAX maps them by position.
        model.optimizer.build(model.trainable_variables)
        x = x.map(lambda x, y: (x["source"], y)) if y is None else x["source"]
    history = (model if method == "source_only" else trainer).fit(
        x, y, batch_size=batch_size, epochs=args.epochs, verbose=0, callbacks=callbacks
    )

    def target_accuracy():
        x_test, y_test = data["test"]
        return float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))

    accuracy = target_accuracy()
    adabn_accuracy = float("nan")
    if method != "target_supervised":
        # AdaBN on top, from the same weights: the bottleneck's BatchNorm
        # re-estimated on the unlabeled target training images (no labels).
        adapt_batchnorm(model, data["target"][0])
        adabn_accuracy = target_accuracy()
    pseudo_accuracy = float("nan")
    if method == "dann" and args.pseudo_label_epochs:
        # Self-training on top: the adapted model's confident target
        # predictions become the labeled target part of more DANN epochs.
        confident = pseudo_label(model, data["target"][0], threshold=args.pseudo_label_threshold)
        x, y, batch_size = paired(
            data["source"], data["target"][0], args.batch_size, seed, confident
        )
        trainer.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=args.pseudo_label_epochs,
            verbose=0,
            callbacks=[DomainAdversarialSchedule(schedule=args.dann_weight)],
        )
        adapt_batchnorm(model, data["target"][0])
        pseudo_accuracy = target_accuracy()
    # The first epoch includes tracing; later epochs are the steady state.
    steady = timer.epoch_seconds[1:] or timer.epoch_seconds
    return {
        "accuracy": accuracy,
        "adabn_accuracy": adabn_accuracy,
        "pseudo_label_accuracy": pseudo_accuracy,
        "epoch_s": float(np.median(steady)),
        "domain_accuracy": history.history.get("domain_accuracy", [float("nan")])[-1],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--n-train", type=int, default=5_000, help="images per domain")
    parser.add_argument("--n-test", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    # λ = 0.1 was chosen among 0.05 / 0.1 / 0.3 / 1 on target images made from
    # *training* images outside both halves (seed 0), never on the test split.
    parser.add_argument("--dann-weight", type=float, default=0.1)
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument(
        "--pseudo-label-epochs",
        type=int,
        default=4,
        help="extra DANN epochs with confident target predictions as labels (0: skip)",
    )
    parser.add_argument("--pseudo-label-threshold", type=float, default=0.9)
    args = parser.parse_args()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")

    start = time.time()
    devices = device_name()
    print(f"Fashion-MNIST -> Fashion-MNIST-M, {args.seeds} seeds, {devices}, {vars(args)}")
    results = {method: [] for method in args.methods.split(",")}
    for seed in range(args.seeds):
        data = make_data(args, seed)
        for method in results:
            results[method].append(run(method, seed, data, args))
            row = results[method][-1]
            print(f"  seed {seed} {method:<18} {row}", flush=True)
    print(f"{'method':<18} {'target accuracy':>16}  {'s/epoch':>8}  final domain acc")
    means = {}
    for method, rows in results.items():
        scores = [row["accuracy"] for row in rows]
        means[method] = np.mean(scores)
        print(
            f"{method:<18} {np.mean(scores):>8.3f} ± {np.std(scores):.3f}  "
            f"{np.median([row['epoch_s'] for row in rows]):>8.2f}  "
            f"{np.mean([row['domain_accuracy'] for row in rows]):.3f}"
        )
    for method in ("source_only", "dann"):
        if method in results:
            scores = [row["adabn_accuracy"] for row in results[method]]
            means[f"{method}+adabn"] = np.mean(scores)
            print(f"{method + ' + AdaBN':<18} {np.mean(scores):>8.3f} ± {np.std(scores):.3f}")
    if "dann" in results and args.pseudo_label_epochs:
        scores = [row["pseudo_label_accuracy"] for row in results["dann"]]
        means["dann+pseudo"] = np.mean(scores)
        label = f"DANN + AdaBN + pseudo-labels (+{args.pseudo_label_epochs} epochs)"
        print(f"{label}: {np.mean(scores):.3f} ± {np.std(scores):.3f}")
    if {"source_only", "dann", "target_supervised"} <= set(means):
        gap = means["target_supervised"] - means["source_only"]
        closed = (means["dann"] - means["source_only"]) / gap
        print(f"DANN closes {100 * closed:.0f}% of the source-only -> ceiling gap (goal: >= 50%)")
        closed = (means["dann+adabn"] - means["source_only"]) / gap
        print(f"DANN + AdaBN closes {100 * closed:.0f}% of it")
        closed = (means["source_only+adabn"] - means["source_only"]) / gap
        print(f"source-only + AdaBN closes {100 * closed:.0f}% of it")
        if "dann+pseudo" in means:
            closed = (means["dann+pseudo"] - means["source_only"]) / gap
            print(f"DANN + AdaBN + pseudo-labels closes {100 * closed:.0f}% of it (more epochs)")
    if {"source_only", "dann"} <= set(means):
        ratio = np.median([r["epoch_s"] for r in results["dann"]]) / np.median(
            [r["epoch_s"] for r in results["source_only"]]
        )
        print(f"DANN epoch time / source-only epoch time: {ratio:.2f} (goal: <= 2.1)")
    print(f"total time: {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
