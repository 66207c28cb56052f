"""tlkeras's training tools on waveform models: fit, feature cache, strategies, compare, DANN."""

import shutil

import keras
import numpy as np
import pytest
from tlkeras_audio.datasets import spoken_words

import tlkeras
from tlkeras.backbones.backbone import trainable_by_nature

WORDS = ("yes", "no", "stop", "go")
TRAIN_VOICES = ("en-us+m1", "en-gb+f2", "en-029+m3", "en-gb-scotland+f4")
TEST_VOICES = ("en-us-nyc+f2", "en-gb-x-rp+m3", "en-gb-x-gbclan+m1", "en-gb-x-gbcwmd+f4")


def _words(voices):
    if shutil.which("espeak-ng") is None:
        pytest.skip("apt-get install espeak-ng")
    x, y, _ = spoken_words(WORDS, voices=voices, speeds=(160,), pitches=(50,))
    return x, y


def _tiny_clips(n=8, samples=13000, seed=0):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((n, samples))).astype("float32"), rng.integers(0, 2, n)


def test_frozen_pretrained_backbone_learns_words_of_unseen_voices_from_four_voices():
    x_train, y_train = _words(TRAIN_VOICES)
    x_test, y_test = _words(TEST_VOICES)
    keras.utils.set_random_seed(0)
    model = tlkeras.build("speech_embedding", head="classifier", num_classes=len(WORDS))
    assert model.backbone.weights_source == "pretrained"
    before = [np.array(v) for v in model.backbone.weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(x_train, y_train, epochs=60, batch_size=16, verbose=0, cache_features=True)
    accuracy = np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test)
    assert accuracy >= 0.75, accuracy
    for variable, value in zip(model.backbone.weights, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


def test_gradual_unfreezing_opens_the_top_group_first():
    x, y = _tiny_clips()
    model = tlkeras.build(
        "speech_embedding", weights=None, num_classes=2, strategy=["gradual", "discriminative"]
    )
    # trainable_by_nature: the variables of frozen groups too (their trainable flag is off).
    variables = [trainable_by_nature(group) for group in model.backbone.layer_groups]
    snapshot = [[np.array(v) for v in group] for group in variables]
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    moved = [
        any(
            not np.array_equal(b, keras.ops.convert_to_numpy(v))
            for b, v in zip(before, group, strict=True)
        )
        for group, before in zip(variables, snapshot, strict=True)
    ]
    # Epoch 1 trains the head only, epoch 2 the head and the top backbone group.
    assert moved == [False, False, False, False, True]


def test_compare_trains_pretrained_and_scratch_on_waveforms():
    x, y = _tiny_clips(12)
    results = tlkeras.compare(
        {
            "frozen": dict(backbone="speech_embedding", weights=None, freeze=True),
            "scratch": dict(backbone="audio_cnn", freeze=False),
        },
        (x[:8], y[:8]),
        (x[8:], y[8:]),
        epochs=1,
        batch_size=4,
        num_classes=2,
    )
    accuracy = results[results.metric == "accuracy"]
    # Both configurations on waveforms, beside compare()'s baseline rows.
    assert {"frozen", "scratch"} <= set(accuracy.config)
    assert accuracy.value.between(0, 1).all()


def test_dann_trains_on_paired_waveforms():
    x_source, y_source = _tiny_clips(8, seed=0)
    x_target, _ = _tiny_clips(8, seed=1)
    model = tlkeras.build("audio_cnn", num_classes=2, bottleneck=16)
    trainer = tlkeras.domain.adapt(model, method="dann")
    data = tlkeras.domain.pair_datasets((x_source, y_source), x_target, batch_size=4, seed=0)
    history = trainer.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert model.predict(x_target, verbose=0).shape == (8, 2)
