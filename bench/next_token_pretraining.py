"""ULMFiT's middle stage on real text: a tiny GPT-2 next-token pre-trained on unlabeled glosses vs scratch.

Task (offline, Debian `wordnet-base`): WordNet glosses -> their 45 supersenses,
with few labels. No GPT-2 weights exist offline, so the whole pipeline starts
from text alone:

1. a byte-level BPE vocabulary (GPT-2's format) trained on the unlabeled
   glosses with Hugging Face `tokenizers` (installed with keras-hub; keras-hub
   itself trains only WordPiece and SentencePiece vocabularies);
2. a tiny random GPT-2 (`--layers` blocks, `--width` wide) saved as a local
   keras-hub preset with that vocabulary;
3. `tlkeras.text.continue_pretraining(..., objective="next_token")` on
   `--unlabeled` glosses (none of them test glosses), saved as a second preset;
4. `tlkeras.compare`: `gpt2_next_token` (the pre-trained preset) vs
   `gpt2_scratch` (`weights=None, preset=<random preset>`: the same
   architecture and vocabulary, random weights), both fully fine-tuned with
   last-token pooling, Adam, on the same class-balanced training subsets and
   scored on the same 1,000 held-out glosses.

    .venv/bin/python bench/next_token_pretraining.py --seeds 0 1 2
    .venv/bin/python bench/next_token_pretraining.py --lm-epochs 1 --unlabeled 5000   # quicker

On 2 CPU cores shared with other jobs (load average 5-12): the language model
(2 epochs x 312 steps of 64) took 15 min, fine-tuning 5-8 min per seed.
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tlkeras  # noqa: E402
from tlkeras.data.wordnet_glosses import load_wordnet_glosses  # noqa: E402

# The protocol these numbers were measured under (epochs, hand-set rates, no validation
# split); not rerun under compare()'s step budget and grid (see docs/evaluation.md).
OLD_PROTOCOL = dict(tune=None, validation_split=0.0, early_stopping=None)


def byte_pair_vocabulary(texts, size):
    """`(vocabulary, merges)` of a byte-level BPE trained on `texts`, in GPT-2's format."""
    from tokenizers import ByteLevelBPETokenizer

    trainer = ByteLevelBPETokenizer()
    # Every one of the 256 byte symbols is in the vocabulary: any text tokenizes.
    trainer.train_from_iterator(
        [str(t) for t in texts], vocab_size=size, min_frequency=2, special_tokens=["<|endoftext|>"]
    )
    with tempfile.TemporaryDirectory() as folder:
        vocabulary_file, merges_file = trainer.save_model(folder)
        with open(vocabulary_file, encoding="utf-8") as f:
            vocabulary = json.load(f)
        with open(merges_file, encoding="utf-8") as f:
            merges = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]
    return vocabulary, merges


def random_gpt2_preset(folder, vocabulary, merges, args):
    import keras_hub

    keras.utils.set_random_seed(0)
    keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocabulary),
        num_layers=args.layers,
        num_heads=max(1, args.width // 64),
        hidden_dim=args.width,
        intermediate_dim=4 * args.width,
        max_sequence_length=args.sequence_length,
    ).save_to_preset(folder)
    keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges).save_to_preset(folder)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unlabeled", type=int, default=20000)
    parser.add_argument("--vocabulary-size", type=int, default=4000)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--sequence-length", type=int, default=32)
    parser.add_argument("--lm-epochs", type=int, default=2)
    parser.add_argument("--lm-learning-rate", type=float, default=1e-3)
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="runs/next_token_pretraining")
    args = parser.parse_args()

    texts, labels = load_wordnet_glosses()
    order = np.random.default_rng(1234).permutation(len(texts))
    test, pool = order[: args.test_size], order[args.test_size :]
    # Unlabeled text for the language model: glosses outside the test set.
    unlabeled = texts[pool[-args.unlabeled :]]
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()

    random_preset = os.path.join(args.out, "gpt2_random")
    # A second run with the same --out (e.g. other --seeds) reuses the vocabulary and random
    # model, and the language model resumes from its finished checkpoint instead of retraining.
    if not os.path.isdir(random_preset):
        vocabulary, merges = byte_pair_vocabulary(unlabeled, args.vocabulary_size)
        random_gpt2_preset(random_preset, vocabulary, merges, args)
        print(f"BPE vocabulary: {len(vocabulary)} tokens, {len(merges)} merges")
    tokenized = time.perf_counter()

    history = keras.callbacks.History()
    backbone = tlkeras.text.continue_pretraining(
        "gpt2",
        unlabeled,
        weights=random_preset,
        sequence_length=args.sequence_length,
        objective="next_token",
        epochs=args.lm_epochs,
        batch_size=64,
        learning_rate=args.lm_learning_rate,
        checkpoint_dir=os.path.join(args.out, "lm_checkpoints"),
        callbacks=[history],
        verbose=1,
    )
    pretrained_preset = backbone.save_to_preset(os.path.join(args.out, "gpt2_next_token"))
    pretrained = time.perf_counter()
    losses = backbone.pretraining_info["history"]["loss"]
    print(
        f"next-token loss per epoch {[round(v, 3) for v in losses]} "
        f"(perplexity {np.exp(losses[-1]):.1f}), {pretrained - tokenized:.0f} s"
    )

    transformer = dict(
        backbone="gpt2",
        sequence_length=args.sequence_length,
        pooling="last",
        freeze=False,
        learning_rate=args.learning_rate,
    )
    configs = {
        "gpt2_next_token": dict(transformer, weights=pretrained_preset),
        "gpt2_scratch": dict(transformer, weights=None, preset=random_preset),
    }
    results = tlkeras.compare(
        configs,
        (texts[pool], labels[pool]),
        (texts[test], labels[test]),
        shots=tuple(args.shots),
        seeds=tuple(args.seeds),
        epochs=args.epochs,
        batch_size=16,
        num_classes=int(labels.max()) + 1,
        verbose=0,
        baselines="logistic_regression",
        **OLD_PROTOCOL,
    )
    results_file = os.path.join(args.out, f"results_seeds_{'_'.join(map(str, args.seeds))}.csv")
    results.to_csv(results_file, index=False)
    accuracy = results[results.metric == "accuracy"]
    table = accuracy.pivot_table(index="n_train", columns="config", values="value", aggfunc="mean")
    print(table.round(3).to_string())
    print(
        f"fine-tuning {time.perf_counter() - pretrained:.0f} s; "
        f"total {time.perf_counter() - start:.0f} s; rows in {results_file}"
    )


if __name__ == "__main__":
    main()
