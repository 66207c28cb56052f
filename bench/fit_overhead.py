"""fit() step time of tlkeras vs the same network and step written by hand in Keras.

Three cases, each a tlkeras model against its hand-written twin (same layers,
same initial weights, same optimizer, loss and metrics, same data):

- `frozen`: feature extraction, the backbone frozen (BatchNorm in inference
  mode), a softmax head trained on it;
- `full`: full fine-tuning, everything trainable;
- `dann`: a `DomainAdaptationModel` (DANN: bottleneck, gradient reversal,
  domain discriminator, one source + one target batch per step) against a
  `keras.Model` subclass computing the same losses and metrics in its
  `compute_loss`, trained by Keras's own train step.

tlkeras runs with its defaults (`fit(check_data=True)`: the NaN guard inside
the compiled step). Each epoch is timed by an epoch-only callback (no
per-batch hook); the first epoch (tracing, compilation) of every fit is
dropped. The implementations run interleaved, round after round, so that a
change of machine load hits both; per model the median warm epoch of each
round is kept, and the table prints the median over rounds, the spread
(min-max over rounds) and the ratio of medians. Goal: ratio <= 1.03.

    # CPU, TensorFlow (about 10 min on 2 shared cores):
    python bench/fit_overhead.py
    # GPU: EfficientNet-B0, 224 px, batch 128, bf16 + XLA (JAX is fine):
    KERAS_BACKEND=jax python bench/fit_overhead.py --backbone efficientnet --size 224 \
        --batch-size 128 --examples 2560 --precision mixed_bfloat16 --jit --rounds 5
    # Where the time goes, per step, from a TensorFlow profiler trace:
    python bench/fit_overhead.py --cases dann --profile /tmp/fit_trace
"""

import argparse
import collections
import glob
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.domain import DomainAdaptationModel  # noqa: E402

NUM_CLASSES = 10
BOTTLENECK = 64
TRUNKS = {
    "mobilenet_v2": keras.applications.MobileNetV2,
    "efficientnet": keras.applications.EfficientNetB0,
}


class EpochTimes(keras.callbacks.Callback):
    """Wall and process CPU time of each epoch; epoch hooks only (Keras keeps its async dispatch).

    CPU time (all threads) counts the work done, which other jobs on a shared
    machine disturb far less than the wall time.
    """

    def __init__(self):
        super().__init__()
        self.times, self.cpu_times = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start[0])
        self.cpu_times.append(time.process_time() - self.start[1])


# === tlkeras ===
def tlkeras_model(args, case):
    model = tlkeras.build(
        args.backbone,
        weights=None,
        input_shape=(args.size, args.size, 3),
        num_classes=NUM_CLASSES,
        bottleneck=BOTTLENECK if case == "dann" else None,
        freeze=case == "frozen",
        mixed_precision=args.precision == "mixed_bfloat16",
        compile=False,
    )
    if case == "dann":
        model = DomainAdaptationModel(model, method="dann", adaptation_weight=0.1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=args.jit)
    return model


# === hand-written Keras ===
def keras_trunk(args):
    application = TRUNKS[args.backbone]
    inputs = keras.Input((args.size, args.size, 3))
    x = inputs
    if args.backbone == "mobilenet_v2":
        # tlkeras's MobileNetV2 backbone scales [0, 255] pixels the same way
        # (keras.applications' EfficientNet scales inside itself).
        x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    trunk = application(include_top=False, weights=None, input_tensor=x)
    return inputs, keras.layers.GlobalAveragePooling2D()(trunk.output), trunk


def keras_classifier(args, case):
    inputs, features, trunk = keras_trunk(args)
    trunk.trainable = case != "frozen"
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(features)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=args.jit,
    )
    return model


class Reversal(keras.layers.Layer):
    """Gradient reversal as a Keras user writes it: identity forward, -λ × gradient back.

    λ is a variable, read every step, so that a schedule can move it (as DANN's does).
    """

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(factor), trainable=False
        )

    def call(self, x):
        scale = -ops.cast(self.factor, x.dtype)

        @ops.custom_gradient
        def reverse(x):
            def grad(*args, upstream=None):
                return (args[0] if upstream is None else upstream) * scale  # TF: positional

            return ops.copy(x), grad

        return reverse(x)


class HandDANN(keras.Model):
    """DANN as a Keras user writes it: one forward pass over source + target, two losses."""

    def __init__(self, task, features, **kwargs):
        super().__init__(**kwargs)
        self.joint = keras.Model(task.input, [task.output, features])
        self.reversal = Reversal(0.1)
        self.discriminator = keras.Sequential(
            [keras.layers.Dense(64, activation="relu"), keras.layers.Dense(64, activation="relu")]
            + [keras.layers.Dense(1, dtype="float32")]
        )
        self.label_loss = keras.metrics.Mean(name="label_loss")
        self.domain_loss = keras.metrics.Mean(name="domain_loss")
        self.domain_accuracy = keras.metrics.BinaryAccuracy(name="domain_accuracy", threshold=0.0)

    def call(self, inputs, training=None):
        x = ops.concatenate([inputs["source"], inputs["target"]], axis=0)
        predictions, features = self.joint(x, training=training)
        return predictions, self.discriminator(self.reversal(features), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        predictions, logits = y_pred
        n = ops.shape(x["source"])[0]
        label_loss = super().compute_loss(x, y, predictions[:n], sample_weight, training)
        domains = ops.concatenate([ops.zeros((n, 1)), ops.ones((n, 1))], axis=0)
        domain_loss = ops.mean(keras.losses.binary_crossentropy(domains, logits, from_logits=True))
        self.label_loss.update_state(label_loss)
        self.domain_loss.update_state(domain_loss)
        self.domain_accuracy.update_state(domains, logits)
        return label_loss + domain_loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        n = ops.shape(x["source"])[0]
        return super().compute_metrics(x, y, y_pred[0][:n], sample_weight)


def keras_dann(args):
    inputs, features, _ = keras_trunk(args)
    x = keras.layers.Dense(BOTTLENECK)(features)
    x = keras.layers.BatchNormalization()(x)
    bottleneck = keras.layers.Activation("relu")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(bottleneck)
    model = HandDANN(keras.Model(inputs, outputs), bottleneck)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=args.jit,
    )
    return model


def make_pair(args, case):
    """The two models of a case (random weights: step time does not depend on them)."""
    with tlkeras.precision.policy_scope(args.precision):
        ours = tlkeras_model(args, case)
        theirs = keras_dann(args) if case == "dann" else keras_classifier(args, case)
    return {"keras": theirs, "tlkeras": ours}


def data(args, case):
    rng = np.random.default_rng(0)
    shape = (args.examples, args.size, args.size, 3)
    x = rng.uniform(0, 255, size=shape).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=args.examples)
    if case == "dann":
        target = rng.uniform(0, 255, size=shape).astype("float32")
        return {"source": x, "target": target}, y
    return x, y


def fit_times(model, x, y, args):
    timer = EpochTimes()
    # tlkeras's fit(check_data=False) trains with Keras's own step (no NaN guard).
    options = {"check_data": False} if args.no_guard and hasattr(model, "arm_step_guard") else {}
    model.fit(
        x, y, epochs=args.epochs, batch_size=args.batch_size, shuffle=False, verbose=0,
        callbacks=[timer], **options,
    )  # fmt: skip
    return timer.times[1:], timer.cpu_times[1:]  # the first epoch traces and compiles


PARTS = ("forward", "backward", "optimizer", "guard check", "guard keep", "other")


def op_part(node, optimizer):
    """Which part of a train step a TensorFlow node belongs to, by its name scope."""
    if "non_finite_check" in node:
        return "guard check"
    if "step_guard_keep" in node:
        return "guard keep"
    if "gradient_tape" in node:
        return "backward"
    if f"/{optimizer}/" in node:
        return "optimizer"
    return "forward" if "StatefulPartitionedCall/" in node else "other"


def trace_steps(model, x, y, args, folder):
    """Per-step numbers (ms) of one traced fit: wall span, op time per part, tail after backward."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    tf.profiler.experimental.start(folder)
    fit_times(model, x, y, args)
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(sorted(glob.glob(f"{folder}/**/*.xplane.pb", recursive=True))[-1], "rb") as f:
        space.ParseFromString(f.read())
    plane = next(p for p in space.planes if p.name == "/host:CPU")
    steps, ops = [], []
    for line in plane.lines:
        for event in line.events:
            start = (line.timestamp_ns * 1000 + event.offset_ps) / 1e9  # ms
            name = plane.event_metadata[event.metadata_id].name
            if name == "multi_step_on_iterator":
                steps.append((start, start + event.duration_ps / 1e9))
            elif line.name.startswith("tf_Compute") and ":" in name and "::" not in name:
                ops.append((start, start + event.duration_ps / 1e9, name.rsplit(":", 1)[0]))
    rows = []
    for begin, end in steps:
        parts, backward_end, last_end = collections.Counter(), begin, begin
        for start, stop, node in ops:
            if begin <= start <= end:
                part = op_part(node, model.optimizer.name)
                parts[part] += stop - start
                last_end = max(last_end, stop)
                if part == "backward":
                    backward_end = max(backward_end, stop)
        rows.append({"step": end - begin, "after backward": last_end - backward_end, **parts})
    return rows


def profile(models, x, y, args):
    print(f"| model | step wall | {' | '.join(PARTS)} | ops after the last backward op |")
    print("|---|---|" + "---|" * len(PARTS) + "---|")
    for name, model in models.items():
        fit_times(model, x, y, args)  # trace and compile first
        rows = trace_steps(model, x, y, args, os.path.join(args.profile, name))
        median = {k: np.median([r.get(k, 0.0) for r in rows]) for k in ("step", *PARTS)}
        tail = np.median([r["after backward"] for r in rows])
        cells = " | ".join(f"{median[part]:.1f}" for part in PARTS)
        print(f"| {name} | {median['step']:.1f} | {cells} | {tail:.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["frozen", "full", "dann"])
    parser.add_argument("--backbone", default="mobilenet_v2", choices=sorted(TRUNKS))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"])
    parser.add_argument(
        "--jit", action="store_const", const=True, default="auto", help="jit_compile=True (XLA)"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="TensorFlow only: trace one fit of each model into DIR and print where each step's "
        "time goes (median ms per step; op times are summed over threads)",
    )
    parser.add_argument(
        "--no-guard", action="store_true", help="tlkeras without its NaN guard (check_data=False)"
    )
    args = parser.parse_args()
    steps = -(-args.examples // args.batch_size)
    print(
        f"backend {keras.backend.backend()}, {args.backbone} {args.size}px, batch "
        f"{args.batch_size}, {steps} steps x {args.epochs - 1} warm epochs x {args.rounds} "
        f"rounds, {args.precision}, jit_compile={args.jit}, NaN guard {not args.no_guard}"
    )
    if not args.profile:
        print(
            "| case | load average | tlkeras ms/step (spread) | hand-written ms/step (spread) "
            "| ratio (per round) | CPU-time ratio |"
        )
        print("|---|---|---|---|---|---|")
    for case in args.cases:
        x, y = data(args, case)
        models = make_pair(args, case)
        if args.profile:
            profile(models, x, y, args)
            continue
        print(compare(models, x, y, args, case, steps), flush=True)


def compare(models, x, y, args, case, steps):
    """One table row: interleaved rounds (order flipped every round), medians, ratios."""
    wall, cpu = {name: [] for name in models}, {name: [] for name in models}
    load = [os.getloadavg()[0]]
    for index in range(args.rounds):
        for name in sorted(models, reverse=bool(index % 2)):
            times, cpu_times = fit_times(models[name], x, y, args)
            wall[name].append(1000 * np.median(times) / steps)
            cpu[name].append(1000 * np.median(cpu_times) / steps)
        load.append(os.getloadavg()[0])
    median = {name: float(np.median(values)) for name, values in wall.items()}
    cells = {name: f"{median[name]:.1f} ({min(v):.1f}-{max(v):.1f})" for name, v in wall.items()}
    per_round = [t / k for t, k in zip(wall["tlkeras"], wall["keras"], strict=True)]
    spread = ", ".join(f"{r:.2f}" for r in per_round)
    ratio = median["tlkeras"] / median["keras"]
    cpu_ratio = np.median(cpu["tlkeras"]) / np.median(cpu["keras"])
    return (
        f"| {case} | {min(load):.1f}-{max(load):.1f} | {cells['tlkeras']} | {cells['keras']} "
        f"| **{ratio:.3f}** ({spread}) | {cpu_ratio:.3f} |"
    )


if __name__ == "__main__":
    main()
