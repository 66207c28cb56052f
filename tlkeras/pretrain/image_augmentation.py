"""ImageAugmentation: the random views of contrastive pre-training, as Keras layers in the graph."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tlkeras")
class ImageAugmentation(keras.layers.Layer):
    """Random crop, shift, flip and colour jitter of a batch of images (SimCLR's views).

    Every transformation is a Keras preprocessing layer drawing per-image
    random parameters, so the views are made inside the training graph (on the
    accelerator when there is one), never in a Python loop. Calling the layer
    twice on one batch gives two independent views. Pixels stay in
    `value_range`. Colour transformations (saturation, grayscale) apply to
    3-channel images only.

    Args:
        crop: largest zoom-in, as a share of the side (a random resized crop
            keeping `1 - crop` of the side at most). Defaults to `0.4`.
        translation: largest shift, as a share of the side. Defaults to `0.15`.
        flip: `"horizontal"`, `"vertical"`, `"horizontal_and_vertical"` or
            `None`. Defaults to `"horizontal"`.
        brightness: largest brightness change, as a share of the value
            range. Defaults to `0.4`.
        contrast: largest contrast change factor. Defaults to `0.4`.
        saturation: saturation jitter of RGB images, in `[0, 1]`. Defaults to `0.4`.
        grayscale: probability that an RGB image is turned grey. Defaults to `0.2`.
        value_range: `(low, high)` of the pixels. Defaults to `(0, 255)`.
        seed: seed of the random draws. Defaults to `None`.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    augment = ImageAugmentation(crop=0.3, seed=0)
    view_1, view_2 = augment(images, training=True), augment(images, training=True)
    ```
    """

    def __init__(
        self,
        crop=0.4,
        translation=0.15,
        flip="horizontal",
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        grayscale=0.2,
        value_range=(0, 255),
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in [
            ("crop", crop),
            ("translation", translation),
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
            ("grayscale", grayscale),
        ]:
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{name} must be in [0, 1). Received: {name}={value!r}")
        self.crop, self.translation, self.flip = float(crop), float(translation), flip
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.grayscale = float(saturation), float(grayscale)
        self.value_range = tuple(float(v) for v in value_range)
        self.seed = seed

        # === Layers ===
        def seed_of(index):
            return None if seed is None else int(seed) + index

        shared = []
        if self.crop > 0:
            shared.append(keras.layers.RandomZoom((-self.crop, 0.0), seed=seed_of(0)))
        if self.translation > 0:
            shared.append(
                keras.layers.RandomTranslation(
                    self.translation, self.translation, fill_mode="constant", seed=seed_of(1)
                )
            )
        if flip is not None:
            shared.append(keras.layers.RandomFlip(flip, seed=seed_of(2)))
        if self.brightness > 0:
            shared.append(
                keras.layers.RandomBrightness(
                    self.brightness, value_range=self.value_range, seed=seed_of(3)
                )
            )
        if self.contrast > 0:
            shared.append(
                keras.layers.RandomContrast(
                    self.contrast, value_range=self.value_range, seed=seed_of(4)
                )
            )
        colour = []
        if self.saturation > 0:
            colour.append(
                keras.layers.RandomSaturation(
                    self.saturation, value_range=self.value_range, seed=seed_of(5)
                )
            )
        if self.grayscale > 0:
            colour.append(keras.layers.RandomGrayscale(self.grayscale, seed=seed_of(6)))
        self.shared_layers, self.colour_layers = shared, colour

    def build(self, input_shape):
        # The sublayers hold no weights, only random seed states.
        for layer in self.shared_layers + self.colour_layers:
            layer.build(input_shape)

    def call(self, images, training=True):
        if not training:
            return images
        x = ops.cast(images, "float32")
        for layer in self.shared_layers:
            x = layer(x, training=True)
        if x.shape[-1] == 3:
            for layer in self.colour_layers:
                x = layer(x, training=True)
        return ops.clip(x, *self.value_range)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "crop": self.crop,
            "translation": self.translation,
            "flip": self.flip,
            "brightness": self.brightness,
            "contrast": self.contrast,
            "saturation": self.saturation,
            "grayscale": self.grayscale,
            "value_range": list(self.value_range),
            "seed": self.seed,
        }
