"""MaskedReconstruction: masked-image / denoising autoencoder pre-training of an image backbone."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tlkeras")
class MaskedReconstruction(keras.Model):
    """Pre-trains an image backbone to fill in hidden patches (or remove noise).

    Each step hides a random `mask_ratio` share of `patch_size` patches of
    every image (filled with the middle of `value_range`), optionally adds
    Gaussian noise, and a light decoder (a 1x1 conv, a bilinear resize to
    the input size, a 3x3 conv and a 1x1 conv) predicts the clean pixels from
    the backbone's features. The loss is the mean squared error on pixels
    scaled to `[0, 1]`, over the hidden pixels only (as in masked
    autoencoders, He et al. 2022), or over every pixel when `mask_ratio` is
    0 (a denoising autoencoder, Vincent et al. 2008). Only the backbone is
    transferred afterwards; the decoder is discarded.

    Args:
        backbone: a `tlkeras.Backbone` (or functional `keras.Model`) taking
            pixels in `value_range`, outputting feature maps or vectors.
        mask_ratio: share of patches hidden per image, in `[0, 1)`. Defaults to `0.5`.
        patch_size: side of a square patch, in pixels. Defaults to `4`.
        noise_stddev: standard deviation of added Gaussian noise, as a share
            of the value range. Defaults to `0.0`.
        decoder_width: channels of the decoder. Defaults to `64`.
        value_range: `(low, high)` of the pixels. Defaults to `(0, 255)`.
        seed: seed of the masks and noise. Defaults to `None`.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    mae = MaskedReconstruction(backbone, mask_ratio=0.6, patch_size=4)
    mae.compile(optimizer="adam")
    mae.fit(unlabeled_images, batch_size=128, epochs=10)
    ```
    """

    def __init__(
        self,
        backbone,
        mask_ratio=0.5,
        patch_size=4,
        noise_stddev=0.0,
        decoder_width=64,
        value_range=(0, 255),
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= float(mask_ratio) < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1). Received: mask_ratio={mask_ratio!r}")
        if float(mask_ratio) == 0.0 and not float(noise_stddev) > 0.0:
            raise ValueError(
                "With mask_ratio=0 there is nothing to reconstruct; give noise_stddev > 0 "
                f"for a denoising autoencoder. Received: mask_ratio={mask_ratio!r}, "
                f"noise_stddev={noise_stddev!r}"
            )
        if int(patch_size) < 1:
            raise ValueError(f"patch_size must be >= 1. Received: patch_size={patch_size!r}")
        image_shape = tuple(backbone.input_shape[1:])
        if len(image_shape) != 3 or None in image_shape:
            raise ValueError(
                "MaskedReconstruction needs a backbone with a fixed (height, width, channels) "
                f"input. Received: input_shape={backbone.input_shape}; build the backbone with "
                "one (tlkeras.get_backbone(name, input_shape=(32, 32, 3))), or give a plugin's "
                "factory a fixed default input_shape"
            )
        self.backbone = backbone
        self.mask_ratio, self.patch_size = float(mask_ratio), int(patch_size)
        self.noise_stddev, self.decoder_width = float(noise_stddev), int(decoder_width)
        self.value_range = tuple(float(v) for v in value_range)
        self.seed = seed
        self.image_shape = image_shape
        self.seed_generator = keras.random.SeedGenerator(seed)

        # === Layers ===
        height, width, channels = image_shape
        entry = []
        if len(backbone.output.shape) == 2:
            side_h, side_w = max(1, height // 4), max(1, width // 4)
            entry = [
                keras.layers.Dense(side_h * side_w * self.decoder_width, activation="relu"),
                keras.layers.Reshape((side_h, side_w, self.decoder_width)),
            ]
        self.decoder = keras.Sequential(
            entry
            + [
                keras.layers.Conv2D(self.decoder_width, 1, activation="relu"),
                keras.layers.Resizing(height, width, interpolation="bilinear"),
                keras.layers.Conv2D(self.decoder_width, 3, padding="same", activation="relu"),
                keras.layers.Conv2D(channels, 1),
            ],
            name="decoder",
        )

    def corrupt(self, images):
        """A masked (and noised) copy of `images` and its mask `(batch, h, w, 1)`, 1 = hidden."""
        images = ops.cast(images, "float32")
        low, high = self.value_range
        batch = ops.shape(images)[0]
        height, width, _ = self.image_shape
        grid = (max(1, -(-height // self.patch_size)), max(1, -(-width // self.patch_size)))
        draws = keras.random.uniform((batch, *grid, 1), seed=self.seed_generator)
        mask = ops.cast(draws < self.mask_ratio, "float32")
        mask = ops.image.resize(mask, (height, width), interpolation="nearest")
        corrupted = images * (1.0 - mask) + 0.5 * (low + high) * mask
        if self.noise_stddev > 0:
            noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
            corrupted = corrupted + self.noise_stddev * (high - low) * noise
        return ops.clip(corrupted, low, high), mask

    def call(self, images, training=False):
        corrupted, mask = self.corrupt(images)
        features = self.backbone(corrupted, training=training)
        return {"reconstruction": self.decoder(features, training=training), "mask": mask}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        low, high = self.value_range
        target = (ops.cast(x, "float32") - low) / (high - low)
        errors = ops.square(ops.cast(y_pred["reconstruction"], "float32") - target)
        if self.mask_ratio == 0.0:
            return ops.mean(errors)
        mask = y_pred["mask"]
        hidden = ops.sum(mask) * ops.cast(ops.shape(errors)[-1], "float32")
        return ops.sum(errors * mask) / ops.maximum(hidden, 1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "mask_ratio": self.mask_ratio,
            "patch_size": self.patch_size,
            "noise_stddev": self.noise_stddev,
            "decoder_width": self.decoder_width,
            "value_range": list(self.value_range),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
