"""The `tlkeras` command: `tlkeras list`, `tlkeras demo`, `tlkeras compare CONFIG.yaml`,
`tlkeras rank CONFIG.yaml`, `tlkeras export MODEL.keras OUT`.

Keep each subcommand's heavy imports inside its function: `tlkeras --help` and
`tlkeras list` import neither Keras nor TensorFlow (tests/spine/test_cli.py).
"""

import argparse
import sys


def _list(args):
    # Reads entry points and each plugin's tlkeras_backbones.toml: imports no
    # plugin and no TensorFlow, so it answers at once.
    from tlkeras import registry

    rows = [
        (
            e.name,
            e.metadata.modality or "?",
            _shape(e.metadata.input_shape, declared=e.metadata.modality is not None),
            ", ".join(f"{w} ({licence})" for w, licence in e.metadata.weights.items()) or "-",
            e.distribution,
            e.target,
        )
        for e in registry.backbone_info()
    ]
    header = ("backbone", "modality", "input", "weights (licence)", "distribution", "entry point")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if any(row[1] == "?" for row in rows):
        print(
            f"\n?: not declared; the plugin can state it in its {registry.METADATA_FILE} "
            "(see docs/plugins.md)."
        )
    return 0


def _shape(shape, declared):
    if shape is None:
        return "-" if declared else "?"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _demo(args):
    from tlkeras.evaluation import learning_curve_demo
    from tlkeras.evaluation.learning_curve_demo import DEFAULT_CONFIGS
    from tlkeras.evaluation.learning_curve_demo import SCRATCH_CONFIG

    report = learning_curve_demo(
        configs={**DEFAULT_CONFIGS, **SCRATCH_CONFIG} if args.scratch else None,
        shots=tuple(args.shots),
        fractions=tuple(args.fractions) if args.fractions else None,
        seeds=tuple(args.seeds),
        image_size=args.image_size,
        steps=args.steps,
        batch_size=args.batch_size,
        out_dir=args.out,
    )
    print(f"\nReport folder (table, learning-curve PNG, settings): {args.out}")
    return report


def _compare(args):
    from tlkeras.evaluation import cli_compare

    cli_compare(args.config, args.out)
    print(f"\nReport folder: {args.out}")
    return 0


def _export(args):
    import numpy as np

    from tlkeras.saving import load_model
    from tlkeras.serving import export

    data = np.load(args.representative_data) if args.representative_data else None
    export(
        load_model(args.model),
        args.out,
        format=args.format,
        quantization=args.quantization,
        representative_data=data,
        input_shape=tuple(args.input_shape) if args.input_shape else None,
    )
    return 0


def _rank(args):
    from tlkeras.ranking.cli_rank import cli_rank

    cli_rank(args.config, args.out)
    return 0


def _quiet_retracing_warnings():
    # compare() and the demo predict on subsets of every size, which TensorFlow
    # reports as "N out of the last M calls ... triggered tf.function retracing":
    # expected here, and nothing a command-line user can act on.
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tlkeras", description="Transfer learning for Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser(
        "list", help="installed backbones: modality, input, weights and their licences, plugin"
    )
    listing.set_defaults(run=_list)

    demo = commands.add_parser(
        "demo",
        help="learning curves of frozen ImageNet features vs pixels on real Fashion-MNIST, "
        "offline, on a CPU (2.5 min on 2 cores)",
    )
    demo.add_argument(
        "--shots", type=int, nargs="+", default=[1, 5, 10, 50],
        help="labelled training images per class (default: 1 5 10 50)",
    )  # fmt: skip
    demo.add_argument(
        "--fractions", type=float, nargs="+", default=None,
        help="shares of the 60,000 training labels instead of --shots",
    )  # fmt: skip
    demo.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    # The demo's own defaults (DEMO_* in evaluation/learning_curve_demo.py),
    # repeated here so that `tlkeras --help` imports no TensorFlow.
    demo.add_argument("--image-size", type=int, default=96, help="input side in pixels")
    demo.add_argument("--steps", type=int, default=600, help="optimizer steps of every run")
    demo.add_argument("--batch-size", type=int, default=32, help="batch size of every run")
    demo.add_argument(
        "--scratch", action="store_true",
        help="also train the same network from random weights (trains it whole: much slower)",
    )  # fmt: skip
    demo.add_argument("--out", default="runs/demo", help="report folder to write")
    demo.set_defaults(run=_demo)

    comparison = commands.add_parser(
        "compare", help="run a comparison described by a YAML config and write its report folder"
    )
    comparison.add_argument("config", help="path of the YAML config (see examples/)")
    comparison.add_argument("--out", default="runs/compare", help="report folder to write")
    comparison.set_defaults(run=_compare)

    exporting = commands.add_parser(
        "export", help="write a .keras model as a SavedModel or TFLite file for serving"
    )
    exporting.add_argument("model", help="path of the .keras file")
    exporting.add_argument("out", help="SavedModel folder or .tflite file to write")
    exporting.add_argument(
        "--format", default="tf_saved_model", choices=["tf_saved_model", "tflite"]
    )
    exporting.add_argument(
        "--quantization", default=None, choices=["float16", "dynamic", "int8"], help="TFLite only"
    )
    exporting.add_argument(
        "--representative-data", help=".npy of typical inputs to calibrate int8 (TFLite)"
    )
    exporting.add_argument(
        "--input-shape", type=int, nargs="+", help="fixed TFLite input shape, e.g. 96 96 3"
    )
    exporting.set_defaults(run=_export)

    ranking = commands.add_parser(
        "rank", help="score candidate backbones on a task without training (LogME, LEEP, ...)"
    )
    ranking.add_argument(
        "config", help="path of the YAML config (see examples/rank_fashion_mnist.yaml)"
    )
    ranking.add_argument("--out", default="runs/rank", help="report folder to write")
    ranking.set_defaults(run=_rank)

    args = parser.parse_args(argv)
    from tlkeras.errors import TlkerasError

    if args.run is not _list:
        from tlkeras.native_logs import import_backend_quietly

        import_backend_quietly()
        _quiet_retracing_warnings()

    try:
        args.run(args)
    except TlkerasError as error:
        # A user's mistake (a bad config key, an unknown backbone) gets one
        # readable line, not a traceback.
        print(f"tlkeras {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
