"""SimCLR: contrastive pre-training of an image backbone on unlabeled images."""

import keras
from keras import ops

from tlkeras.pretrain.image_augmentation import ImageAugmentation
from tlkeras.pretrain.nt_xent import contrastive_accuracy
from tlkeras.pretrain.nt_xent import nt_xent


@keras.saving.register_keras_serializable(package="tlkeras")
class SimCLR(keras.Model):
    """Contrastive pre-training (SimCLR, Chen et al. 2020) of an image backbone.

    Each step makes two random views of every image of the batch with
    `augmentation` (Keras preprocessing layers, inside the graph), embeds both
    in one backbone pass (BatchNorm sees both views), pools the features,
    maps them with a two-layer projection head and minimises the NT-Xent loss:
    the two views of an image are pulled together, the `2 * (batch - 1)`
    other views of the batch pushed away, so larger batches give more
    negatives. `fit` takes batches of images with no targets and reports
    `loss` and `contrastive_accuracy` (how often the positive is the most
    similar view; chance is `1 / (2 * batch - 1)`). Only the backbone is
    transferred afterwards; the projection head is discarded.

    Args:
        backbone: a `tlkeras.Backbone` (or functional `keras.Model`) taking
            pixels in `[0, 255]`.
        augmentation: a layer making one random view per call. Defaults to
            `None` (`ImageAugmentation(seed=seed)`).
        projection_dim: output width of the projection head. Defaults to `128`.
        hidden_dim: hidden width of the projection head. Defaults to `256`.
        temperature: NT-Xent temperature, `> 0`. Defaults to `0.1`.
        seed: seed of the default augmentation. Defaults to `None`.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    simclr = SimCLR(tlkeras.get_backbone("efficientnet_lite0", input_shape=(64, 64, 3)))
    simclr.compile(optimizer="adam")
    simclr.fit(unlabeled_images, batch_size=256, epochs=10)
    features = simclr.backbone(images)
    ```
    """

    def __init__(
        self,
        backbone,
        augmentation=None,
        projection_dim=128,
        hidden_dim=256,
        temperature=0.1,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not float(temperature) > 0.0:
            raise ValueError(f"temperature must be > 0. Received: temperature={temperature!r}")
        for name, value in [("projection_dim", projection_dim), ("hidden_dim", hidden_dim)]:
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
        self.backbone = backbone
        self.temperature = float(temperature)
        self.projection_dim, self.hidden_dim = int(projection_dim), int(hidden_dim)
        self.seed = seed

        # === Layers ===
        self.augmentation = augmentation or ImageAugmentation(seed=seed, name="augmentation")
        self.pool = (
            keras.layers.GlobalAveragePooling2D(name="pool")
            if len(backbone.output.shape) == 4
            else keras.layers.Identity(name="pool")
        )
        self.projection = keras.Sequential(
            [
                keras.layers.Dense(self.hidden_dim, use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
                keras.layers.Dense(self.projection_dim),
            ],
            name="projection",
        )
        self.accuracy_tracker = keras.metrics.Mean(name="contrastive_accuracy")

    def views(self, images):
        """Two independent random views of `images`, stacked: `(2 * batch, ...)`."""
        return ops.concatenate(
            [self.augmentation(images, training=True), self.augmentation(images, training=True)],
            axis=0,
        )

    def embed(self, images, training=False):
        """Projections `(batch, projection_dim)` of `images` (no augmentation)."""
        features = self.pool(self.backbone(images, training=training))
        return self.projection(features, training=training)

    def call(self, images, training=False):
        return self.embed(self.views(images), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        z1, z2 = ops.split(y_pred, 2, axis=0)
        self.accuracy_tracker.update_state(contrastive_accuracy(z1, z2))
        return nt_xent(z1, z2, self.temperature)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "augmentation": keras.saving.serialize_keras_object(self.augmentation),
            "projection_dim": self.projection_dim,
            "hidden_dim": self.hidden_dim,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        for key in ("backbone", "augmentation"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
