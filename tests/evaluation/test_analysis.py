import keras
import numpy as np
import pytest
from eval_helpers import tiny_eval_cnn

import tlkeras
from tlkeras.errors import ConfigurationError


def tiny_backbone(seed, nested=False):
    keras.utils.set_random_seed(seed)
    trunk = tiny_eval_cnn()
    if not nested:
        return tlkeras.Backbone.from_model(trunk)
    inputs = keras.Input((16, 16, 3))
    scale = keras.layers.Rescaling(1.0, name="outer_scale")
    return tlkeras.Backbone(
        inputs=inputs,
        outputs=trunk(scale(inputs)),
        layer_groups=[
            ["outer_scale", "stem_conv", "stem_bn", "stem_relu"],
            ["stage1_conv", "stage1_relu"],
        ],
    )


@pytest.mark.parametrize("nested", [False, True])
def test_group_features_are_pooled_outputs_of_each_group(digits, nested):
    x = digits[0][:5]
    backbone = tiny_backbone(0, nested=nested)
    stem, stage1 = tlkeras.analysis.group_features(backbone, x)
    assert stem.shape == (5, 8) and stage1.shape == (5, 8)
    # the last group's output is the backbone's output, averaged over space
    np.testing.assert_allclose(
        stage1, backbone.predict(x, verbose=0).mean(axis=(1, 2)), rtol=1e-5, atol=1e-6
    )


def test_layer_probe_scores_every_group_of_every_source(digits):
    x, y, x_test, y_test = digits
    model = tlkeras.build("tiny_eval_cnn", num_classes=3, weights=None)
    probes = tlkeras.analysis.layer_probe(
        {"a": tiny_backbone(0), "model": model}, (x, y), (x_test, y_test), max_iter=300
    )
    assert list(probes.columns) == [
        "source",
        "group",
        "layer",
        "n_features",
        "accuracy",
        "macro_f1",
    ]
    assert probes["source"].tolist() == ["a", "a", "model", "model"]
    assert probes["group"].tolist() == [0, 1, 0, 1]
    # random conv features of digits are far above chance (1/3) under a linear probe
    assert (probes["accuracy"] > 0.6).all()
    figure = tlkeras.evaluation.plots.probe_figure(probes)
    assert len(figure.axes[0].lines) == 2


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_representation_figure_colours_classes_and_marks_domains(digits, method, tmp_path):
    x, y = digits[0][:40], digits[1][:40]
    domains = np.where(np.arange(40) < 20, "source", "target")
    figure = tlkeras.analysis.representation_figure(
        tiny_backbone(0), x, y, domains=domains, method=method
    )
    # 3 classes x 2 domains scatter collections, one legend entry per class
    assert len(figure.axes[0].collections) == 6
    assert "domains" in figure.axes[0].get_title()
    figure.savefig(tmp_path / "embedding.png")
    assert (tmp_path / "embedding.png").stat().st_size > 5_000
    with pytest.raises(ConfigurationError, match="method='umap'"):
        tlkeras.analysis.embed(np.zeros((4, 3)), method="umap")


def test_ablation_reports_deltas_against_the_full_recipe(digits):
    x, y, x_test, y_test = digits
    deltas = tlkeras.analysis.ablate(
        dict(weights="ones", freeze=True, bottleneck=8),
        {"no_bottleneck": dict(bottleneck=None)},
        (x, y),
        (x_test, y_test),
        backbone="tiny_eval_cnn",
        epochs=1,
    )
    # compare()'s baselines come along as rows, their deltas against the full recipe too
    assert set(deltas["ablation"]) == {
        "base",
        "no_bottleneck",
        "logistic_regression",
        "linear_probe",
    }
    base = deltas[deltas["ablation"] == "base"]
    assert (base["delta"] == 0).all()
    ablated = deltas[deltas["ablation"] == "no_bottleneck"].set_index("metric")
    assert ablated.loc["accuracy", "delta"] == pytest.approx(
        ablated.loc["accuracy", "mean"] - base.set_index("metric").loc["accuracy", "mean"]
    )
