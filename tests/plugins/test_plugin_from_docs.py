"""A plugin written from docs/plugins.md alone gets every tlkeras feature.

The module fixture writes the guide's files (each fenced block whose first
line is `# tlkeras-small-cnn/<path>`) to a temporary folder, installs the
package with pip (a built wheel, and an editable install), and puts the
wheel's folder on `sys.path`. Each test then uses the backbone by name, as a
user of the plugin would.

Features that land later get a test here with the same `small_cnn` fixture:
backbone ranking (`tlkeras rank`) and export are being built on other branches.
"""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras import registry

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
README = GUIDE.parents[1] / "README.md"
PACKAGE = "tlkeras_small_cnn"
FILE_BLOCK = re.compile(r"```\w*\n# (tlkeras-small-cnn/\S+)\n(.*?)```", re.S)


def guide_files(text):
    """`{relative path: contents}` of the guide's file blocks (the path line dropped)."""
    return {path: body for path, body in FILE_BLOCK.findall(text)}


def _pip_install(source, target, editable=False):
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
    if all(importlib.util.find_spec(m) for m in ("setuptools", "wheel")):
        command.append("--no-build-isolation")  # offline: build with what is installed
    command += ["--target", str(target)] + (["-e"] if editable else []) + [str(source)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    files = guide_files(GUIDE.read_text())
    assert {
        "tlkeras-small-cnn/pyproject.toml",
        "tlkeras-small-cnn/tests/test_conformance.py",
    } <= set(files)
    for relative, body in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(body)
    wheel_site, editable_site = root / "site", root / "site-editable"
    _pip_install(root / "tlkeras-small-cnn", wheel_site)
    _pip_install(root / "tlkeras-small-cnn", editable_site, editable=True)
    return {"root": root, "wheel": wheel_site, "editable": editable_site}


@pytest.fixture(scope="module")
def small_cnn(installed):
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(installed["wheel"]))
        registry.refresh()
        yield "small_cnn"
    sys.modules.pop(PACKAGE, None)
    registry.refresh()


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(n, 32, 32, 3)).astype("float32")
    return x, (np.arange(n) % 2).astype("int32")


def _values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _moved(before, variables):
    return [not np.array_equal(b, a) for b, a in zip(before, _values(variables), strict=True)]


@pytest.mark.parametrize("install", ["wheel", "editable"])
def test_list_reads_the_metadata_without_importing_plugin_or_tensorflow(installed, install):
    code = (
        "import json, site, sys; site.addsitedir(sys.argv[1]); from tlkeras import registry; "
        "from tlkeras.cli import main; main(['list']); e = registry.get_entry('small_cnn'); "
        "print(json.dumps([e.distribution, e.metadata.modality, e.metadata.input_shape, "
        f"{PACKAGE!r} in sys.modules, 'tensorflow' in sys.modules, 'keras' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(installed[install])],
        capture_output=True,
        text=True,
        check=True,
    )
    *table, facts = out.stdout.strip().splitlines()
    assert json.loads(facts) == ["tlkeras-small-cnn", "image", [32, 32, 3], False, False, False]
    row = next(line for line in table if line.startswith("small_cnn "))
    assert row.split()[:5] == ["small_cnn", "image", "(32,", "32,", "3)"]


def test_the_plugins_own_conformance_tests_pass(small_cnn):
    from tlkeras.testing import check_backbone

    ran = check_backbone(small_cnn)
    assert {"check_modality_is_known", "check_declared_metadata"} <= set(ran)


def test_modality_is_inferred_from_inputs_and_matches_the_declaration(small_cnn):
    backbone = tlkeras.get_backbone(small_cnn)
    assert backbone.modality == "image"
    # The factory carries no modality attribute: the rule reads the inputs.
    assert not hasattr(registry.get_entry(small_cnn).load(), "modality")
    plain = registry.get_entry(small_cnn).load()()
    assert tlkeras.Backbone.from_model(plain).modality == "image"


@pytest.mark.parametrize("objective", ["contrastive", "reconstruction"])
def test_self_supervised_pretraining(small_cnn, objective):
    backbone = tlkeras.get_backbone(small_cnn)
    before = _values(backbone.trainable_weights)
    x, _ = _data()
    pretrained = tlkeras.pretrain(
        backbone, x, objective=objective, epochs=1, batch_size=8, verbose=0
    )
    assert pretrained is backbone and any(_moved(before, backbone.trainable_weights))
    assert np.isfinite(pretrained.pretraining_info["history"]["loss"][-1])


def test_feature_cache_trains_the_head_only(small_cnn):
    model = tlkeras.build(small_cnn, num_classes=2, strategy="feature_extraction")
    backbone_before = _values(model.backbone.weights)
    head = [v for v in model.trainable_weights]
    head_before = _values(head)
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=8, cache_features=True, verbose=0)
    assert not any(_moved(backbone_before, model.backbone.weights))
    assert all(_moved(head_before, head))


def test_gradual_unfreezing_and_layerwise_rates_over_derived_groups(small_cnn):
    model = tlkeras.build(small_cnn, num_classes=2, strategy=["gradual", "discriminative"])
    groups = model.backbone.layer_groups
    assert len(groups) == 3  # conv1, conv2, features: derived, not declared
    factors = tlkeras.optimizers.group_multipliers(model)
    backbone_factors = factors[: model.num_backbone_groups]
    assert backbone_factors == sorted(backbone_factors) and backbone_factors[0] < 1.0
    bottom = [v for layer in groups[0] for v in layer.trainable_weights]
    top = [v for layer in groups[-1] for v in layer.trainable_weights]
    bottom_before, top_before = _values(bottom), _values(top)
    x, y = _data()
    # Epoch 0 trains the head, epoch 1 opens the top group only.
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert all(_moved(top_before, top))
    assert not any(_moved(bottom_before, bottom))


def test_lora_adapts_its_conv2d_and_dense_layers_only(small_cnn):
    model = tlkeras.build(small_cnn, num_classes=2, strategy="lora")
    adapted = {layer.name for layer in model.backbone.layers if getattr(layer, "lora_enabled", 0)}
    assert adapted == {"conv1", "conv2", "features"}
    kernels = [model.backbone.get_layer(name)._kernel for name in sorted(adapted)]
    factors = [v for v in model.backbone.trainable_weights if "lora" in v.path]
    kernels_before, factors_before = _values(kernels), _values(factors)
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not any(_moved(kernels_before, kernels))
    assert any(_moved(factors_before, factors))


def test_domain_adaptation(small_cnn):
    model = tlkeras.build(small_cnn, num_classes=2, bottleneck=16, freeze=False)
    before = _values(model.backbone.trainable_weights)
    (x_source, y_source), (x_target, _) = _data(seed=0), _data(seed=1)
    dann = tlkeras.domain.adapt(model, method="dann")
    pairs = tlkeras.domain.pair_datasets((x_source, y_source), x_target, batch_size=8, seed=0)
    history = dann.fit(pairs, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert any(_moved(before, model.backbone.trainable_weights))


def test_compare(small_cnn):
    train, test = _data(seed=0), _data(seed=1)
    configs = {"scratch": {"freeze": False}, "frozen": {"strategy": "feature_extraction"}}
    df = tlkeras.compare(
        configs, train, test, backbone=small_cnn, num_classes=2, epochs=1, batch_size=8
    )
    accuracy = df[df["metric"] == "accuracy"]
    # Both configurations, beside compare()'s baseline rows.
    assert {"scratch", "frozen"} <= set(accuracy["config"])
    assert accuracy["value"].between(0, 1).all()


def test_rank(small_cnn):
    x, y = _data(n=32, seed=0)
    y[:] = (x[:, :16].mean(axis=(1, 2, 3)) > x[:, 16:].mean(axis=(1, 2, 3))).astype("int32")
    ranking = tlkeras.rank_backbones(
        [small_cnn], (x, y), methods=("logme", "linear_probe"), verbose=0
    )
    assert list(ranking["backbone"]) == [small_cnn]
    assert np.isfinite(ranking["logme"]).all() and ranking["feature_dim"].iloc[0] == 64


def test_export(small_cnn, tmp_path):
    import tensorflow as tf

    model = tlkeras.build(small_cnn, num_classes=2)
    x, _ = _data(n=4)
    path = tlkeras.export(model, tmp_path / "served", verbose=False)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(x))
    np.testing.assert_allclose(
        served["probabilities"].numpy(), model.predict(x, verbose=0), atol=1e-5
    )


def test_save_and_load(small_cnn, tmp_path):
    model = tlkeras.build(small_cnn, num_classes=2, freeze=1)
    x, _ = _data(n=4)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    tlkeras.save_model(model, tmp_path / "small_cnn.keras")
    loaded = tlkeras.load_model(tmp_path / "small_cnn.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x, training=False)), expected)
    assert loaded.backbone.modality == "image"
    assert loaded.frozen_groups == model.frozen_groups


def test_readme_plugin_section_is_the_guide_or_links_to_it():
    """The README's plugin section shows the guide's files exactly, or sends the reader to it."""
    readme = README.read_text()
    start = readme.index("## Write a backbone plugin")
    end = readme.find("\n## ", start + 1)
    section = readme[start : end if end > 0 else None]
    files = guide_files(section)
    if files:
        assert files == guide_files(GUIDE.read_text())
    else:
        assert "docs/plugins.md" in section
