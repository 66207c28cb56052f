"""Export a trained model for serving: a TensorFlow SavedModel or a TFLite file.

The artifact holds only inference: a domain-adaptation wrapper exports its task
model (no discriminator, no gradient reversal), LoRA factors are merged into the
kernels, and frozen/unfrozen state no longer matters. Preprocessing stays inside
(image normalisation, the text tokenizer), so the artifact takes raw inputs:
pixels in `[0, 255]` (float32, or uint8 through the `serve_uint8` signature) or
raw strings. Outputs are named per head (`probabilities` for a single classifier,
`predictions` for a single regressor, the head names for a multi-task model).

This builds on Keras's own `Model.export` machinery (`keras.export.ExportArchive`
and the TFLite converter it uses), adding the serving model and named signatures.
"""

import os
import tempfile

import keras
import numpy as np

from tlkeras.domain.domain_adaptation_model import DomainAdaptationModel
from tlkeras.errors import ConfigurationError
from tlkeras.heads import ClassifierHead
from tlkeras.saving import replacing_directory
from tlkeras.serving_tokenizers import core_tensorflow_tokenizers
from tlkeras.serving_tokenizers import needs_tensorflow_text
from tlkeras.strategies import merge_lora
from tlkeras.weights.cache import atomic_path

FORMATS = ("tf_saved_model", "tflite")
QUANTIZATIONS = (None, "float16", "dynamic", "int8")


def export(
    model,
    path,
    format="tf_saved_model",
    *,
    quantization=None,
    representative_data=None,
    input_shape=None,
    verbose=True,
):
    """Writes `model` as a serving artifact at `path` and returns `path`.

    Args:
        model: a `tlkeras.TransferModel` (single or multi-task, LoRA or not),
            a `tlkeras.domain.DomainAdaptationModel` (its task model is
            exported) or any functional Keras model.
        path: a folder for `"tf_saved_model"`, a `.tflite` file for
            `"tflite"`. Written atomically: an existing artifact is replaced
            only when the new one is complete.
        format: `"tf_saved_model"` or `"tflite"`. Defaults to
            `"tf_saved_model"`.
        quantization: TFLite only. `None` (float32), `"float16"` (float16
            weights), `"dynamic"` (int8 weights, float activations) or
            `"int8"` (int8 weights and activations, calibrated on
            `representative_data`; inputs and outputs stay float32).
            Defaults to `None`.
        representative_data: TFLite `"int8"` only: a few hundred typical
            inputs (an array, or an iterable of input batches) to calibrate
            the activation ranges. Defaults to `None`.
        input_shape: TFLite only: the fixed input shape without the batch
            axis, e.g. `(96, 96, 3)`, for a model that accepts any image
            size (TFLite plans its memory for one size). Defaults to the
            model's own input shape, or that of `representative_data`.
        verbose: print what was written. Defaults to `True`.

    Example:

    ```python
    tlkeras.export(model, "serving/flowers")                      # SavedModel
    tlkeras.export(model, "flowers.tflite", format="tflite",
                   quantization="int8", representative_data=x_train[:200])
    ```
    """
    if format not in FORMATS:
        raise ConfigurationError(f"format must be one of {FORMATS}. Received: format={format!r}")
    if quantization not in QUANTIZATIONS:
        raise ConfigurationError(
            f"quantization must be one of {QUANTIZATIONS}. Received: quantization={quantization!r}"
        )
    if format != "tflite" and (quantization or input_shape or representative_data is not None):
        raise ConfigurationError(
            "quantization, representative_data and input_shape apply to format='tflite' only. "
            f"Received: format={format!r}"
        )
    if quantization == "int8" and representative_data is None:
        raise ConfigurationError(
            "quantization='int8' calibrates activation ranges on typical inputs: pass "
            "representative_data= (e.g. 200 training examples). Received: representative_data=None"
        )
    serving = serving_model(model)
    path = os.fspath(path)
    if format == "tf_saved_model":
        with replacing_directory(path) as staging:
            _write_saved_model(serving, staging)
    else:
        _write_tflite(serving, path, quantization, representative_data, input_shape)
    if verbose:
        print(f"Exported {serving.name!r} as {format} to {path} ({artifact_size_mb(path):.2f} MB).")
        if needs_tensorflow_text(serving):
            print(
                "Its tokenizer (byte-level BPE) runs TF Text ops: `import tensorflow_text` before loading."
            )
    return path


def serving_model(model):
    """The inference part of `model`, with named outputs, ready to export.

    Args:
        model: as for `tlkeras.export`.

    Returns:
        A functional `keras.Model` with the same inputs whose outputs are a
        dict of named tensors (see the module docstring). LoRA factors are
        merged; the original model is left unchanged.
    """
    if isinstance(model, DomainAdaptationModel):
        model = model.task_model
    if not isinstance(model, keras.Model) or not _is_functional(model):
        raise ConfigurationError(
            "tlkeras.export takes a functional Keras model (what tlkeras.build returns). "
            f"Received: {type(model).__name__}"
        )
    if any(getattr(layer, "lora_enabled", False) for layer in _leaves(model)):
        model = merge_lora(model)
    outputs = _named_outputs(model)
    return keras.Model(model.inputs, outputs, name=model.name)


def _is_functional(model):
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):  # a subclassed model has no graph
        return False


def _leaves(model):
    return model._flatten_layers(include_self=False, recursive=True)


def _named_outputs(model):
    struct = model._outputs_struct
    if isinstance(struct, dict):  # multi-task: one output per head, under its name
        return dict(struct)
    if len(model.outputs) > 1:
        return dict(zip(model.output_names, model.outputs, strict=True))
    heads = getattr(model, "heads", {})
    classifier = any(isinstance(head, ClassifierHead) for head in heads.values())
    return {"probabilities" if classifier else "predictions": model.outputs[0]}


def _input_specs(model):
    """One `tf.TensorSpec` per model input, named after what it carries."""
    import tensorflow as tf

    specs = []
    for tensor in model.inputs:
        dtype = tf.string if tensor.dtype == "string" else tf.as_dtype(tensor.dtype)
        name = "texts" if dtype == tf.string else _name_of(tensor, len(model.inputs))
        specs.append(tf.TensorSpec(tensor.shape, dtype, name=name))
    return specs


def _name_of(tensor, num_inputs):
    if num_inputs == 1 and len(tensor.shape) == 4:
        return "images"
    return tensor._keras_history.operation.name


def _write_saved_model(serving, folder):
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise ConfigurationError(
            "tlkeras.export writes TensorFlow artifacts from the TensorFlow backend. "
            f"Received: KERAS_BACKEND={keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow "
            "and load the .keras file there."
        )
    specs = _input_specs(serving)
    archive = keras.export.ExportArchive()
    archive.track(serving)

    def serve(*inputs):
        return serving(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    # BERT-family tokenizers trace as core TensorFlow ops: the artifact loads without TF Text.
    with core_tensorflow_tokenizers(serving) as (replacements, _):
        for replacement in replacements:
            archive.track(replacement)
        archive.add_endpoint("serve", serve, input_signature=specs)
        if len(specs) == 1 and specs[0].name == "images":
            # Raw uint8 pixels (a decoded JPEG/PNG) without a cast in the client.
            uint8 = tf.TensorSpec(specs[0].shape, tf.uint8, name="images")
            archive.add_endpoint(
                "serve_uint8",
                lambda images: serving(tf.cast(images, specs[0].dtype), training=False),
                input_signature=[uint8],
            )
        archive.write_out(folder, verbose=False)


def _write_tflite(serving, path, quantization, representative_data, input_shape):
    import tensorflow as tf

    shape = _fixed_shape(serving, input_shape, representative_data)
    with tempfile.TemporaryDirectory() as folder:
        fixed = _with_input_shape(serving, shape)
        _write_saved_model(fixed, folder)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["serve"])
        if quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantization == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantization == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = _calibration_batches(representative_data, shape)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        try:
            flatbuffer = converter.convert()
        except Exception as error:  # the converter raises several unrelated types
            raise ConfigurationError(_conversion_advice(serving, error)) from error
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(flatbuffer)


def _fixed_shape(serving, input_shape, representative_data):
    if len(serving.inputs) != 1 or serving.inputs[0].dtype == "string":
        raise ConfigurationError(
            "format='tflite' exports models with one numeric input (images, features). Text "
            "models tokenize strings inside the model, with string ops TFLite's builtin op set lacks; "
            "export them with format='tf_saved_model'. Received: inputs "
            f"{[(t.name, t.dtype) for t in serving.inputs]}"
        )
    declared = tuple(serving.inputs[0].shape[1:])
    if input_shape is not None:
        shape = tuple(input_shape)
    elif None not in declared:
        shape = declared
    elif representative_data is not None and isinstance(representative_data, np.ndarray):
        shape = representative_data.shape[1:]
    else:
        raise ConfigurationError(
            f"This model accepts inputs of shape {(None, *declared)}; a TFLite file is planned "
            "for one size: pass input_shape=, e.g. input_shape=(224, 224, 3). "
            "Received: input_shape=None"
        )
    if len(shape) != len(declared) or any(
        d is not None and d != s for d, s in zip(declared, shape, strict=False)
    ):
        raise ConfigurationError(
            f"input_shape must fit the model's input {(None, *declared)}. "
            f"Received: input_shape={shape!r}"
        )
    return shape


def _with_input_shape(serving, shape):
    """The same layers called on an input of fixed `shape` (weights shared)."""
    inputs = keras.Input(shape, dtype=serving.inputs[0].dtype, name=serving.inputs[0].name)
    return keras.Model(inputs, serving(inputs), name=serving.name)


def _calibration_batches(data, shape):
    def batches():
        items = data if not isinstance(data, np.ndarray) else np.array_split(data, len(data))
        for item in items:
            batch = np.asarray(item, dtype="float32")
            if batch.shape[1:] != tuple(shape):
                raise ConfigurationError(
                    f"representative_data must hold inputs of shape {tuple(shape)}. "
                    f"Received: a batch of shape {batch.shape}"
                )
            yield [batch]

    return batches


def _conversion_advice(serving, error):
    message = str(error).strip().splitlines()
    ops = sorted({line.split("tf.")[1].split()[0] for line in message if "tf." in line})[:5]
    where = f" (unsupported ops: {', '.join(ops)})" if ops else ""
    return (
        f"TFLite could not convert model {serving.name!r}{where}. Export it with "
        "format='tf_saved_model' (every TensorFlow op works there), or pick a backbone whose "
        f"layers TFLite supports. Converter said: {message[0][:300] if message else error!r}"
    )


def artifact_size_mb(path):
    """Size of an exported file, or of every file in an exported folder, in MiB."""
    if os.path.isfile(path):
        return os.path.getsize(path) / 2**20
    return (
        sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(path)
            for name in names
        )
        / 2**20
    )
