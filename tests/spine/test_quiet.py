"""No warning a user cannot act on: TensorFlow start-up lines, offline fallbacks, tf.data shuffle."""

import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import tensorflow as tf
from tiny import tiny_cnn

import tlkeras
from tlkeras.backbones import pretrained
from tlkeras.native_logs import is_noise

NOISE_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796177230.650074    8582 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796177230.710386    8582 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
]
GPU_LINES = [
    "I0000 00:00:1796177230.650408    8582 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1796177506.308962   14250 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
]


def test_noise_filter_drops_startup_lines_and_gpu_probing_only_without_a_gpu():
    for line in NOISE_LINES:
        assert is_noise(line, has_gpu_device=False) and is_noise(line, has_gpu_device=True)
    for line in GPU_LINES:
        assert is_noise(line, has_gpu_device=False) and not is_noise(line, has_gpu_device=True)
    assert not is_noise("Traceback (most recent call last):", has_gpu_device=False)


def test_first_use_of_tlkeras_prints_no_tensorflow_startup_lines():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = "import tlkeras; tlkeras.Backbone; import sys; print('ok', file=sys.stderr)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    # Python-level output still comes through; only the known noise is dropped.
    assert out.stderr.strip() == "ok", out.stderr


def test_offline_fallback_logs_instead_of_warning_and_the_error_quotes_the_cause(caplog):
    def offline():
        raise ConnectionError("api.kaggle.com unreachable")

    pretrained._download_failed.pop("quiet_test_net", None)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO, "tlkeras"):
        warnings.simplefilter("always")
        assert pretrained.try_download("quiet_test_net", offline) is None
    assert caught == []
    assert "api.kaggle.com unreachable" in caplog.text
    message = str(pretrained.no_offline_source("quiet_test_net"))
    assert "ConnectionError: api.kaggle.com unreachable" in message
    pretrained._download_failed.pop("quiet_test_net", None)


def _dataset():
    x = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, np.arange(8) % 2)).batch(4)


def _shuffle_warnings(caught):
    return [w for w in caught if "shuffle" in str(w.message)]


def test_fit_on_a_dataset_does_not_trigger_keras_shuffle_warning():
    model = tlkeras.build(tlkeras.Backbone.from_model(tiny_cnn()), num_classes=2, freeze=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(_dataset(), epochs=1, verbose=0)
    assert _shuffle_warnings(caught) == []
    # Asked for explicitly, the warning is the user's to act on.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(_dataset(), epochs=1, shuffle=True, verbose=0)
    assert len(_shuffle_warnings(caught)) == 1


def test_domain_adaptation_fit_on_pairs_does_not_trigger_it_either():
    backbone = tlkeras.Backbone.from_model(tiny_cnn())
    model = tlkeras.build(backbone, num_classes=2, bottleneck=8, freeze=False)
    x = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    pairs = tlkeras.domain.pair_datasets((x, np.arange(8) % 2), x, batch_size=4, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tlkeras.domain.adapt(model, method="dann").fit(pairs, epochs=1, verbose=0)
    assert _shuffle_warnings(caught) == []


def test_a_failed_download_prints_no_downloading_line(capsys):
    # Keras announces "Downloading data from ..." before the connection fails;
    # offline that line is noise. Port 9 (discard) on localhost refuses at once.
    def keras_download():
        import keras

        return keras.utils.get_file(
            "tlkeras_quiet_test.h5", "http://127.0.0.1:9/tlkeras_quiet_test.h5"
        )

    pretrained._download_failed.pop("quiet_download_net", None)
    assert pretrained.try_download("quiet_download_net", keras_download) is None
    assert "Downloading" not in capsys.readouterr().out
    assert "quiet_download_net" in pretrained._download_failed


def test_a_successful_download_still_shows_what_it_printed(capsys):
    def download():
        print("Downloading data from https://example.invalid/w.h5")
        return "weights"

    pretrained._download_failed.pop("quiet_success_net", None)
    assert pretrained.try_download("quiet_success_net", download) == "weights"
    assert "Downloading data from https://example.invalid/w.h5" in capsys.readouterr().out
