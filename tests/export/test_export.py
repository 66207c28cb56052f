"""tlkeras.export: serving artifacts equal the Keras model, load without tlkeras, hold only inference."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import tlkeras
from tlkeras.errors import ConfigurationError
from tlkeras.serving import export
from tlkeras.serving import serving_model

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 255, (6, 16, 16, 3)).astype("float32")
TEXTS = ["a puppy barked", "shares dropped sharply", "the cat sat on the mat"]


def tiny_cnn(input_shape=(None, None, 3)):
    inputs = keras.Input(input_shape)
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem_conv")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="stage1_conv")(x)
    return keras.Model(inputs, x, name="tiny_cnn")


def image_model(**kwargs):
    keras.utils.set_random_seed(0)
    return tlkeras.build(tiny_cnn(), num_classes=3, bottleneck=8, **kwargs)


def run_without_tlkeras(script, folder, **values):
    """Runs `script` in a fresh Python that must never import tlkeras or keras-hub.

    `values` reach the script as JSON in the file named by `$VALUES`; the
    script prints its result as JSON on its last line.
    """
    (folder / "values.json").write_text(json.dumps(values))
    code = textwrap.dedent(script) + textwrap.dedent("""
        import sys
        banned = [m for m in sys.modules if m.split(".")[0] in ("tlkeras", "keras_hub")]
        assert not banned, banned
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VALUES": str(folder / "values.json")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_saved_model_serves_any_size_and_uint8_in_plain_tensorflow(tmp_path):
    model = image_model()
    export(model, tmp_path / "served", verbose=False)
    big = RNG.uniform(0, 255, (2, 40, 24, 3)).astype("float32")
    pixels = RNG.integers(0, 256, (2, 16, 16, 3)).astype("uint8")
    served = run_without_tlkeras(
        """
        import json, os
        import numpy as np, tensorflow as tf
        v = json.load(open(os.environ["VALUES"]))
        m = tf.saved_model.load(v["path"])
        sig = m.signatures["serving_default"]
        out = {
            "small": sig(images=tf.constant(v["small"], tf.float32))["probabilities"].numpy().tolist(),
            "big": m.serve(tf.constant(v["big"], tf.float32))["probabilities"].numpy().tolist(),
            "uint8": m.serve_uint8(tf.constant(v["uint8"], tf.uint8))["probabilities"].numpy().tolist(),
            "outputs": sorted(sig.structured_outputs),
        }
        print(json.dumps(out))
        """,
        tmp_path,
        path=str(tmp_path / "served"),
        small=IMAGES.tolist(),
        big=big.tolist(),
        uint8=pixels.tolist(),
    )
    assert served["outputs"] == ["probabilities"]
    for key, x in [("small", IMAGES), ("big", big), ("uint8", pixels.astype("float32"))]:
        np.testing.assert_allclose(served[key], model.predict(x, verbose=0), atol=1e-5)


def tensorflow_only_python(folder):
    """A Python command whose imports see TensorFlow and its dependencies only.

    `python -S` with a path of links to every installed package except keras,
    keras-hub, TF Text and tlkeras: what a serving machine with
    `pip install tensorflow` has. (In the full venv, `import tensorflow`
    itself imports keras.)
    """
    import sysconfig

    banned = ("keras", "tensorflow_text", "tlkeras", "tf_keras", "__editable__")
    site = sysconfig.get_paths()["purelib"]
    shadow = folder / "tensorflow_only"
    shadow.mkdir()
    for name in os.listdir(site):
        if not name.startswith(banned) and not name.endswith(".pth"):
            os.symlink(os.path.join(site, name), shadow / name)
    return [sys.executable, "-S"], {"PYTHONPATH": str(shadow)}


def test_text_saved_model_takes_raw_strings_with_tensorflow_only(tmp_path):
    backbone = tlkeras.get_backbone("bert", weights=None, sequence_length=16)
    model = tlkeras.build(backbone, num_classes=2, compile=False)
    export(model, tmp_path / "text", verbose=False)
    texts = [*TEXTS, "Café naïve, 東京! I ❤️ emoji", "", "word " * 40, "x" * 150]
    command, env = tensorflow_only_python(tmp_path)
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow.python.framework import op_def_registry
        import importlib.util
        importable = [m for m in ("keras", "keras_hub", "tensorflow_text", "tlkeras")
                      if importlib.util.find_spec(m) is not None]
        assert not importable, importable
        path, texts = sys.argv[1], json.loads(sys.argv[2])
        sig = tf.saved_model.load(path).signatures["serving_default"]
        probabilities = sig(texts=tf.constant(texts))["probabilities"].numpy().tolist()
        saved = saved_model_pb2.SavedModel.FromString(open(path + "/saved_model.pb", "rb").read())
        graph = saved.meta_graphs[0].graph_def
        nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
        ops = sorted({n.op for n in nodes})
        loaded = [m for m in sys.modules if m.split(".")[0] in ("keras", "keras_hub", "tensorflow_text", "tlkeras")]
        unregistered = [op for op in ops if op_def_registry.get(op) is None]
        print(json.dumps({"probabilities": probabilities, "ops": ops, "loaded": loaded,
                          "unregistered": unregistered}))
    """)
    done = subprocess.run(
        [*command, "-c", script, str(tmp_path / "text"), json.dumps(texts)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        cwd=tmp_path,  # not the repository: its tlkeras/ would be importable
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert served["loaded"] == [] and served["unregistered"] == []
    # TF Text's op names, the ones keras-hub's tokenizer would have put there.
    assert not [op for op in served["ops"] if "Regex" in op and "Split" in op]
    assert not [
        op for op in served["ops"] if op.startswith(("FastWordpiece", "CaseFold", "Normalize"))
    ]
    assert "StaticRegexReplace" in served["ops"] and "LookupTableFindV2" in served["ops"]
    expected = model.predict(np.array(texts, dtype=object), verbose=0)
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    assert backbone.packer.call.__self__ is backbone.packer  # the model is left as it was


def interpret(path, x):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner("serve")
    return runner(images=x)


def test_tflite_float_matches_and_int8_stays_close(tmp_path):
    model = image_model()
    expected = model.predict(IMAGES, verbose=0)
    export(
        model, tmp_path / "float.tflite", format="tflite", input_shape=(16, 16, 3), verbose=False
    )
    np.testing.assert_allclose(
        interpret(tmp_path / "float.tflite", IMAGES)["probabilities"], expected, atol=1e-4
    )
    calibration = RNG.uniform(0, 255, (32, 16, 16, 3)).astype("float32")
    export(
        model,
        tmp_path / "int8.tflite",
        format="tflite",
        quantization="int8",
        representative_data=calibration,
        verbose=False,
    )
    quantized = interpret(tmp_path / "int8.tflite", IMAGES)["probabilities"]
    np.testing.assert_allclose(quantized, expected, atol=0.05)
    assert os.path.getsize(tmp_path / "int8.tflite") < os.path.getsize(tmp_path / "float.tflite")


def test_domain_wrapper_exports_its_task_model_only():
    model = tlkeras.build(
        tiny_cnn((16, 16, 3)), num_classes=3, bottleneck=8, domain_adaptation="dann"
    )
    serving = serving_model(model)
    layers = serving._flatten_layers(include_self=False, recursive=True)
    assert not [layer for layer in layers if isinstance(layer, tlkeras.layers.GradientReversal)]
    exported = {id(v) for v in serving.weights}
    assert not [v.path for v in model.discriminator.weights if id(v) in exported]
    np.testing.assert_allclose(
        serving.predict(IMAGES, verbose=0)["probabilities"],
        model.task_model.predict(IMAGES, verbose=0),
        atol=1e-6,
    )


def test_lora_model_exports_merged_kernels():
    model = image_model(strategy="lora")
    for layer in model.backbone._flatten_layers(include_self=False, recursive=True):
        for variable in getattr(layer, "trainable_variables", []):
            if variable.name.startswith("lora_"):  # a non-zero update to merge
                variable.assign(RNG.normal(0, 0.1, variable.shape).astype("float32"))
    serving = serving_model(model)
    assert not [v.path for v in serving.weights if "lora_" in v.path]
    np.testing.assert_allclose(
        serving.predict(IMAGES, verbose=0)["probabilities"],
        model.predict(IMAGES, verbose=0),
        atol=1e-5,
    )


def test_multi_task_model_exports_every_head(tmp_path):
    model = tlkeras.build(
        tiny_cnn(), heads={"species": "classifier", "age": "regressor"}, num_classes={"species": 3}
    )
    serving = serving_model(model)
    outputs = serving.predict(IMAGES, verbose=0)
    assert sorted(outputs) == ["age", "species"]
    expected = model.predict(IMAGES, verbose=0)
    for name in outputs:
        np.testing.assert_allclose(outputs[name], expected[name], atol=1e-6)


def test_bad_arguments_name_the_value_and_what_works(tmp_path):
    model = image_model()
    with pytest.raises(ConfigurationError, match="Received: format='onnx'"):
        export(model, tmp_path / "m", format="onnx")
    with pytest.raises(ConfigurationError, match="Received: quantization='int4'"):
        export(model, tmp_path / "m.tflite", format="tflite", quantization="int4")
    with pytest.raises(ConfigurationError, match="representative_data="):
        export(model, tmp_path / "m.tflite", format="tflite", quantization="int8")
    with pytest.raises(ConfigurationError, match=r"pass input_shape=.*Received: input_shape=None"):
        export(model, tmp_path / "m.tflite", format="tflite")
    backbone = tlkeras.get_backbone("bert", weights=None, sequence_length=16)
    text = tlkeras.build(backbone, num_classes=2, compile=False)
    with pytest.raises(ConfigurationError, match="format='tf_saved_model'"):
        export(text, tmp_path / "t.tflite", format="tflite")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_failed_export_keeps_the_previous_artifact(tmp_path, monkeypatch):
    model = image_model()
    export(model, tmp_path / "served", verbose=False)
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "served").rglob("*"))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    import tensorflow as tf

    monkeypatch.setattr(tf.saved_model, "save", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export(model, tmp_path / "served", verbose=False)
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "served").rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["served"]


def test_command_line_exports_a_keras_file(tmp_path):
    from tlkeras.cli import main

    model = image_model()
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "calibration.npy", IMAGES)
    argv = [str(tmp_path / "model.keras"), str(tmp_path / "m.tflite"), "--format", "tflite"]
    assert main(["export", *argv, "--quantization", "int8", "--representative-data",
                 str(tmp_path / "calibration.npy")]) == 0  # fmt: skip
    quantized = interpret(tmp_path / "m.tflite", IMAGES)["probabilities"]
    assert quantized.shape == (6, 3)
    with pytest.raises(SystemExit):  # argparse names the valid choices
        main(["export", *argv[:2], "--format", "onnx"])
