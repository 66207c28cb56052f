"""Random argument combinations for build() and the comparison config loader.

Every call must either succeed or raise one of tlkeras's documented exception
types (`tlkeras.errors.TlkerasError` subclasses) whose message shows what was
received — never a raw TypeError/KeyError from deep inside Keras.

The default suite runs a few hundred combinations; `-m slow` runs thousands
(`TLKERAS_FUZZ_EXAMPLES` overrides both).
"""

import os
import re

import keras
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import tlkeras
from tlkeras.errors import TlkerasError
from tlkeras.evaluation.config import load_comparison_config

DEFAULT_EXAMPLES = int(os.environ.get("TLKERAS_FUZZ_EXAMPLES", 150))
SLOW_EXAMPLES = int(os.environ.get("TLKERAS_FUZZ_EXAMPLES", 3000))
FUZZ_SETTINGS = dict(
    deadline=None,
    derandomize=True,  # the same combinations every run: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CALLS = {"build": 0, "built": 0, "config": 0, "config_ok": 0}


@tlkeras.register_backbone("fuzz_cnn", modality="image")
def fuzz_cnn(input_shape=(8, 8, 3), weights=None):
    if weights is not None:
        raise ValueError(f"fuzz_cnn has no pretrained weights. Received: weights={weights!r}")
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)
    return keras.Model(inputs, x, name="fuzz_cnn")


class _Junk:
    def __repr__(self):
        return "<junk>"


junk = st.sampled_from([_Junk(), object, b"bytes", float("nan"), -1, [], {}])
names = st.sampled_from(["", "no_such_thing", "classifier", "avg", "auto", "x" * 40])

WILD = {
        "backbone": st.one_of(st.just("fuzz_cnn"), names, junk, st.none()),
        "head": st.one_of(
            st.sampled_from(["classifier", "classify", "regressor", "multi_label"]), names, junk
        ),
        "num_classes": st.one_of(
            st.integers(-3, 12), st.floats(allow_nan=True), names, junk, st.none(),
            st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(-1, 5), max_size=3),
        ),
        "bottleneck": st.one_of(
            st.none(), st.integers(-2, 32), st.lists(st.integers(-1, 16), max_size=3), names, junk
        ),
        "dropout": st.one_of(st.one_of(st.floats(-1, 2), st.just(float("nan"))), names, junk, st.none()),
        "weights": st.one_of(
            st.sampled_from([None, "auto", "/no/such/file.weights.h5", "imagenet"]), junk
        ),
        "freeze": st.one_of(st.sampled_from(["auto", True, False]), st.integers(-3, 8), names, junk),
        "input_shape": st.one_of(
            st.none(),
            st.tuples(st.integers(-1, 12), st.integers(-1, 12), st.integers(-1, 4)),
            st.lists(st.integers(0, 9), max_size=4),
            names,
            junk,
        ),
        "pooling": st.one_of(st.sampled_from(["avg", "max"]), names, junk, st.none()),
        "feature_norm": st.one_of(st.sampled_from([None, "l2"]), names, junk),
        "heads": st.one_of(
            st.none(),
            st.dictionaries(
                st.sampled_from(["a", "b", "c"]),
                st.one_of(st.sampled_from(["classifier", "regressor"]), names, junk),
                max_size=3,
            ),
            junk,
        ),
        "compile": st.one_of(st.booleans(), junk),
        "strategy": st.one_of(
            st.none(),
            st.sampled_from(
                ["feature_extraction", "partial", "full", "gradual", "discriminative", "lora"]
            ),
            st.lists(st.sampled_from(["full", "gradual", "lora", "bogus"]), max_size=3),
            names,
            junk,
        ),
        "loss_weights": st.one_of(
            st.none(), st.dictionaries(st.sampled_from(["a", "b", "z"]), st.floats(-1, 2)), junk
        ),
        "mixed_precision": st.one_of(
            st.sampled_from(["auto", True, False, "float32", "mixed_bfloat16", "float16"]), junk
        ),
        "jit_compile": st.one_of(st.sampled_from(["auto", True, False]), names, junk),
        "distribution": st.one_of(st.none(), names, junk),
        "name": st.one_of(st.none(), st.text(max_size=8), junk),
        "not_an_argument": junk,
}  # fmt: skip


# Arguments build() accepts, so that most calls get far (into the backbone,
# the heads, the strategies, compile) before one bad value trips them.
VALID = {
    "head": st.sampled_from(["classifier", "regressor"]),
    "num_classes": st.integers(2, 6),
    "bottleneck": st.one_of(
        st.none(), st.integers(1, 8), st.lists(st.integers(1, 8), min_size=1, max_size=2)
    ),
    "dropout": st.floats(0, 0.9),
    "freeze": st.one_of(st.sampled_from(["auto", True, False]), st.integers(0, 3)),
    "pooling": st.sampled_from(["avg", "max"]),
    "feature_norm": st.sampled_from([None, "l2"]),
    "input_shape": st.sampled_from([None, (8, 8, 3), (12, 10, 1)]),
    "compile": st.booleans(),
    "mixed_precision": st.sampled_from(["auto", False, "float32", "mixed_bfloat16"]),
    "jit_compile": st.sampled_from(["auto", False]),
}
one_wild_value = st.sampled_from(sorted(WILD)).flatmap(lambda k: WILD[k].map(lambda v: {k: v}))
build_arguments = st.one_of(
    st.fixed_dictionaries({}, optional=WILD),
    st.fixed_dictionaries({}, optional=VALID),
    st.tuples(st.fixed_dictionaries({}, optional=VALID), one_wild_value).map(
        lambda pair: {**pair[0], **pair[1]}
    ),
)


def _names_what_it_received(error):
    message = str(error)
    return "Received" in message or re.search(r"[a-z_]+=", message) is not None


def _check_outcome(call, kwargs):
    try:
        result = call(**kwargs)
    except TlkerasError as error:
        assert _names_what_it_received(error), f"{kwargs!r} -> {error!r}"
        return None
    except Exception as error:  # anything else is the defect this test hunts
        pytest.fail(f"{call.__name__}(**{kwargs!r}) raised {type(error).__name__}: {error}")
    return result


def _build(kwargs):
    kwargs = dict(kwargs)
    backbone = kwargs.pop("backbone", "fuzz_cnn")
    CALLS["build"] += 1
    try:
        model = _check_outcome(lambda **kw: tlkeras.build(backbone, **kw), kwargs)
    finally:
        keras.config.set_dtype_policy("float32")  # a failed build must not leak a policy
    if model is not None:
        CALLS["built"] += 1
        assert isinstance(model, tlkeras.TransferModel)
        assert keras.config.dtype_policy().name == "float32"


@settings(max_examples=DEFAULT_EXAMPLES, **FUZZ_SETTINGS)
@given(build_arguments)
def test_build_succeeds_or_raises_a_documented_error(kwargs):
    _build(kwargs)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **FUZZ_SETTINGS)
@given(build_arguments)
def test_build_thousands_of_combinations(kwargs):
    _build(kwargs)


data_sections = st.one_of(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["fashion_mnist", "digits", "npz", "mnist"])},
        optional={
            "image_size": st.one_of(st.integers(-1, 64), names, junk),
            "path": st.one_of(names, junk),
            "test_fraction": st.floats(-1, 2),
            "colour": junk,
        },
    ),
    names,
    junk,
)
config_values = st.one_of(
    st.integers(-2, 12), st.one_of(st.floats(-1, 2), st.just(float("nan"))), names, junk, st.booleans(), st.none(),
    st.lists(st.one_of(st.integers(-2, 5), st.floats(-0.5, 1.5)), max_size=3),
)  # fmt: skip
CONFIG_WILD = {
    "backbone": st.one_of(st.just("fuzz_cnn"), names, junk),
    "data": data_sections,
    "configs": st.one_of(
        st.dictionaries(
            st.sampled_from(["scratch", "fine_tune"]),
            st.one_of(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "weights": st.one_of(st.none(), names, junk),
                        "freeze": st.one_of(st.booleans(), st.integers(-1, 4), names, junk),
                        "learning_rate": config_values,
                        "epochs": config_values,
                        "strategy": names,
                    },
                ),
                junk,
            ),
            max_size=2,
        ),
        junk,
    ),
    **{
        key: config_values
        for key in (
            "fractions", "shots", "seeds", "epochs", "early_stopping", "validation_split",
            "cv", "metrics", "batch_size", "precise_bn", "max_trials", "tune", "colour",
        )
    },
}  # fmt: skip
VALID_CONFIG = {
    "backbone": "fuzz_cnn",
    "data": {"name": "digits", "image_size": 8},
    "configs": {"scratch": {"weights": None, "freeze": False}, "fine_tune": {"freeze": 1}},
    "fractions": [0.5],
    "epochs": 2,
}
configs = st.one_of(
    st.fixed_dictionaries({}, optional=CONFIG_WILD),
    st.just(VALID_CONFIG),
    st.sampled_from(sorted(CONFIG_WILD)).flatmap(
        lambda k: CONFIG_WILD[k].map(lambda v: {**VALID_CONFIG, k: v})
    ),
)


@settings(max_examples=DEFAULT_EXAMPLES, **FUZZ_SETTINGS)
@given(configs)
def test_config_loader_accepts_or_names_the_bad_key(config):
    _load(config)


def _load(config):
    CALLS["config"] += 1
    if _check_outcome(load_comparison_config, {"source": config}) is not None:
        CALLS["config_ok"] += 1


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **FUZZ_SETTINGS)
@given(configs)
def test_config_loader_thousands_of_combinations(config):
    _load(config)


@settings(max_examples=max(DEFAULT_EXAMPLES // 5, 10), **FUZZ_SETTINGS)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_config_file_of_random_bytes_is_refused_by_name(tmp_path, content):
    path = tmp_path / "config.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    _load(str(path))


def teardown_module():
    print(
        f"\nfuzzed: build() {CALLS['build']} calls, {CALLS['built']} built; "
        f"config loader {CALLS['config']} calls, {CALLS['config_ok']} accepted"
    )
