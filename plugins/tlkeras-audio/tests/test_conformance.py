"""tlkeras's public conformance suite over both backbones of this plugin, and the plugin contract."""

import subprocess
import sys

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import PluginError
from tlkeras.testing import backbone_checks

AUDIO_BACKBONES = ("speech_embedding", "audio_cnn", "musicnn_vgg")
# tlkeras has no audio modality nor a self-supervised objective for waveforms yet:
# the check must keep failing until one exists (then this entry goes).
NO_AUDIO_OBJECTIVE = {"check_pretraining_objective_exists": "no pre-training objective for audio"}


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(check, id=f"{name}-{check.__name__}")
        for name in AUDIO_BACKBONES
        for check in backbone_checks(name, NO_AUDIO_OBJECTIVE, weights=None)
    ],
)
def test_audio_backbone_conforms(check):
    keras.utils.set_random_seed(0)
    check()


def test_backbones_are_discovered_from_this_distribution():
    infos = {entry.name: entry for entry in tlkeras.backbone_info()}
    for name in AUDIO_BACKBONES:
        assert infos[name].distribution == "tlkeras-audio"


def test_one_layer_group_per_stage_and_front_end_in_the_first():
    backbone = tlkeras.build("speech_embedding", weights=None, num_classes=3).backbone
    groups = backbone.layer_groups
    assert len(groups) == 5
    assert groups[0][0].name == "log_mel"
    # Every stage but the last ends with its max-pool.
    assert [g[-1].name for g in groups[:4]] == [f"embedding_pool_{i}" for i in range(4)]
    assert backbone.count_params() == 328224


def test_any_clip_length_gives_one_feature_vector():
    backbone = tlkeras.build("audio_cnn", num_classes=3).backbone
    for samples in (800, 12512, 16000, 40000):
        features = keras.ops.convert_to_numpy(backbone(np.zeros((2, samples), "float32")))
        assert features.shape == (2, 96), samples
        assert np.all(np.isfinite(features))


def test_unknown_weights_name_the_value():
    # tlkeras wraps a plugin factory's error in a PluginError that keeps its message.
    with pytest.raises(PluginError, match="weights='imagenet'"):
        tlkeras.build("speech_embedding", weights="imagenet", num_classes=2)


def test_importing_tlkeras_does_not_import_the_plugin():
    code = "import sys, tlkeras; print('tlkeras_audio' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr[-2000:]
