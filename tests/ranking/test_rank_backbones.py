"""rank_backbones: tiny backbones whose quality is known, one real-weights check behind `slow`."""

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.analysis import transferability_scores as scores_lib
from tlkeras.errors import ConfigurationError
from tlkeras.ranking import RankingReport
from tlkeras.ranking import backbone_ranking as rank_module
from tlkeras.weights import source_heads

SEEING = "tiny_rank_seeing"
BLIND = "tiny_rank_blind"
TOKENS = "tiny_rank_tokens"


def seeing(input_shape=(8, 8, 3), weights=None, **kwargs):
    """Pools 2x2 patches of the pixels: the digits stay readable."""
    inputs = keras.Input(input_shape)
    x = keras.layers.AveragePooling2D(2)(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Reshape((1, 1, -1))(x)
    model = keras.Model(inputs, x, name=SEEING)
    return tlkeras.Backbone.from_model(model, weights_source=weights)


class Noise(keras.layers.Layer):
    """16 features of seeded noise, whatever the input."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed = keras.random.SeedGenerator(0)

    def call(self, x):
        return keras.random.normal((keras.ops.shape(x)[0], 16), seed=self.seed)


def blind(input_shape=(8, 8, 3), weights=None, **kwargs):
    """Ignores the image."""
    inputs = keras.Input(input_shape)
    return tlkeras.Backbone.from_model(keras.Model(inputs, Noise()(inputs), name=BLIND))


def token_bag(weights=None, **kwargs):
    """A text backbone over token ids: one-hot token counts."""
    inputs = keras.Input((6,), dtype="int32")
    x = keras.layers.CategoryEncoding(num_tokens=20, output_mode="count")(inputs)
    x = keras.layers.Reshape((1, 20))(x)
    return tlkeras.Backbone.from_model(keras.Model(inputs, x, name=TOKENS), modality="text")


@pytest.fixture(scope="module", autouse=True)
def registered():
    tlkeras.register_backbone(SEEING, modality="image")(seeing)
    tlkeras.register_backbone(BLIND, modality="image")(blind)
    tlkeras.register_backbone(TOKENS, modality="text")(token_bag)
    yield
    for name in (SEEING, BLIND, TOKENS):
        tlkeras.unregister_backbone(name)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = data.target < 4
    x = np.repeat((data.images[keep] * 255 / 16)[..., None], 3, axis=-1).astype("float32")
    return x[:200], data.target[keep][:200].astype("int64")


def test_the_informative_backbone_ranks_first_by_every_feature_score(digits):
    ranking = tlkeras.rank_backbones(
        [BLIND, SEEING, (SEEING, {"weights": "other"})],
        digits,
        methods=("logme", "hscore", "knn", "linear_probe"),
        input_shape=(8, 8, 3),
        verbose=0,
    )
    assert list(ranking["backbone"][:2]) == [SEEING, f"{SEEING}(weights='other')"]
    assert ranking["backbone"].iloc[-1] == BLIND
    seeing_row, blind_row = ranking.iloc[0], ranking.iloc[-1]
    for method in ("logme", "hscore", "knn", "linear_probe"):
        assert seeing_row[method] > blind_row[method], method
    assert seeing_row["linear_probe"] > 0.9 and blind_row["linear_probe"] < 0.45
    assert list(ranking["feature_dim"]) == [48, 48, 16]
    assert (ranking["seconds"] >= ranking["feature_seconds"]).all()
    assert (ranking["n_examples"] == 200).all()


def test_backbones_without_a_source_head_get_empty_leep_and_a_reason(digits):
    ranking = tlkeras.rank_backbones(
        [SEEING], digits, methods=("logme", "leep", "nce"), input_shape=(8, 8, 3), verbose=0
    )
    assert np.isnan(ranking.loc[0, "leep"]) and np.isnan(ranking.loc[0, "nce"])
    assert "ship no ImageNet classifier" in ranking.attrs["notes"][SEEING]
    markdown = RankingReport(ranking).to_markdown()
    assert "## empty columns" in markdown and "ship no ImageNet classifier" in markdown


def test_a_source_head_feeds_leep_and_nce(digits, monkeypatch):
    x, y = digits
    # A "pretrained" backbone whose source classifier (nearest class mean)
    # mostly reads the label: LEEP and NCE well above chance, -log(4) = -1.39.
    prototypes = np.stack(
        [tlkeras.get_backbone(SEEING)(x[y == k]).numpy().mean(axis=(0, 1, 2)) for k in range(4)]
    )
    # Nearest prototype: -|f - p|^2 = 2 f.p - |p|^2 - |f|^2, sharpened.
    kernel, bias = 2e2 * prototypes.T, -1e2 * np.sum(prototypes**2, axis=1)
    monkeypatch.setattr(source_heads, "SOURCE_HEADS", (SEEING,))
    monkeypatch.setattr(source_heads, "imagenet_classifier", lambda name: (kernel, bias))
    ranking = tlkeras.rank_backbones(
        [(SEEING, {"weights": "imagenet"}), SEEING], digits, methods=("leep", "nce"), verbose=0
    )
    assert ranking.loc[0, "backbone"] == f"{SEEING}(weights='imagenet')"
    first = ranking.iloc[0]
    probabilities = source_heads.source_probabilities(
        rank_module.pooled_features(tlkeras.get_backbone(SEEING), x), kernel, bias
    )
    assert first["leep"] == pytest.approx(scores_lib.leep(probabilities, y))
    assert first["nce"] == pytest.approx(scores_lib.nce(probabilities, y))
    assert first["nce"] > -0.7 and first["leep"] > -0.7
    assert np.isnan(ranking.loc[1, "leep"])
    assert "not on its ImageNet weights" in ranking.attrs["notes"][SEEING]


def random_dense(input_shape=(8, 8, 3), weights=None, **kwargs):
    """16 random projections of the pixels: its scores depend on the initialisation."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(16)(keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs)))
    return tlkeras.Backbone.from_model(keras.Model(inputs, keras.layers.Reshape((1, 1, 16))(x)))


def test_random_initialisations_follow_the_seed(digits):
    tlkeras.register_backbone("tiny_rank_random", modality="image")(random_dense)
    try:
        rank = lambda seed: tlkeras.rank_backbones(  # noqa: E731
            ["tiny_rank_random"], digits, methods=("logme",), seed=seed, verbose=0
        )
        keras.utils.set_random_seed(123)
        first = rank(0).loc[0, "logme"]
        keras.utils.set_random_seed(456)  # whatever ran before
        assert rank(0).loc[0, "logme"] == first
        assert rank(1).loc[0, "logme"] != first
    finally:
        tlkeras.unregister_backbone("tiny_rank_random")


def test_constant_features_are_flagged_with_the_input_size(digits):
    # What EfficientNet-Lite0 does at 32x32: a final ReLU that is 0 for every image.
    inputs = keras.Input((8, 8, 3))
    dead = keras.layers.Conv2D(4, 1, kernel_initializer="zeros", activation="relu")(inputs)
    dead = tlkeras.Backbone.from_model(keras.Model(inputs, dead, name="dead"))
    with pytest.warns(UserWarning, match=r"'dead'.*constant over the 200 examples"):
        ranking = tlkeras.rank_backbones(
            {"dead": dead, "seeing": seeing()}, digits, methods=("logme", "leep"), verbose=0
        )
    notes = ranking.attrs["notes"]
    assert "input_shape=None" in notes["dead"] and "constant" in notes["dead"]
    # The source-classifier reason is kept next to it, and the report shows both.
    assert "ship no ImageNet classifier" in notes["dead"]
    assert "constant" not in notes["seeing"]
    assert "constant features" in RankingReport(ranking).to_markdown()


def test_built_backbones_text_backbones_and_max_examples():
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    informative = (y[:, None] * 6 + rng.integers(0, 6, size=(120, 6))).astype("int32")
    noise = rng.integers(0, 20, size=(120, 6)).astype("int32")
    built = token_bag()
    ranking = tlkeras.rank_backbones(
        {"words": built, "words_again": TOKENS}, (informative, y), max_examples=60, verbose=0
    )
    assert set(ranking["backbone"]) == {"words", "words_again"}
    assert (ranking["n_examples"] == 60).all()
    assert ranking["logme"].nunique() == 1  # the same network, the same subset
    noisy = tlkeras.rank_backbones([TOKENS], (noise, y), methods=("logme",), verbose=0)
    assert ranking.loc[0, "logme"] > noisy.loc[0, "logme"] + 0.1


def test_padding_of_a_token_sequence_stays_out_of_the_pooled_features():
    from tlkeras.layers.padding_mask import PaddingMask

    tokens = keras.Input((4,), dtype="int32")
    sequence = keras.layers.Embedding(10, 3, name="embed")(tokens)
    masked = PaddingMask()([sequence, keras.ops.not_equal(tokens, 0)])
    backbone = tlkeras.Backbone.from_model(keras.Model(tokens, masked), modality="text")
    backbone.get_layer("embed").set_weights([np.arange(30, dtype="float32").reshape(10, 3)])
    x = np.array([[1, 2, 0, 0], [3, 0, 0, 0]], dtype="int32")
    features = rank_module.pooled_features(backbone, x)
    # Real tokens only: rows 1, 2 of the table, then row 3; the padding row 0 is skipped.
    np.testing.assert_allclose(features, [[4.5, 5.5, 6.5], [9, 10, 11]])


def test_report_saves_markdown_png_and_csv(digits, tmp_path, capsys):
    ranking = tlkeras.rank_backbones(
        [SEEING, BLIND], digits, methods=("logme", "knn"), input_shape=(8, 8, 3), verbose=1
    )
    assert f"rank 1/2 {SEEING}: 200 examples -> 48 features" in capsys.readouterr().out
    report = RankingReport(ranking, title="digits")
    # Timings are columns of the ranking, never plotted or tabled as scores.
    assert report.methods == ["logme", "knn"]
    assert (ranking["build_seconds"] <= ranking["feature_seconds"]).all()
    folder = report.save(tmp_path / "run")
    assert (tmp_path / "run" / "figures" / "scores.png").stat().st_size > 1000
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert markdown.splitlines()[0] == "# digits"
    assert f"| 1 | {SEEING} |" in markdown
    import pandas as pd

    assert list(pd.read_csv(f"{folder}/ranking.csv")["backbone"]) == [SEEING, BLIND]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(methods=("logme", "fid")), "Unknown ranking method"),
        (dict(max_examples=1), "max_examples must be at least 2"),
        (dict(candidates=[42]), "Received: 42"),
        (dict(train_data=(np.zeros((3, 8, 8, 3)), np.array([0.5, 1.0, 0.0]))), "integer class"),
    ],
)
def test_bad_arguments_name_the_received_value(digits, kwargs, match):
    arguments = dict(candidates=[SEEING], train_data=digits, verbose=0)
    arguments.update(kwargs)
    with pytest.raises(ConfigurationError, match=match):
        tlkeras.rank_backbones(
            arguments.pop("candidates"), arguments.pop("train_data"), **arguments
        )


@pytest.mark.slow
def test_real_imagenet_classifiers_recognise_the_cat_photo():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "weights"))
    from imagenet_photos import EXPECTED_CLASSES
    from imagenet_photos import photo

    cat = photo("chelsea", 225)[None]
    for name in source_heads.SOURCE_HEADS:
        backbone = tlkeras.get_backbone(name, input_shape=(225, 225, 3))
        features = rank_module.pooled_features(backbone, cat.astype("float32"))
        probabilities = source_heads.source_probabilities(
            features, *source_heads.imagenet_classifier(name)
        )
        assert int(np.argmax(probabilities)) in EXPECTED_CLASSES["chelsea"], name


def test_the_figure_marks_empty_scores_and_log_likelihood_scales():
    import pandas as pd

    ranking = pd.DataFrame(
        dict(backbone=["a", "b"], logme=[0.2, 0.1], leep=[-1.5, np.nan], feature_dim=[4, 4])
    )
    ranking.attrs["settings"] = {"methods": ["logme", "leep"]}
    logme_axes, leep_axes = RankingReport(ranking).scores_figure().axes
    assert [t.get_text() for t in leep_axes.texts] == ["no score"]
    assert not logme_axes.texts
    assert "nearer 0 is better" in leep_axes.get_title()
    assert "nearer 0" not in logme_axes.get_title()
