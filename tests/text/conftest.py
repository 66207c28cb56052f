import os

import pytest

# No test may reach a model hub: a `hf://` preset otherwise retries ~23 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("KAGGLE_KEY", "")

# Byte-level BPE rules in GPT-2's format ("Ġ" is a leading space), lowest rank first.
TINY_MERGES = ["t h", "th e", "Ġ the", "a t", "Ġ c", "Ġc at", "Ġ s", "Ġs at"]


def _tiny_byte_pair_vocabulary():
    """`(vocabulary, merges)`: end-of-text, every lowercase letter and "Ġ", then each merge's product.

    Any lowercase text with spaces tokenizes; "the", " the", " cat", " sat" are one token each.
    """
    symbols = ["<|endoftext|>", "Ġ", *"abcdefghijklmnopqrstuvwxyz"]
    symbols += ["".join(rule.split()) for rule in TINY_MERGES]
    return {symbol: index for index, symbol in enumerate(symbols)}, list(TINY_MERGES)


@pytest.fixture(scope="session")
def tiny_gpt2_preset(tmp_path_factory):
    """A keras-hub preset folder of a random 2-block, 32-wide GPT-2 over the tiny vocabulary."""
    import keras
    import keras_hub

    vocabulary, merges = _tiny_byte_pair_vocabulary()
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("tiny_gpt2")
    keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocabulary),
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        dropout=0.0,
        max_sequence_length=32,
    ).save_to_preset(folder)
    keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges).save_to_preset(folder)
    return str(folder)
