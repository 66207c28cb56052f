"""ViT through keras-hub: raw pixels in, patch-token sequence out."""

import keras

from tlkeras.backbones.backbone import Backbone
from tlkeras.backbones.transformer_backbone import projection_layers

# ViT (Dosovitskiy et al.) as keras-hub's presets expect it: pixels scaled to [-1, 1].
VIT_MEAN, VIT_STD = 0.5, 0.5
DEFAULT_IMAGE_SHAPE = (224, 224, 3)
SMALL_ARCHITECTURE = {
    "patch_size": 8,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 64,
    "mlp_dim": 128,
}


@keras.saving.register_keras_serializable(package="tlkeras")
class VisionTransformerBackbone(Backbone):
    """Pixels in `[0, 255]` -> normalisation -> keras-hub ViT -> token sequence.

    The features are `(batch, 1 + patches, hidden)`: the class token first,
    so `tlkeras.build(..., pooling="cls")` reads it and `"avg"` averages
    every token. Layer groups: patch and position embeddings, then each
    encoder block (the final LayerNorm joins the last). LoRA adapts the
    attention and MLP projections of the blocks.

    Built by the `vit` factory.
    """

    @property
    def encoder_blocks(self):
        return _blocks(self.get_layer("encoder"))

    def lora_targets(self):
        """The attention and MLP projections of every encoder block."""
        return projection_layers(self.encoder_blocks)


def vit(weights="vit_base_patch16_224_imagenet", input_shape=None, name="vit", **architecture):
    """ViT taking raw pixels in `[0, 255]`.

    Args:
        weights: a keras-hub ViT preset name (downloaded when online), a local
            keras-hub preset directory, or `None` for random weights.
            Defaults to `"vit_base_patch16_224_imagenet"`.
        input_shape: a fixed image shape (ViT learns one position embedding
            per patch, so no dimension may be `None`); a preset fixes it.
            Defaults to `None`: the preset's, or `(224, 224, 3)` with
            `weights=None`.
        name: the backbone's name. Defaults to `"vit"`.
        **architecture: keras-hub `ViTBackbone` arguments (`patch_size`,
            `num_layers`, `hidden_dim`, ...) with `weights=None`; defaults to
            a small ViT (patch 8, 2 blocks, 64 wide).

    Example:

    ```python
    model = tlkeras.build("vit", weights=None, input_shape=(32, 32, 3), num_classes=10,
                          pooling="cls")
    ```
    """
    import keras_hub

    from tlkeras.errors import ConfigurationError
    from tlkeras.layers.image_normalization import ImageNormalization
    from tlkeras.weights import text_presets

    if weights is None:
        input_shape = DEFAULT_IMAGE_SHAPE if input_shape is None else tuple(input_shape)
        if None in input_shape:
            raise ConfigurationError(
                "ViT needs a fixed image size: it learns one position embedding per patch. "
                f"Received: input_shape={input_shape!r}; pass e.g. "
                f"input_shape={DEFAULT_IMAGE_SHAPE!r} and resize the images to it."
            )
        encoder = keras_hub.models.ViTBackbone(
            image_shape=input_shape, **{**SMALL_ARCHITECTURE, **architecture}
        )
    elif architecture:
        raise ConfigurationError(
            "Architecture arguments apply with weights=None; a preset fixes the "
            f"architecture. Received: {sorted(architecture)} with weights={weights!r}"
        )
    else:
        encoder = keras_hub.models.ViTBackbone.from_preset(text_presets.resolve(weights))
        expected = tuple(encoder.input.shape[1:])
        if input_shape is not None and tuple(input_shape) != expected:
            raise ConfigurationError(
                f"The ViT preset {weights!r} takes {expected[0]}x{expected[1]} images (its "
                f"position embeddings fix the size). Received: input_shape={tuple(input_shape)!r}; "
                f"pass input_shape={expected!r} or leave it out, and resize the images to it."
            )
    encoder.name = "encoder"
    # === Functional Model ===
    pixels = keras.Input(shape=encoder.input.shape[1:], name="pixels")
    x = ImageNormalization(mean=VIT_MEAN, std=VIT_STD, name="normalization")(pixels)
    features = encoder(x)
    groups = [["vit_patching_and_embedding"]] + [[block.name] for block in _blocks(encoder)]
    groups[-1].append("ln")
    return VisionTransformerBackbone(
        inputs=pixels,
        outputs=features,
        modality="image",
        layer_groups=groups,
        weights_source=None if weights is None else str(weights),
        name=name,
    )


vit.modality = "image"


def _blocks(encoder):
    sublayers = encoder.get_layer("vit_encoder")._flatten_layers(
        include_self=False, recursive=False
    )
    return [layer for layer in sublayers if layer.name.startswith("transformer_block")]
