"""A keras-hub text transformer with its tokenizer attached: raw strings in, tokens out."""

import os

import keras
import numpy as np

from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.backbone import trainable_by_nature
from tlkeras.saving import replacing_directory

EXAMPLE_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Transfer learning reuses what a model already knows.",
    "A short one.",
    "Keras 3 runs on TensorFlow, JAX and PyTorch.",
)
# Layers of a keras-hub encoder block that LoRA adapts: attention and feed-forward projections.
_LORA_TYPES = (keras.layers.Dense, keras.layers.EinsumDense)


@keras.saving.register_keras_serializable(package="tlkeras")
class TransformerBackbone(Backbone):
    """Strings -> tokenizer -> packer -> keras-hub encoder -> token sequence.

    The features are the token sequence `(batch, sequence_length, hidden)`
    whose Keras mask marks the real tokens, so `tlkeras.build` pools it for
    sequence heads (`pooling="avg"`: mean over real tokens, `"max"`, or
    `"cls"`: the first token; `"last"`: the last real token, for causal
    models) and hands it whole to token heads. Layer groups are the
    embeddings, then each transformer block; keras-hub's pooler dense (unused:
    pooling is the model's) shares the last block's group, and GPT-2's final
    layer norm is a group of its own.

    Built by the `bert`, `distilbert`, `roberta` and `gpt2` factories; use those.

    Args:
        feedforward_activation: an activation name that replaces the
            feed-forward activation of every encoder block, e.g. `"gelu"`
            (exact) for Hugging Face BERT checkpoints, which keras-hub would
            otherwise run with its approximate GELU. Defaults to `None` (keep
            keras-hub's).
        **kwargs: passed to `tlkeras.Backbone`.

    Example:

    ```python
    backbone = tlkeras.get_backbone("bert", weights="all-minilm-l6-v2")
    backbone.tokenize(["Hello world"])["token_ids"][0, :4]
    ```
    """

    def __init__(self, *args, feedforward_activation=None, **kwargs):
        kwargs.setdefault("modality", "text")
        super().__init__(*args, **kwargs)
        self.feedforward_activation = feedforward_activation
        if feedforward_activation is not None:
            for block in self.encoder_blocks:
                block.activation = keras.activations.get(feedforward_activation)
                block._feedforward_intermediate_dense.activation = block.activation

    # === Parts ===
    @property
    def packer(self):
        """The `TokenPacker` layer: strings -> token ids and padding mask."""
        return self.get_layer("token_packer")

    @property
    def tokenizer(self):
        """The keras-hub tokenizer (strings -> token ids)."""
        return self.packer.tokenizer

    @property
    def encoder(self):
        """The keras-hub backbone inside (its `from_preset` counterpart)."""
        return self.get_layer("encoder")

    @property
    def sequence_length(self):
        return self.packer.sequence_length

    @property
    def encoder_blocks(self):
        return [
            layer for layer in self.encoder.layers if layer.name.startswith("transformer_layer")
        ]

    def tokenize(self, texts):
        """Token ids and padding mask exactly as the backbone sees them (NumPy)."""
        token_ids, padding_mask = self.packer(np.asarray(texts, dtype=object))
        return {
            "token_ids": keras.ops.convert_to_numpy(token_ids),
            "padding_mask": keras.ops.convert_to_numpy(padding_mask),
        }

    def save_to_preset(self, directory):
        """Writes the transformer and tokenizer as a keras-hub preset folder.

        The folder is what the backbone's factory reads back with
        `weights=directory` (and keras-hub's own `from_preset`), e.g. after
        `tlkeras.text.continue_pretraining`. It is written under a temporary
        name and renamed into place, so a reader never sees half a preset.
        `sequence_length` is not part of a keras-hub preset: pass it again.

        Args:
            directory: the preset folder to create; an existing one is replaced.

        Returns:
            The absolute path of the preset folder.

        Example:

        ```python
        backbone.save_to_preset("presets/gpt2_glosses")
        model = tlkeras.build("gpt2", weights="presets/gpt2_glosses", num_classes=45)
        ```
        """
        directory = os.path.abspath(os.fspath(directory))
        with replacing_directory(directory) as staging:
            self.encoder.save_to_preset(staging)
            self.tokenizer.save_to_preset(staging)
        return directory

    def lora_targets(self):
        """The attention and feed-forward projections of every encoder block."""
        return projection_layers(self.encoder_blocks)

    # === Features ===
    def example_inputs(self, batch_size=2, seed=0):
        return example_texts(batch_size, seed)

    # === Config ===
    def get_config(self):
        config = super().get_config()
        config.update(feedforward_activation=self.feedforward_activation)
        return config


def projection_layers(blocks):
    """The Dense / EinsumDense layers inside transformer `blocks`: what LoRA adapts."""
    return [
        layer
        for block in blocks
        for layer in block._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, _LORA_TYPES)
    ]


def example_texts(batch_size=2, seed=0):
    """A string tensor of English sentences (Keras' data adapters take no NumPy object arrays)."""
    import tensorflow as tf

    picks = np.random.default_rng(seed).integers(0, len(EXAMPLE_TEXTS), batch_size)
    return tf.constant([EXAMPLE_TEXTS[i] for i in picks])


def transformer_layer_groups(encoder, final_norm_group=False):
    """Embeddings, then one group per block; later weighted layers join the last block.

    With `final_norm_group`, the weighted layers after the last block (a
    pre-LN decoder's final layer norm) form a group of their own instead.
    """
    weighted = [layer for layer in encoder.layers if trainable_by_nature([layer])]
    groups = [[]]
    for layer in weighted:
        if layer.name.startswith("transformer_layer"):
            groups.append([layer.name])
        elif final_norm_group and len(groups) > 1 and groups[-1][0].startswith("transformer_layer"):
            groups.append([layer.name])
        else:
            groups[-1].append(layer.name)
    return [group for group in groups if group]


def assemble(
    encoder,
    tokenizer,
    sequence_length,
    name,
    weights_source,
    feedforward_activation,
    final_norm_group=False,
):
    """Wires strings -> tokenizer -> packer -> `encoder` into a `TransformerBackbone`."""
    from tlkeras.layers.padding_mask import PaddingMask
    from tlkeras.layers.token_packer import TokenPacker

    encoder.name = "encoder"
    if encoder.max_sequence_length < sequence_length:
        raise ValueError(
            f"sequence_length exceeds the encoder's max_sequence_length "
            f"({encoder.max_sequence_length}). Received: sequence_length={sequence_length}"
        )
    packer = TokenPacker(tokenizer, sequence_length, name="token_packer")
    # === Functional Model ===
    text = keras.Input(shape=(), dtype="string", name="text")
    token_ids, padding_mask = packer(text)
    encoder_inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
    if "segment_ids" in encoder.input:
        encoder_inputs["segment_ids"] = keras.ops.zeros_like(token_ids)
    outputs = encoder(encoder_inputs)
    sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
    features = PaddingMask(name="token_features")([sequence, padding_mask])
    return TransformerBackbone(
        inputs=text,
        outputs=features,
        layer_groups=transformer_layer_groups(encoder, final_norm_group),
        weights_source=weights_source,
        feedforward_activation=feedforward_activation,
        name=name,
    )
