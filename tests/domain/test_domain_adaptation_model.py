import keras
import numpy as np
import pytest
import tensorflow as tf

import tlkeras
import tlkeras.callbacks
import tlkeras.optimizers
from tlkeras.callbacks.domain_adversarial_schedule import DomainAdversarialSchedule
from tlkeras.domain import DomainAdaptationModel
from tlkeras.domain import adapt
from tlkeras.domain import pair_datasets


def _values(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


@pytest.mark.parametrize("method", ["dann", "mmd", "coral", None])
def test_fit_logs_finite_label_and_domain_losses(make_model, method, domains):
    x_source, y_source, x_target, _ = domains
    trainer = adapt(make_model(), method=method, optimizer=keras.optimizers.Adam(1e-2))

    history = trainer.fit(
        pair_datasets((x_source, y_source), x_target, batch_size=16, seed=0),
        epochs=2,
        verbose=0,
        callbacks=[DomainAdversarialSchedule()],
    )

    logs = {name: values[-1] for name, values in history.history.items()}
    expected = {"loss", "accuracy", "label_loss", "domain_loss", "domain_accuracy"}
    expected |= {f"{method}_loss"} if method in ("mmd", "coral") else set()
    assert expected | {"adaptation_weight"} == set(logs)
    assert all(np.isfinite(value) for value in logs.values())
    assert 0.0 <= logs["domain_accuracy"] <= 1.0
    # λ moved step by step inside the train function up to the ramp at p = 1.
    assert history.history["adaptation_weight"] == pytest.approx(
        [2 / (1 + np.exp(-5.0)) - 1, 2 / (1 + np.exp(-10.0)) - 1], rel=1e-5
    )


def _bottleneck_kernel_gradient(trainer, batch):
    x, y = batch
    kernel = trainer.task_model.get_layer("bottleneck").blocks[0][0].kernel
    with tf.GradientTape() as tape:
        y_pred = trainer(x, training=True)
        loss = trainer.compute_loss(x, y, y_pred)
    return tape.gradient(loss, kernel.value).numpy()


@pytest.mark.tensorflow_only("checks the gradient with tf.GradientTape")
def test_features_receive_the_reversed_domain_gradient(make_model, domains):
    x_source, y_source, x_target, _ = domains
    batch = ({"source": x_source[:8], "target": x_target[:8]}, y_source[:8])
    trainer = adapt(make_model(), method="dann", adaptation_weight=0.0)
    kernel = trainer.task_model.get_layer("bottleneck").blocks[0][0].kernel
    # The domain loss's own gradient on the features, with no reversal layer.
    with tf.GradientTape() as tape:
        features = trainer.joint(
            keras.ops.concatenate([batch[0]["source"], batch[0]["target"]]), training=True
        )[1]
        logits = trainer.discriminator(features)
        domains_true = np.concatenate([np.zeros((8, 1)), np.ones((8, 1))]).astype("float32")
        domain_loss = keras.ops.mean(
            keras.losses.binary_crossentropy(domains_true, logits, from_logits=True)
        )
    plain = tape.gradient(domain_loss, kernel.value).numpy()

    label_only = _bottleneck_kernel_gradient(trainer, batch)
    trainer.adaptation_weight = 0.5
    reversed_half = _bottleneck_kernel_gradient(trainer, batch)

    assert np.abs(plain).max() > 1e-4
    np.testing.assert_allclose(reversed_half - label_only, -0.5 * plain, rtol=1e-4, atol=1e-6)


def test_frozen_backbone_stays_put_while_bottleneck_and_discriminator_train(make_model, domains):
    x_source, y_source, x_target, _ = domains
    model = make_model()
    model.freeze()
    trainer = adapt(model, method="dann", optimizer=keras.optimizers.Adam(1e-2))
    backbone_before = _values(model.backbone.weights)
    top_before = _values(model.get_layer("bottleneck").trainable_weights)
    discriminator_before = _values(trainer.discriminator.weights)

    trainer.fit(pair_datasets((x_source, y_source), x_target, batch_size=16), epochs=1, verbose=0)

    after = _values(model.backbone.weights)
    assert all(np.array_equal(a, b) for a, b in zip(backbone_before, after, strict=True))
    top_after = _values(model.get_layer("bottleneck").trainable_weights)
    assert all(not np.array_equal(a, b) for a, b in zip(top_before, top_after, strict=True))
    disc_after = _values(trainer.discriminator.weights)
    assert all(
        not np.array_equal(a, b) for a, b in zip(discriminator_before, disc_after, strict=True)
    )


@pytest.mark.xfail(
    keras.backend.backend() == "jax",
    strict=True,
    reason="on JAX the target-only class is not learned (0.0 accuracy); not investigated yet (issue 17)",
)
def test_a_few_labeled_target_examples_teach_a_target_only_class(make_model):
    # Source holds only class 0; the 8 labeled target examples are class 1.
    rng = np.random.default_rng(1)
    x_source = rng.normal(-2.0, 0.3, size=(64, 3)).astype("float32")
    x_target = rng.normal(2.0, 0.3, size=(64, 3)).astype("float32")
    y_zeros = np.zeros(64, "int32")
    labeled = (x_target[:8], np.ones(8, "int32"))

    def target_predictions(labeled_target):
        model = make_model(seed=0)
        trainer = adapt(model, method=None, optimizer=keras.optimizers.Adam(3e-2))
        train = pair_datasets((x_source, y_zeros), x_target, labeled_target, batch_size=16)
        trainer.fit(train, epochs=5, verbose=0)
        return model.predict(x_target[8:], verbose=0).argmax(-1)

    assert target_predictions(None).mean() == 0.0
    assert target_predictions(labeled).mean() == 1.0


def test_validation_pairs_report_label_free_domain_accuracy(make_model, domains):
    x_source, y_source, x_target, _ = domains
    trainer = adapt(make_model(), method="dann")
    train = pair_datasets((x_source[:48], y_source[:48]), x_target[:48], batch_size=16)
    held_out = pair_datasets(
        (x_source[48:], y_source[48:]), x_target[48:], batch_size=16, shuffle=False
    )

    history = trainer.fit(train, validation_data=held_out, epochs=1, verbose=0)

    assert 0.0 <= history.history["val_domain_accuracy"][0] <= 1.0


def test_task_model_and_wrapper_round_trip_through_keras_files(make_model, domains, tmp_path):
    x_source, y_source, x_target, _ = domains
    trainer = adapt(make_model(), method="mmd", adaptation_weight=0.3)
    trainer.fit(pair_datasets((x_source, y_source), x_target, batch_size=16), epochs=1, verbose=0)
    expected = trainer.task_model.predict(x_target, verbose=0)

    trainer.task_model.save(tmp_path / "task.keras")
    trainer.save(tmp_path / "wrapper.keras")
    task = keras.models.load_model(tmp_path / "task.keras")
    wrapper = keras.models.load_model(tmp_path / "wrapper.keras")

    assert isinstance(task, tlkeras.TransferModel)
    np.testing.assert_allclose(task.predict(x_target, verbose=0), expected, atol=1e-6)
    assert isinstance(wrapper, DomainAdaptationModel)
    assert wrapper.method == "mmd" and wrapper.adaptation_weight == pytest.approx(0.3)
    np.testing.assert_allclose(wrapper.task_model.predict(x_target, verbose=0), expected, atol=1e-6)


def test_errors_name_the_bad_value(make_model):
    with pytest.raises(ValueError, match="Received: method='adda'"):
        DomainAdaptationModel(make_model(), method="adda")
    with pytest.raises(ValueError, match="Received: features='neck'"):
        DomainAdaptationModel(make_model(), features="neck")
    with pytest.raises(ValueError, match="Received: adaptation_weight=-1"):
        DomainAdaptationModel(make_model(), adaptation_weight=-1)
    trainer = adapt(make_model())
    with pytest.raises(ValueError, match="Received: x with"):
        trainer(np.zeros((2, 3), "float32"))


@pytest.mark.xfail(
    keras.backend.backend() == "jax",
    strict=True,
    reason="JAX rebuilds the optimizer when what trains changes; the wrapper's step then sees the old variable list",
)
def test_freezing_between_fits_takes_effect_with_numpy_dict_inputs(make_model, domains):
    x_source, y_source, x_target, _ = domains
    model = make_model()
    trainer = adapt(model, method="dann", optimizer=keras.optimizers.Adam(1e-2))
    x = {"source": x_source, "target": x_target}
    trainer.fit(x, y_source, batch_size=16, epochs=1, verbose=0)

    model.freeze()
    frozen = _values(model.backbone.weights)
    trainer.fit(x, y_source, batch_size=16, epochs=1, verbose=0)
    unchanged = _values(model.backbone.weights)
    model.unfreeze()
    trainer.fit(x, y_source, batch_size=16, epochs=1, verbose=0)
    moved = _values(model.backbone.weights)

    assert all(np.array_equal(a, b) for a, b in zip(frozen, unchanged, strict=True))
    assert all(not np.array_equal(a, b) for a, b in zip(frozen, moved, strict=True))


@pytest.mark.xfail(
    keras.backend.backend() == "jax",
    strict=True,
    reason="on JAX a freezing change inside the wrapper's fit() needs a new compile(): optimizer slots pair with trainable variables by position",
)
def test_gradual_unfreezing_and_layerwise_rates_drive_the_wrapper(make_model, domains):
    x_source, y_source, x_target, _ = domains
    model = make_model()
    model.freeze()
    optimizer = tlkeras.optimizers.layerwise(keras.optimizers.Adam(1e-2), model)
    trainer = adapt(model, method="dann", optimizer=optimizer)
    backbone_before = _values(model.backbone.weights)

    history = trainer.fit(
        pair_datasets((x_source, y_source), x_target, batch_size=16),
        epochs=2,
        verbose=0,
        callbacks=[tlkeras.callbacks.GradualUnfreezing(every=1)],
    )

    assert history.history["trainable_groups"][-1] > history.history["trainable_groups"][0]
    after = _values(model.backbone.weights)
    assert any(not np.array_equal(a, b) for a, b in zip(backbone_before, after, strict=True))


@pytest.mark.tensorflow_only("checks the gradient with tf.GradientTape")
def test_features_of_the_backbone_itself_are_aligned_in_the_outer_graph(make_model, domains):
    # The backbone is a nested model: its own `.output` belongs to its inner
    # graph, so the wrapper must take the tensor it produces inside the task model.
    x_source, y_source, x_target, _ = domains
    model = make_model()
    trainer = adapt(model, method="dann", features="mlp", discriminator_units=(4,))
    assert trainer.discriminator.inputs[0].shape[-1] == 8  # the MLP's width, not the bottleneck's
    predictions, features = trainer.joint(x_target[:5])
    expected = model.get_layer("mlp")(x_target[:5])
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    before = _values(model.get_layer("mlp").trainable_variables)
    trainer.fit(
        {"source": x_source, "target": x_target}, y_source, batch_size=32, epochs=1, verbose=0
    )
    moved = [
        not np.allclose(a, b)
        for a, b in zip(before, _values(model.get_layer("mlp").trainable_variables), strict=True)
    ]
    assert all(moved)
