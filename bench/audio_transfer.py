"""Spoken digits: pretrained speech_embedding (frozen, fine-tuned) vs a scratch CNN, then DANN.

Task: the ten digit words, "zero" ... "nine", one-second 16 kHz clips.
Training clips: espeak-ng, 24 voices (6 accents x 4 variants) x 2 speeds x
2 pitches. Test sets, scored from the same trained models:

- `synthetic_heldout`: espeak-ng, 8 other voices (2 held-out accents), 16 clips per digit;
- `flite`: the other synthesiser, 10 of its 5 voices x 2 speeds x 2 pitches per digit;
- `human`: one real speaker (Asterisk's prompts, 8 kHz resampled), 1 clip per digit.

Part 1 runs `tlkeras.compare()` at 1, 3, 10 and 30 training clips per class,
3 seeds. Goal: pretrained - scratch >= 30 points at 3 clips per class on the
human recordings.

Part 2, domain adaptation espeak-ng -> flite with the pretrained backbone
(frozen, a trainable 128-unit bottleneck below the head): source-only vs DANN (unlabeled flite clips
of other speeds and pitches than the flite test set) vs target-supervised (those
flite clips labeled: the ceiling); share of the source-only -> ceiling gap
DANN closes on the flite test set.

    nice -n 5 .venv/bin/python bench/audio_transfer.py   # ~15 min on 2 shared cores
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tlkeras_audio.datasets import ESPEAK_ACCENTS  # noqa: E402
from tlkeras_audio.datasets import ESPEAK_VARIANTS  # noqa: E402
from tlkeras_audio.datasets import human_digits  # noqa: E402
from tlkeras_audio.datasets import spoken_words  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.callbacks.domain_adversarial_schedule import DomainAdversarialSchedule  # noqa: E402
from tlkeras.domain import adapt  # noqa: E402
from tlkeras.domain import adapt_batchnorm  # noqa: E402
from tlkeras.domain import pair_datasets  # noqa: E402
from tlkeras.evaluation.metrics import accuracy  # noqa: E402

TRAIN_ACCENTS = ESPEAK_ACCENTS[:6]
HELDOUT_ACCENTS = ESPEAK_ACCENTS[6:]
START = time.time()
TEST_SETS = ("synthetic_heldout", "flite", "human")
CONFIG_NAMES = ("pretrained_frozen", "pretrained_finetuned", "scratch_cnn")


def make_configs(epochs):
    """The three configurations for a run of `epochs` epochs."""
    # Fine-tuning is LP-FT: the head alone for the first half (a random head's
    # gradients would wreck the pretrained features), then every group at
    # layer-wise rates, 10x lower per group down from the head's.
    lp_ft = [
        tlkeras.strategies.Gradual(schedule={0: 1, epochs // 2: 6}),
        tlkeras.strategies.Discriminative(decay=10.0),
    ]
    return {
        # freeze="auto": a pretrained backbone is frozen, only the head trains.
        "pretrained_frozen": dict(backbone="speech_embedding", learning_rate=1e-2),
        "pretrained_finetuned": dict(
            backbone="speech_embedding", strategy=lp_ft, learning_rate=1e-2
        ),
        "scratch_cnn": dict(backbone="audio_cnn", weights=None, freeze=False, learning_rate=1e-3),
    }


def voices(accents):
    return [f"{accent}+{variant}" for accent in accents for variant in ESPEAK_VARIANTS]


def make_data():
    train = spoken_words(engine="espeak-ng", voices=voices(TRAIN_ACCENTS))[:2]
    tests = {
        # 16 of the 32 (voice, speed, pitch) points per word, 10 of flite's 20: 260 clips
        # to score after every run (scoring the full grids cost as much as training).
        "synthetic_heldout": spoken_words(
            engine="espeak-ng", voices=voices(HELDOUT_ACCENTS), clips_per_word=16, seed=0
        )[:2],
        "flite": spoken_words(engine="flite", clips_per_word=10, seed=0)[:2],
        "human": human_digits(),
    }
    # Unlabeled flite clips for DANN: other speeds and pitches than the flite test set.
    flite_pool = spoken_words(engine="flite", speeds=(1.0, 1.3), pitches=(110, 170))[:2]
    return train, tests, flite_pool


def slice_accuracy(name, start, stop):
    """An accuracy metric for `compare()` scored on rows [start, stop) of the joint test set."""

    def metric(y_true, y_pred, class_names=None):
        return accuracy(y_true[start:stop], y_pred[start:stop])

    metric.__name__ = f"accuracy_{name}"
    return metric


def transfer_table(args, train, tests):
    x_test = np.concatenate([tests[name][0] for name in TEST_SETS])
    y_test = np.concatenate([tests[name][1] for name in TEST_SETS])
    bounds = np.cumsum([0] + [len(tests[name][1]) for name in TEST_SETS])
    metrics = [slice_accuracy(name, bounds[i], bounds[i + 1]) for i, name in enumerate(TEST_SETS)]
    names = args.configs.split(",")
    frames = []
    for shots in (int(s) for s in args.shots.split(",")):
        # The same number of optimizer steps at every size (compare's budget is
        # in epochs): at least `--steps`, and at least `--min-epochs` epochs.
        steps_per_epoch = -(-10 * shots // args.batch_size)
        epochs = max(args.min_epochs, -(-args.steps // steps_per_epoch))
        configs = {name: make_configs(epochs)[name] for name in names}
        frames.append(
            tlkeras.compare(
                configs,
                train,
                (x_test, y_test),
                shots=(shots,),
                seeds=tuple(range(args.seeds)),
                epochs=epochs,
                batch_size=args.batch_size,
                metrics=metrics,
                num_classes=10,
                verbose=args.verbose,
            )
        )
        print(
            f"  {shots} clips/class: {epochs} epochs, done at {time.time() - START:.0f} s",
            flush=True,
        )
    results = pd.concat(frames, ignore_index=True)
    table = results.groupby(["metric", "shots", "config"])["value"].agg(["mean", "std"])
    print("\naccuracy (mean ± std over seeds)")
    for metric in [m.__name__ for m in metrics]:
        print(f"\n{metric}")
        header = "  shots/class " + "".join(f"{c:>24}" for c in configs)
        print(header)
        for shots in sorted(results["shots"].unique()):
            cells = []
            for config in configs:
                mean, std = table.loc[(metric, shots, config)]
                cells.append(f"{mean:>17.3f} ± {std:.3f}")
            print(f"  {shots:>11} " + "".join(cells))
    if "scratch_cnn" in configs and 3 in set(results["shots"]):
        print()
        for config in configs:
            if config == "scratch_cnn":
                continue
            gain = (
                table.loc[("accuracy_human", 3, config), "mean"]
                - table.loc[("accuracy_human", 3, "scratch_cnn"), "mean"]
            )
            print(
                f"{config} - scratch at 3 clips/class on human recordings: {100 * gain:+.1f} points (goal >= +30)"
            )
    wall = results.drop_duplicates(["config", "shots", "seed"]).groupby("config")["wall_time"].sum()
    print("training wall time per config (s):", wall.round(0).to_dict())
    return results


def adaptation_run(method, seed, train, flite_pool, flite_test, args):
    keras.utils.set_random_seed(seed)
    # The pretrained backbone stays frozen: the 128-unit bottleneck (Dense,
    # BatchNorm, ReLU) is the feature extractor DANN aligns.
    model = tlkeras.build("speech_embedding", num_classes=10, bottleneck=128)
    labeled = flite_pool if method == "target_supervised" else train
    optimizer = keras.optimizers.Adam(args.adapt_learning_rate)
    if method == "dann":
        trainer = adapt(model, method="dann", adaptation_weight=0.0, optimizer=optimizer)
        data = pair_datasets(labeled, flite_pool[0], batch_size=args.batch_size, seed=seed)
        trainer.fit(
            data,
            epochs=args.adapt_epochs,
            verbose=0,
            callbacks=[DomainAdversarialSchedule(max_weight=args.dann_weight)],
        )
    else:
        model.compile(optimizer=optimizer)
        model.fit(*labeled, batch_size=args.batch_size, epochs=args.adapt_epochs, verbose=0)

    def flite_accuracy():
        return float(np.mean(model.predict(flite_test[0], verbose=0).argmax(-1) == flite_test[1]))

    scores = {method: flite_accuracy()}
    if method != "target_supervised":
        # AdaBN on top, from the same weights: the bottleneck's BatchNorm
        # statistics re-estimated on the unlabeled flite clips.
        adapt_batchnorm(model, flite_pool[0])
        scores[f"{method}+adabn"] = flite_accuracy()
    return scores


def adaptation_table(args, train, flite_pool, flite_test):
    # The source subset: args.adapt_shots clips per class of the espeak-ng training voices.
    rng = np.random.default_rng(0)
    keep = np.concatenate(
        [rng.permutation(np.nonzero(train[1] == c)[0])[: args.adapt_shots] for c in range(10)]
    )
    source = (train[0][keep], train[1][keep])
    scores = {}
    for method in ("source_only", "dann", "target_supervised"):
        for seed in range(args.seeds):
            run = adaptation_run(method, seed, source, flite_pool, flite_test, args)
            for name, value in run.items():
                scores.setdefault(name, []).append(value)
    for name, values in scores.items():
        print(f"  {name:<20} flite accuracy {np.mean(values):.3f} ± {np.std(values):.3f}  {values}")
    means = {m: np.mean(v) for m, v in scores.items()}
    gap = means["target_supervised"] - means["source_only"]
    for name in ("dann", "source_only+adabn", "dann+adabn"):
        closed = (means[name] - means["source_only"]) / gap if gap > 0 else float("nan")
        print(f"{name} closes {100 * closed:.0f}% of the espeak-ng -> flite gap ({gap:.3f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    # 3 first: the goal's budget, done first on a busy machine.
    parser.add_argument("--shots", default="3,1,10,30")
    parser.add_argument("--configs", default=",".join(CONFIG_NAMES))
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per run")
    parser.add_argument("--min-epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--adapt-shots", type=int, default=10, help="source clips per class")
    parser.add_argument("--adapt-epochs", type=int, default=30)
    parser.add_argument("--adapt-learning-rate", type=float, default=1e-3)
    parser.add_argument("--dann-weight", type=float, default=0.3)
    parser.add_argument("--skip-transfer", action="store_true")
    parser.add_argument("--skip-adaptation", action="store_true")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()
    train, tests, flite_pool = make_data()
    sizes = {name: len(y) for name, (_, y) in tests.items()}
    print(
        f"spoken digits: {len(train[1])} espeak-ng training clips, test sets {sizes}, "
        f"{len(flite_pool[1])} unlabeled flite clips; {vars(args)}"
    )
    if not args.skip_transfer:
        transfer_table(args, train, tests)
    if not args.skip_adaptation:
        print(
            "\ndomain adaptation espeak-ng -> flite (speech_embedding frozen, trainable bottleneck 128)"
        )
        adaptation_table(args, train, flite_pool, tests["flite"])
    print(f"total time: {time.time() - START:.0f} s (2 cores shared with other jobs)")


if __name__ == "__main__":
    main()
