"""`tiny_vgg`: a small VGG-style CNN, returned as a plain `keras.Model`.

tlkeras wraps any factory that returns a functional `keras.Model` whose output
is a feature tensor, deriving layer groups (one per resolution stage) from its
layers and the modality from its inputs (declared too, in
`tlkeras_backbones.toml`). Factories receive the user's backbone arguments and
accept `**kwargs`.
"""

import keras


def tiny_vgg(input_shape=(32, 32, 3), weights=None, width=16, **kwargs):
    """Three conv stages of `width`, `2 * width`, `4 * width` filters.

    Args:
        input_shape: `(height, width, channels)`, pixels in [0, 255].
            Defaults to `(32, 32, 3)`.
        weights: `None` or a path to a `.weights.h5` saved from this backbone.
            Defaults to `None`.
        width: filters of the first stage. Defaults to `16`.
    """
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    for stage, filters in enumerate((width, 2 * width, 4 * width)):
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"stage{stage}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"stage{stage}_bn")(x)
        x = keras.layers.ReLU(name=f"stage{stage}_relu")(x)
        x = keras.layers.MaxPooling2D(name=f"stage{stage}_pool")(x)
    model = keras.Model(inputs, x, name="tiny_vgg")
    if weights is not None:
        model.load_weights(weights)
    return model
