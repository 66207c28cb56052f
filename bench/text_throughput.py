"""Sentences per second of all-MiniLM-L6-v2 (raw strings in) on this machine: inference and fine-tuning.

    .venv/bin/python bench/text_throughput.py [--sequence-length 32] [--batch-size 32]

Inputs are WordNet glosses (median 11 words). Prints one line per mode;
the first batch (tracing) is excluded from the timing.
"""

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import tlkeras  # noqa: E402
from tlkeras.data.wordnet_glosses import load_wordnet_glosses  # noqa: E402


def rate(run, batches, batch_size):
    run(1)  # trace
    start = time.perf_counter()
    run(batches)
    return batches * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence-length", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=8)
    args = parser.parse_args()
    texts, labels = load_wordnet_glosses()
    n = args.batch_size * args.batches
    x, y = texts[:n], labels[:n]
    model = tlkeras.build(
        "bert",
        weights="all-minilm-l6-v2",
        num_classes=45,
        freeze=False,
        sequence_length=args.sequence_length,
    )
    bs = args.batch_size

    def infer(batches):
        model.predict(x[: batches * bs], batch_size=bs, verbose=0)

    def train(batches):
        model.fit(x[: batches * bs], y[: batches * bs], batch_size=bs, epochs=1, verbose=0)

    threads = os.cpu_count()
    for mode, run in (("inference", infer), ("fine-tuning", train)):
        print(
            f"MiniLM-L6 {mode}: {rate(run, args.batches, bs):.1f} sentences/s "
            f"(sequence_length={args.sequence_length}, batch={bs}, {threads} CPU threads)"
        )


if __name__ == "__main__":
    main()
