import keras
import numpy as np
import pytest

from tlkeras.pretrain import ImageAugmentation


def test_two_calls_give_two_different_views_inside_the_pixel_range(images):
    augment = ImageAugmentation(seed=1)
    batch = images[..., None].astype("float32")
    view_1 = keras.ops.convert_to_numpy(augment(batch, training=True))
    view_2 = keras.ops.convert_to_numpy(augment(batch, training=True))
    assert view_1.shape == batch.shape
    # Every image differs between its two views, and from the original.
    assert (np.abs(view_1 - view_2).reshape(len(batch), -1).max(axis=1) > 1.0).all()
    assert (np.abs(view_1 - batch).reshape(len(batch), -1).max(axis=1) > 1.0).all()
    assert view_1.min() >= 0.0 and view_1.max() <= 255.0


def test_inference_leaves_images_unchanged(images):
    batch = images[..., None].astype("float32")
    out = ImageAugmentation(seed=1)(batch, training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), batch)


def test_rgb_images_get_the_colour_transformations_and_the_config_round_trips():
    augment = ImageAugmentation(crop=0.2, grayscale=0.5, seed=3)
    rgb = np.random.default_rng(0).uniform(0, 255, size=(4, 12, 12, 3)).astype("float32")
    assert tuple(augment(rgb, training=True).shape) == (4, 12, 12, 3)
    clone = ImageAugmentation.from_config(augment.get_config())
    assert clone.get_config() == augment.get_config()
    assert len(clone.colour_layers) == 2


def test_a_rate_outside_the_unit_interval_is_refused_by_name():
    with pytest.raises(ValueError, match=r"Received: crop=1.5"):
        ImageAugmentation(crop=1.5)
