"""Does the exported (core TensorFlow) BERT tokenizer give keras-hub's token ids on real text?

Compares `tlkeras.serving_tokenizers.WordPiecePacker` with keras-hub's
`BertTokenizer` (TF Text ops) string by string, untruncated, on:

- WordNet glosses with their lemmas (Debian `wordnet-base`), every `--step`-th;
- a Unicode sweep: every assigned code point `c` outside the surrogates, in
  the text `f"A{c}b {c} x{c}{c}"` (one string per code point);
- the sweep's strings that NFD changes, decomposed (the documented difference:
  keras-hub's case folding recomposes a whole word, the table folds per character);

for the MiniLM vocabulary (`all-minilm-l6-v2`) and the tiny character vocabulary
(`bert`, `weights=None`). Prints the number of strings whose ids differ, and a
few of them. Run: `python bench/tokenizer_parity.py --step 40`.
"""

import argparse
import time
import unicodedata

import keras_hub
import tensorflow as tf
from keras_hub.src.utils.tensor_utils import no_convert_scope

import tlkeras
from tlkeras.data.wordnet_glosses import load_wordnet_glosses
from tlkeras.serving_tokenizers import WordPiecePacker
from tlkeras.weights.text_presets import resolve


def unicode_sweep():
    points = [
        c
        for c in range(0x110000)
        if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) not in ("Cn", "Co")
    ]
    return [f"A{chr(c)}b {chr(c)} x{chr(c)}{chr(c)}" for c in points]


def mismatches(tokenizer, texts, batch=512):
    tokenizer._allow_python_workflow = False
    core = WordPiecePacker.from_tokenizer(tokenizer, 512)
    differ, seconds = [], {"keras_hub": 0.0, "core": 0.0}
    for start in range(0, len(texts), batch):
        chunk = tf.constant(texts[start : start + batch])
        began = time.perf_counter()
        with no_convert_scope():
            expected = tokenizer(chunk).to_list()
        seconds["keras_hub"] += time.perf_counter() - began
        began = time.perf_counter()
        got = core.tokenize(chunk).to_list()
        seconds["core"] += time.perf_counter() - began
        differ += [
            (t, e, g)
            for t, e, g in zip(texts[start : start + batch], expected, got, strict=True)
            if e != g
        ]
    return differ, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=40, help="every n-th WordNet gloss")
    args = parser.parse_args()
    glosses = [str(t) for t in load_wordnet_glosses(include_lemmas=True)[0][:: args.step]]
    sweep = unicode_sweep()
    nfd = [d for t in sweep if (d := unicodedata.normalize("NFD", t)) != t]
    tokenizers = {
        "MiniLM": keras_hub.models.BertTokenizer.from_preset(resolve("all-minilm-l6-v2")),
        "tiny": tlkeras.get_backbone("bert", weights=None, sequence_length=16).tokenizer,
    }
    for name, tokenizer in tokenizers.items():
        corpora = (("WordNet glosses", glosses), ("Unicode sweep", sweep), ("decomposed", nfd))
        for corpus, texts in corpora:
            differ, seconds = mismatches(tokenizer, texts)
            print(
                f"{name:6s} {corpus:15s}: {len(differ)} of {len(texts)} strings differ "
                f"(keras-hub {seconds['keras_hub']:.1f} s, core TF eager {seconds['core']:.1f} s)"
            )
            for text, expected, got in differ[:5]:
                points = " ".join(f"U+{ord(c):04X}" for c in text[1:2])
                print(f"    {text!r} ({points}): keras-hub {expected} core {got}")


if __name__ == "__main__":
    main()
