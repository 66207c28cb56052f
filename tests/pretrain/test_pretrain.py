import os

import keras
import numpy as np
import pytest
from pretrain_helpers import tiny_backbone

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
    # A finished run called again trains no further.
    again = _run(images, epochs=2, checkpoint_dir=tmp_path)
    np.testing.assert_array_equal(_numpy(again.weights[0]), _numpy(resumed.weights[0]))
    assert again.pretraining_info["history"] == history
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


def test_malformed_images_and_tiny_data_are_refused_by_value(images):
    with pytest.raises(ConfigurationError, match=r"Received: \(4, 12\)"):
        tlkeras.pretrain(tiny_backbone(), np.zeros((4, 12)), epochs=1)
    with pytest.raises(ConfigurationError, match=r"Received: 48 examples, batch_size=64"):
        tlkeras.pretrain(tiny_backbone(), images, epochs=1, batch_size=64)


def test_grey_images_feed_an_rgb_backbone_of_another_size(images):
    backbone = tiny_backbone(input_shape=(16, 16, 3))
    before = keras.ops.convert_to_numpy(backbone.get_layer("conv0").kernel).copy()
    trained = tlkeras.pretrain(
        backbone, images, objective="reconstruction", epochs=1, batch_size=16, verbose=0
    )
    assert trained is backbone
    assert np.abs(keras.ops.convert_to_numpy(backbone.get_layer("conv0").kernel) - before).max() > 0
    assert trained.pretraining_info["objective"] == "reconstruction"


def test_another_modality_plugs_its_objective_into_the_registry(monkeypatch):
    import tensorflow as tf

    from tlkeras.pretrain import objectives

    monkeypatch.setattr(objectives, "_OBJECTIVES", dict(objectives._OBJECTIVES))

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
    data = np.random.default_rng(0).normal(size=(32, 5)).astype("float32")
    for unlabeled in (data, tf.data.Dataset.from_tensor_slices(data).batch(8)):
        trained = tlkeras.pretrain(
            backbone, unlabeled, objective="mean_matching", epochs=2, batch_size=8, verbose=0
        )
        losses = trained.pretraining_info["history"]["loss"]
        assert len(losses) == 2 and losses[1] < losses[0]


def _ring_graphs(count, feature_dim=8, seed=0):
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(count):
        n = int(rng.integers(4, 9))
        edges = np.stack([np.arange(n), (np.arange(n) + 1) % n])
        edges = np.concatenate([edges, edges[::-1]], axis=1).astype("int32")
        features = rng.normal(size=(n, feature_dim)).astype("float32")
        graphs.append({"node_features": features, "edge_index": edges})
    return graphs


def test_graph_backbones_pretrain_with_the_gnn_plugin_objectives():
    tlkeras_gnn = pytest.importorskip("tlkeras_gnn")
    from tlkeras.pretrain import list_objectives

    assert list_objectives("graph") == ["attribute_masking", "contrastive"]
    backbone = tlkeras.get_backbone("gin", input_dim=8, hidden_dim=16, weights=None)
    before = [keras.ops.convert_to_numpy(w).copy() for w in backbone.trainable_weights]
    data = tlkeras_gnn.graph_dataset(_ring_graphs(16), batch_size=8, shuffle=True, seed=0)
    trained = tlkeras.pretrain(
        backbone, data, objective="contrastive", epochs=2, verbose=0, projection_dim=16
    )
    assert len(trained.pretraining_info["history"]["loss"]) == 2
    after = [keras.ops.convert_to_numpy(w) for w in trained.trainable_weights]
    assert any(np.abs(a - b).max() > 0 for a, b in zip(before, after, strict=True))


@pytest.mark.slow
def test_continued_simclr_from_imagenet_efficientnet_lite0(images):
    backbone = tlkeras.get_backbone("efficientnet_lite0", input_shape=(32, 32, 3))
    stem = next(layer for layer in backbone.layers if layer.weights)
    before = keras.ops.convert_to_numpy(stem.weights[0]).copy()
    trained = tlkeras.pretrain(backbone, images, epochs=1, batch_size=16, verbose=0)
    after = keras.ops.convert_to_numpy(stem.weights[0])
    # Continued from the ImageNet weights: moved, but only a little in one short epoch.
    assert 0 < np.abs(after - before).max() < 0.1 * np.abs(before).max()
    assert trained.pretraining_info["history"]["contrastive_accuracy"][0] > 1 / 31
