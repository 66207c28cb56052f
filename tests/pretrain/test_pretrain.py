import os

import keras
import numpy as np
import pytest
from conftest import tiny_backbone

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.pretrain import register_objective
from tlkeras.pretrain.epoch_checkpoint import STATE_FILE

SMALL_HEAD = dict(projection_dim=8, hidden_dim=16)


class Interruption(Exception):
    pass


class InterruptAfter(keras.callbacks.Callback):
    """Crashes the run at the end of an epoch, after its checkpoint was written."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interruption(f"interrupted after epoch {epoch + 1}")


def _run(images, epochs, checkpoint_dir=None, callbacks=None, seed=3):
    return tlkeras.pretrain(
        tiny_backbone(seed=seed),
        images,
        epochs=epochs,
        batch_size=16,
        checkpoint_dir=checkpoint_dir,
        seed=seed,
        callbacks=callbacks,
        verbose=0,
        **SMALL_HEAD,
    )


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(images, tmp_path):
    uninterrupted = _run(images, epochs=2)
    with pytest.raises(Interruption):
        _run(images, epochs=2, checkpoint_dir=tmp_path, callbacks=[InterruptAfter(0)])
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.weights.h5", STATE_FILE]
    assert '"epoch": 1' in (tmp_path / STATE_FILE).read_text()
    resumed = _run(images, epochs=2, checkpoint_dir=tmp_path)
    for a, b in zip(uninterrupted.weights, resumed.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    history = resumed.pretraining_info["history"]
    assert history == uninterrupted.pretraining_info["history"]
    assert len(history["loss"]) == 2 and len(history["contrastive_accuracy"]) == 2
    assert '"epoch": 2' in (tmp_path / STATE_FILE).read_text()
    # Training moved the weights, so the equality above is not vacuous.
    initial = tiny_backbone(seed=3).get_layer("conv0").kernel
    assert np.abs(_numpy(initial) - _numpy(resumed.get_layer("conv0").kernel)).max() > 1e-4
    # Resuming with other settings is refused before any training.
    with pytest.raises(ConfigurationError, match=r"batch_size: saved 16, received 8"):
        tlkeras.pretrain(
            tiny_backbone(), images, epochs=3, batch_size=8, checkpoint_dir=tmp_path, seed=3,
            verbose=0, **SMALL_HEAD,
        )  # fmt: skip


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable)


def test_an_unknown_objective_names_the_value_and_the_choices(images):
    with pytest.raises(ConfigurationError) as error:
        tlkeras.pretrain(tiny_backbone(), images, objective="simclrr", epochs=1)
    assert "Received: objective='simclrr'; expected one of 'contrastive', 'reconstruction'" in str(
        error.value
    )


def test_grey_images_feed_an_rgb_backbone_of_another_size(images):
    backbone = tiny_backbone(input_shape=(16, 16, 3))
    before = keras.ops.convert_to_numpy(backbone.get_layer("conv0").kernel).copy()
    trained = tlkeras.pretrain(
        backbone, images, objective="reconstruction", epochs=1, batch_size=16, verbose=0
    )
    assert trained is backbone
    assert np.abs(keras.ops.convert_to_numpy(backbone.get_layer("conv0").kernel) - before).max() > 0
    assert trained.pretraining_info["objective"] == "reconstruction"


def test_another_modality_plugs_its_objective_into_the_registry():
    import tensorflow as tf

    @register_objective("mean_matching", modality="other")
    class MeanMatching(keras.Model):
        """Features of a sequence pulled towards its mean: a stand-in for a text objective."""

        def __init__(self, backbone, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.backbone = backbone

        def call(self, x, training=False):
            return self.backbone(x, training=training)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return keras.ops.mean(keras.ops.square(y_pred - keras.ops.mean(x)))

    inputs = keras.Input((5,))
    backbone = tlkeras.Backbone(
        inputs=inputs, outputs=keras.layers.Dense(3)(inputs), modality="other"
    )
    data = tf.data.Dataset.from_tensor_slices(np.ones((32, 5), "float32")).batch(8)
    trained = tlkeras.pretrain(backbone, data, objective="mean_matching", epochs=2, verbose=0)
    losses = trained.pretraining_info["history"]["loss"]
    assert len(losses) == 2 and losses[1] < losses[0]
    with pytest.raises(ConfigurationError, match=r"Received: unlabeled_data of type ndarray"):
        tlkeras.pretrain(backbone, np.ones((32, 5)), objective="mean_matching", epochs=1)
