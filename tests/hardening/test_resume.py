"""Interrupted training resumes: a killed fit() goes on from its last checkpoint and ends
with the weights of an uninterrupted run.

Tolerance: every weight and optimizer variable within TOLERANCE (absolute) of the
uninterrupted run; on CPU the measured difference is 0.0 (bit-identical).
"""

import os
import subprocess
import sys

import keras
import pytest
import tensorflow as tf
from resume_helpers import BATCH_SIZE
from resume_helpers import Interrupt
from resume_helpers import max_difference
from resume_helpers import mlp_data
from resume_helpers import mlp_model
from resume_helpers import state
from resume_helpers import unfreezing_run

import tlkeras
from tlkeras.callbacks import DomainAdversarialSchedule
from tlkeras.callbacks import ResumableTraining
from tlkeras.errors import ConfigurationError
from tlkeras.errors import WeightsError

TOLERANCE = 1e-6
HELPERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resume_helpers.py")


def resumed(run, tmp_path, at):
    """Runs `run(folder, interrupt)` until interrupted after `at` batches, then again."""
    folder = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        run(folder, Interrupt(at))
    return run(folder, None)


def test_sigkilled_run_resumes_mid_epoch_to_the_uninterrupted_weights(tmp_path):
    folder = tmp_path / "run"
    # 4 batches per epoch, a checkpoint every 3 batches and at each epoch end:
    # killed after batch 11 = epoch 2, batch 3 of 4, just checkpointed.
    killed = subprocess.run(
        [sys.executable, HELPERS, str(folder), "11"], capture_output=True, text=True
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    names = sorted(os.listdir(folder))
    assert names[-2:] == ["epoch-00002-batch-000000", "epoch-00002-batch-000003"]

    model, history = unfreezing_run(str(folder))
    reference, _ = unfreezing_run(str(tmp_path / "reference"))

    assert history.epoch == [2, 3]  # went on in epoch 2, not from scratch
    assert max_difference(state(model), state(reference)) <= TOLERANCE
    # GradualUnfreezing's stage and the layer-wise optimizer's step counter.
    assert model.frozen_groups == reference.frozen_groups == []
    assert int(model.optimizer.iterations) == int(reference.optimizer.iterations) == 16
    assert os.listdir(folder) == []  # checkpoints removed once the run completed


def dann_run(folder, interrupt):
    model = mlp_model()
    dann = tlkeras.domain.DomainAdaptationModel(model, method="dann")
    dann.compile(optimizer=tlkeras.optimizers.layerwise(keras.optimizers.Adam(1e-2), dann))
    source, (x_target, _) = mlp_data(shift=-1.0), mlp_data(seed=1, shift=1.0)
    data = tlkeras.domain.pair_datasets(source, x_target, batch_size=BATCH_SIZE, shuffle=False)
    callbacks = [DomainAdversarialSchedule(), ResumableTraining(folder, save_freq=2)]
    dann.fit(data, epochs=3, verbose=0, callbacks=callbacks + ([interrupt] if interrupt else []))
    return dann


def test_dann_lambda_schedule_resumes_mid_epoch(tmp_path):
    dann = resumed(dann_run, tmp_path, at=7)  # epoch 1, batch 3 of 4; checkpoint at 2
    reference = dann_run(str(tmp_path / "reference"), None)
    assert dann.adaptation_weight == pytest.approx(reference.adaptation_weight, abs=TOLERANCE)
    assert dann.adaptation_weight > 0.9  # the Ganin ramp went on, not restarted
    assert max_difference(state(dann), state(reference)) <= TOLERANCE


def shuffled_run(folder, interrupt, epochs=3, seed=3):
    model = mlp_model(dropout=0.5)  # the same dropout masks, too
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x, y = mlp_data()
    callback = ResumableTraining(folder, save_freq=2)

    # A new order each epoch, a function of (seed, epoch) alone: the recipe of
    # docs/resuming.md. The stream starts at the epoch the run resumes in.
    def epoch_batches(epoch):
        draws = tf.random.stateless_uniform(
            [len(x)], seed=tf.stack([seed, tf.cast(epoch, "int32")])
        )
        order = tf.data.Dataset.from_tensor_slices(tf.argsort(draws)).batch(BATCH_SIZE)
        return order.map(lambda rows: (tf.gather(x, rows), tf.gather(y, rows)))

    data = tf.data.Dataset.range(callback.initial_epoch, epochs).flat_map(epoch_batches)
    callbacks = [callback] + ([interrupt] if interrupt else [])
    model.fit(
        data, epochs=epochs, steps_per_epoch=len(x) // BATCH_SIZE, verbose=0, callbacks=callbacks
    )
    return model


def test_per_epoch_seeded_order_and_dropout_resume_exactly(tmp_path):
    model = resumed(shuffled_run, tmp_path, at=7)  # epoch 1, batch 3; checkpoint at 2
    reference = shuffled_run(str(tmp_path / "reference"), None)
    assert max_difference(state(model), state(reference)) <= TOLERANCE


def cached_run(folder, interrupt, cache, source="arrays"):
    model = mlp_model().freeze()  # feature extraction: the backbone is cached
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x, y = mlp_data()
    data = {"x": x, "y": y, "batch_size": BATCH_SIZE}
    if source == "dataset":
        data = {"x": tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH_SIZE)}
    callbacks = [ResumableTraining(folder, save_freq=2)] + ([interrupt] if interrupt else [])
    # shuffle=False: the cache would otherwise reshuffle the features each epoch.
    model.fit(**data, epochs=3, shuffle=False, verbose=0, cache_features=cache, callbacks=callbacks)
    return model


@pytest.fixture(scope="module")
def cached_reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cached_reference")
    return state(cached_run(str(folder / "run"), None, str(folder / "features")))


@pytest.mark.parametrize(
    "damage, source",
    [
        (None, "arrays"),
        (None, "dataset"),
        ("truncated", "arrays"),
        pytest.param("no_fingerprint", "dataset", marks=pytest.mark.slow),
    ],
)
def test_feature_cache_is_reused_only_when_complete(
    tmp_path, monkeypatch, damage, source, cached_reference
):
    cache, folder = str(tmp_path / "features"), str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        cached_run(folder, Interrupt(6), cache, source)  # epoch 1, batch 2 of 4: checkpointed
    (entry,) = [p for p in os.listdir(cache) if p.startswith("train-")]
    entry = os.path.join(cache, entry)
    if damage == "truncated":
        with open(os.path.join(entry, "features_0.bin"), "r+b") as f:
            f.truncate(os.path.getsize(f.name) // 2)
    elif damage == "no_fingerprint":
        os.remove(os.path.join(entry, "fingerprint.json"))

    batches = []
    predict_on_batch = keras.Model.predict_on_batch

    def spy(extractor, x):
        batches.append(len(x))
        return predict_on_batch(extractor, x)

    monkeypatch.setattr(keras.Model, "predict_on_batch", spy)
    model = cached_run(folder, None, cache, source)

    # The backbone ran over the 32 examples again only for a damaged entry.
    assert sum(batches) == (0 if damage is None else 32)
    assert max_difference(state(model), cached_reference) <= TOLERANCE
    assert os.listdir(cache) == []


def small_fit(folder, bottleneck=4, epochs=1, **kwargs):
    model = mlp_model(bottleneck=bottleneck)
    model.compile(optimizer="adam")
    x, y = mlp_data(n=16)
    callback = ResumableTraining(folder, **kwargs)
    return model.fit(
        x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0, callbacks=[callback]
    )


def test_checkpoint_of_another_model_is_refused_naming_it(tmp_path):
    folder = str(tmp_path / "run")
    small_fit(folder, bottleneck=4, delete_checkpoint=False)
    with pytest.raises(
        WeightsError, match=r"different model.*Received: .*epoch-00001-batch-000000"
    ):
        small_fit(folder, bottleneck=6, epochs=2)


def test_keeps_two_checkpoints_and_falls_back_when_the_newest_is_unreadable(tmp_path):
    folder = tmp_path / "run"
    small_fit(str(folder), epochs=2, save_freq=1, delete_checkpoint=False)
    # 2 batches per epoch, keep=2: the last epoch's mid-epoch checkpoint and its end.
    assert sorted(os.listdir(folder)) == ["epoch-00001-batch-000001", "epoch-00002-batch-000000"]
    newest = folder / "epoch-00002-batch-000000" / "model.weights.h5"
    newest.write_bytes(newest.read_bytes()[:100])
    history = small_fit(str(folder), epochs=3)
    assert history.epoch == [1, 2]  # from the mid-epoch checkpoint of epoch 1


def test_unreadable_only_checkpoint_raises_weights_error(tmp_path):
    folder = tmp_path / "run"
    small_fit(str(folder), delete_checkpoint=False)
    (folder / "epoch-00001-batch-000000" / "model.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match=r"Received: .*model\.weights\.h5"):
        small_fit(str(folder), epochs=2)


@pytest.mark.parametrize(
    "kwargs, bad",
    [({"save_freq": 0}, "save_freq=0"), ({"keep": 1}, "keep=1"), ({"folder": ""}, "folder=''")],
)
def test_bad_arguments_name_the_received_value(kwargs, bad):
    kwargs = {"folder": "runs/a", **kwargs}
    with pytest.raises(ConfigurationError, match=f"Received: {bad}"):
        ResumableTraining(**kwargs)
