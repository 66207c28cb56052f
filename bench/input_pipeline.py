"""Is the input pipeline fast enough to feed a GPU? Images/s of tlkeras's tf.data pipeline alone.

The pipeline of the demo and benchmarks (`tlkeras.data.as_rgb_dataset`: grey
Fashion-MNIST -> RGB -> resized on the fly, parallel map, prefetch) runs with no
model attached, and its images/s is set against the EfficientNet-B0 training
throughput measured on an H100 (bench/README.md): a ratio above 1 means the
pipeline outruns that GPU, even on this machine's CPU cores.

    .venv/bin/python bench/input_pipeline.py                      # ~1 min
    .venv/bin/python bench/input_pipeline.py --size 224 --batch 128 --batches 40
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from tlkeras.data import as_rgb_dataset  # noqa: E402
from tlkeras.data import load_fashion_mnist  # noqa: E402

# bench/README.md: EfficientNet-B0 224 px, batch 128, mixed_bfloat16 + XLA, H100 (JAX).
H100_TRAIN_IMAGES_PER_S = 3799


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    images, labels = load_fashion_mnist("train")
    dataset = as_rgb_dataset(images, labels, args.size, batch_size=args.batch, shuffle_seed=0)
    rates = []
    for _ in range(args.repeats):
        iterator = iter(dataset)
        next(iterator)  # warm-up: threads started, first buffer filled
        start = time.perf_counter()
        for _ in range(args.batches):
            batch, _ = next(iterator)
        elapsed = time.perf_counter() - start
        rates.append(args.batches * args.batch / elapsed)
        if tuple(batch.shape) != (args.batch, args.size, args.size, 3):
            raise SystemExit(f"unexpected batch shape {tuple(batch.shape)}")
    best = float(np.max(rates))
    cores = os.cpu_count()
    print(f"pipeline: {args.size}px batches of {args.batch} on {cores} CPU cores")
    print(f"images/s (best of {args.repeats}): {best:,.0f}   all: {[round(r) for r in rates]}")
    print(
        f"pipeline ÷ H100 EfficientNet-B0 training ({H100_TRAIN_IMAGES_PER_S:,} img/s): "
        f"{best / H100_TRAIN_IMAGES_PER_S:.2f} (> 1: the pipeline is not the bottleneck)"
    )


if __name__ == "__main__":
    main()
