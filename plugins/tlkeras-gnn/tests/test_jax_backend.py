"""The GNN models give the same numbers on JAX as on TensorFlow, and train there under jit.

The test writes each model's weights (`.weights.h5`), a disjoint-union batch,
the TensorFlow outputs and the weights after one SGD step; this file, run as a
script with `KERAS_BACKEND=jax`, loads the same weights into models built on
JAX and compares. Run as a script it needs no pytest plugin machinery:
`KERAS_BACKEND=jax python test_jax_backend.py FOLDER`.
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

TOLERANCE = 1e-5
# (case, backbone, head, readout): every backbone, the readouts with their own code paths
# (max masks empty graphs, attention a segment softmax), and a node task with a label mask.
CASES = (
    ("gcn_max", "gcn", "graph_classifier", "max"),
    ("graphsage_attention", "graphsage", "graph_classifier", "attention"),
    ("gin_sum", "gin", "graph_classifier", "sum"),
    ("gcn_nodes", "gcn", "node_classifier", None),
)
NUM_CLASSES = 3


def _build(backbone, head, readout):
    from tlkeras_gnn import GraphClassifierHead

    import tlkeras

    if readout is not None:
        head = GraphClassifierHead(NUM_CLASSES, readout=readout, name="head")
    model = tlkeras.build(
        backbone,
        head=head,
        num_classes=NUM_CLASSES,
        input_dim=4,
        hidden_dim=8,
        num_layers=2,
        weights=None,
        freeze=False,
        compile=False,
    )
    # Plain SGD: one step is then a deterministic function of weights and batch.
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def _targets(head, batch):
    """Targets and sample weights of one training step for this head."""
    rng = np.random.default_rng(0)
    num_nodes = len(batch["node_features"])
    if head == "graph_classifier":
        return rng.integers(0, NUM_CLASSES, len(batch["graph_sizes"])), None
    mask = (np.arange(num_nodes) % 2).astype("float32")  # half the nodes labelled
    return rng.integers(0, NUM_CLASSES, num_nodes), mask


def _run(folder, save):
    """Builds every case; saves its numbers (`save=True`) or compares with the saved ones."""
    batch = dict(np.load(os.path.join(folder, "batch.npz")))
    report = {}
    for case, backbone, head, readout in CASES:
        model = _build(backbone, head, readout)
        path = os.path.join(folder, f"{case}.weights.h5")
        if save:
            model.save_weights(path)
        else:
            model.load_weights(path)
        outputs = np.asarray(model(batch))
        embeddings = np.asarray(model.backbone(batch))
        y, sample_weight = _targets(head, batch)
        step = model.train_on_batch(batch, y, sample_weight=sample_weight, return_dict=True)
        loss = float(step["loss"])
        trained = [np.asarray(w) for w in model.trainable_weights]
        numbers = {"outputs": outputs, "embeddings": embeddings}
        numbers.update({f"trained_{i}": w for i, w in enumerate(trained)})
        reference = os.path.join(folder, f"{case}.npz")
        if save:
            np.savez(reference, loss=loss, **numbers)
            continue
        expected = np.load(reference)
        report[case] = {
            "loss": [float(expected["loss"]), loss],
            **{
                key: float(np.max(np.abs(value - expected[key]), initial=0.0))
                for key, value in numbers.items()
            },
        }
    return report


def _empty_graph_max_readout():
    """Max readout of a batch whose middle graph has no nodes: 0, not -inf (JAX) or -3.4e38 (TF)."""
    from tlkeras_gnn import GraphReadout

    embeddings = np.array([[-2.0], [-1.0], [-5.0]], "float32")
    ids, sizes = np.array([0, 0, 2], "int32"), np.array([2, 0, 1], "int32")
    return np.asarray(GraphReadout("max")(embeddings, ids, sizes)).ravel().tolist()


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="needs TensorFlow: the reference side of this TF-vs-JAX comparison (JAX runs in a subprocess)",
)
def test_models_match_tensorflow_on_jax_and_train_there(tmp_path):
    if importlib.util.find_spec("jax") is None:
        raise AssertionError(
            "jax is not installed, so the JAX backend cannot be tested. Install the plugin's "
            "test extra: pip install -e 'plugins/tlkeras-gnn[test]'"
        )
    assert keras.backend.backend() == "tensorflow", "the reference side runs on TensorFlow"
    from tlkeras_gnn import GraphBackbone  # noqa: F401 (registers the heads)

    import tlkeras

    example = tlkeras.get_backbone("gin", input_dim=4, weights=None).example_inputs(5, seed=3)
    # Small features keep the softmax off saturation, where the two backends' probability
    # clipping (not the models) would decide the loss and its gradient.
    example["node_features"] *= 0.1
    np.savez(tmp_path / "batch.npz", **example)
    keras.utils.set_random_seed(0)
    _run(str(tmp_path), save=True)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, __file__, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((tmp_path / "jax_report.json").read_text())
    assert report["backend"] == "jax"
    assert report["empty_graph_max"] == [-1.0, 0.0, -5.0]
    assert sorted(report["cases"]) == sorted(case for case, *_ in CASES)
    for case, numbers in report["cases"].items():
        tf_loss, jax_loss = numbers.pop("loss")
        assert np.isfinite(jax_loss) and abs(jax_loss - tf_loss) < TOLERANCE, (case, numbers)
        # Forward outputs, node embeddings and every weight after one SGD step agree.
        assert max(numbers.values()) < TOLERANCE, (case, numbers)
    masking = report["attribute_masking"]
    assert np.isfinite(masking["loss"]) and masking["moved"], masking


def _attribute_masking_step(folder):
    """One jitted AttributeMasking step on JAX: a finite loss and moved backbone weights."""
    from tlkeras_gnn import AttributeMasking

    from tlkeras.builder import get_backbone

    batch = dict(np.load(os.path.join(folder, "batch.npz")))
    backbone = get_backbone("gcn", input_dim=4, hidden_dim=8, weights=None)
    before = [np.asarray(w) for w in backbone.weights]
    pretrainer = AttributeMasking(backbone, mask_rate=0.5, seed=0)
    pretrainer.compile(optimizer=keras.optimizers.SGD(0.5))
    loss = float(pretrainer.train_on_batch(batch, return_dict=True)["loss"])
    after = [np.asarray(w) for w in backbone.weights]
    moved = any(not np.allclose(b, a) for b, a in zip(before, after, strict=True))
    return {"loss": loss, "moved": bool(moved)}


if __name__ == "__main__":
    folder = sys.argv[1]
    report = {
        "backend": keras.backend.backend(),
        "cases": _run(folder, save=False),
        "empty_graph_max": _empty_graph_max_readout(),
        "attribute_masking": _attribute_masking_step(folder),
    }
    with open(os.path.join(folder, "jax_report.json"), "w") as file:
        json.dump(report, file)
