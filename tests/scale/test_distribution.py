"""tf.distribute: one machine's replicas and several workers train the one-device model.

The strategies run in fresh processes (see distributed_cases.py): logical CPU
devices and TF_CONFIG must be set before TensorFlow starts.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import ConfigurationError

HERE = os.path.dirname(__file__)
CASES = os.path.join(HERE, "distributed_cases.py")
# Float sums over two replicas round differently from one device's sum.
TOLERANCE = 1e-5

pytestmark = [
    pytest.mark.skipif(
        keras.backend.backend() != "tensorflow",
        reason="tf.distribute needs the TensorFlow backend",
    ),
    # Minutes of subprocesses on 2 cores: out of the default suite, run by .ci/run.
    pytest.mark.distributed,
]


def _run(*args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen(
        [sys.executable, CASES, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process, timeout=600):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]


@pytest.fixture(scope="module")
def mirrored_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored") / "results.json"
    _finish(_run("mirrored", str(out)))
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "case",
    [
        "full",
        "feature_extraction",
        "partial",
        "gradual_unfreezing",
        "discriminative",
        "lora",
        "feature_cache",
        "multi_task",
        "domain_adversarial",
        "nan_batch",
    ],
)
def test_two_replicas_train_the_same_weights_as_one_device(mirrored_results, case):
    result = mirrored_results[case]
    assert "error" not in result, result.get("error")
    assert result["largest_update"] > 1e-3  # training moved the weights
    assert result["max_abs_diff"] < TOLERANCE


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_end_with_identical_weights(tmp_path):
    ports = ",".join(str(p) for p in _free_ports(2))
    outs = [tmp_path / f"worker{i}.npz" for i in range(2)]
    workers = [_run("worker", str(i), ports, str(out)) for i, out in enumerate(outs)]
    for worker in workers:
        _finish(worker, timeout=300)
    first, second = (np.load(out) for out in outs)
    assert int(first["replicas"]) == 2
    weights = [k for k in first.files if "/" in k]
    assert weights == [k for k in second.files if "/" in k]
    trained = {key.split("/")[0] for key in weights}
    assert trained == {"full", "gradual_unfreezing", "feature_cache", "domain_adversarial"}
    for key in weights:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    for case in trained:
        assert float(first[f"moved:{case}"]) > 1e-3, case  # training moved the weights


def test_distribution_must_be_a_tf_distribute_strategy():
    with pytest.raises(ConfigurationError, match=r"Received: distribution='mirrored'"):
        tlkeras.build("mobilenet_v2", num_classes=2, distribution="mirrored")
