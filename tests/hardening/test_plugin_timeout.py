"""A plugin whose factory hangs fails after the user's timeout; tlkeras keeps working.

(Plugins that raise at import, return the wrong type, or duplicate a name, and
TLKERAS_DISABLE_PLUGINS, are tested in tests/spine/test_registry.py.)
"""

import threading
import time

import keras
import pytest

import tlkeras
from tlkeras import registry
from tlkeras.errors import ConfigurationError
from tlkeras.errors import PluginError


def _small_model(input_shape=(8,)):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Dense(4, name="features")(inputs))


@pytest.fixture
def plugins():
    release = threading.Event()

    @tlkeras.register_backbone("hangs_forever")
    def hangs_forever(**kwargs):
        release.wait(60)  # until the test lets it go
        return _small_model()

    @tlkeras.register_backbone("quick")
    def quick(**kwargs):
        return _small_model()

    yield
    release.set()
    registry.set_plugin_timeout(None)
    for name in ("hangs_forever", "quick"):
        tlkeras.unregister_backbone(name)


def test_a_hung_factory_fails_after_the_timeout_and_others_still_build(plugins):
    registry.set_plugin_timeout(0.5)
    start = time.perf_counter()
    with pytest.raises(PluginError, match=r"'hangs_forever'.*did not return within 0.5 s"):
        tlkeras.build("hangs_forever", num_classes=2)
    assert time.perf_counter() - start < 10
    model = tlkeras.build("quick", num_classes=2)
    assert model.output.shape == (None, 2)


def test_a_timed_factory_builds_under_the_callers_dtype_policy(plugins):
    registry.set_plugin_timeout(30)
    model = tlkeras.build("quick", num_classes=2, mixed_precision="mixed_bfloat16")
    assert model.backbone.get_layer("features").dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"


def test_timeout_from_the_environment(plugins, monkeypatch):
    monkeypatch.setenv(registry.TIMEOUT_ENV_VAR, "0.3")
    with pytest.raises(PluginError, match="did not return within 0.3 s"):
        tlkeras.build("hangs_forever", num_classes=2)
    monkeypatch.setenv(registry.TIMEOUT_ENV_VAR, "soon")
    with pytest.raises(ConfigurationError, match="Received: TLKERAS_PLUGIN_TIMEOUT='soon'"):
        tlkeras.build("quick", num_classes=2)


@pytest.mark.parametrize("seconds", [0, -1, "10", True])
def test_bad_timeouts_are_refused(seconds):
    with pytest.raises(ConfigurationError, match="Received: seconds="):
        registry.set_plugin_timeout(seconds)
