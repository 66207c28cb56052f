"""The `tlkeras` command: `tlkeras list`, `tlkeras demo`, `tlkeras compare CONFIG.yaml`."""

import argparse
import sys


def _list(args):
    from tlkeras import registry

    entries = registry.backbone_info()
    rows = [
        (e.name, e.modality if args.modality else "-", e.distribution, e.target) for e in entries
    ]
    header = ("backbone", "modality", "distribution", "entry point")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
    for row in [header] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


def _demo(args):
    from tlkeras.evaluation import learning_curve_demo

    report = learning_curve_demo(
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tlkeras", description="Transfer learning for Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="installed backbones and the plugins that add them")
    listing.add_argument(
        "--modality", action="store_true", help="also show each modality (imports every plugin)"
    )
    listing.set_defaults(run=_list)

    demo = commands.add_parser(
        "demo",
        help="EfficientNet-Lite0 ImageNet weights vs scratch on real Fashion-MNIST, offline, on a CPU",
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
    demo.add_argument("--image-size", type=int, default=64, help="input side in pixels")
    demo.add_argument("--steps", type=int, default=80, help="optimizer steps of every run")
    demo.add_argument("--batch-size", type=int, default=16, help="batch size of every run")
    demo.add_argument("--out", default="runs/demo", help="report folder to write")
    demo.set_defaults(run=_demo)

    comparison = commands.add_parser(
        "compare", help="run a comparison described by a YAML config and write its report folder"
    )
    comparison.add_argument("config", help="path of the YAML config (see examples/)")
    comparison.add_argument("--out", default="runs/compare", help="report folder to write")
    comparison.set_defaults(run=_compare)

    args = parser.parse_args(argv)
    from tlkeras.errors import TlkerasError

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
