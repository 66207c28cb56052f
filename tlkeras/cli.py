"""The `tlkeras` command: `tlkeras list`, `tlkeras demo`."""

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
    from tlkeras.demo import run_demo

    run_demo(
        per_class=args.per_class,
        image_size=args.image_size,
        epochs=args.epochs,
        seed=args.seed,
    )
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
        "demo", help="pretrained vs from scratch on Fashion-MNIST, offline, on a CPU"
    )
    demo.add_argument("--per-class", type=int, default=100, help="training images per class")
    demo.add_argument("--image-size", type=int, default=96, help="input side in pixels")
    demo.add_argument("--epochs", type=int, default=6, help="epochs per model")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_demo)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
