"""keras.distribution.DataParallel on JAX trains the one-device model, like tf.distribute on TF.

Two virtual CPU devices (XLA_FLAGS) must be set before JAX starts: the cases
run in a fresh process (jax_data_parallel.py).
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(__file__)
TOLERANCE = 1e-5

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax (the jax extra)"),
    # A subprocess of about a minute on 2 cores: run by .ci/run with the distributed tests.
    pytest.mark.distributed,
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("jax") / "results.json"
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        CUDA_VISIBLE_DEVICES="",
        JAX_PLATFORMS="cpu",
    )
    process = subprocess.run(
        [sys.executable, os.path.join(HERE, "jax_data_parallel.py"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("case", ["full", "gradual_unfreezing"])
def test_two_devices_train_the_same_weights_as_one(results, case):
    assert results["devices"] == 2
    result = results[case]
    assert result["layout_devices"] == 2  # the variables live on both devices
    assert result["largest_update"] > 1e-3  # training moved the weights
    assert result["max_abs_diff"] < TOLERANCE
