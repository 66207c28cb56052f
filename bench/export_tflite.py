"""Fine-tuned EfficientNet-Lite0 on Fashion-MNIST: Keras vs SavedModel vs TFLite float32 / int8.

Fine-tunes ImageNet EfficientNet-Lite0 (whole network, Adam 1e-4 after a head
warm-up) on a class-balanced subset of Fashion-MNIST, exports it with
`tlkeras.export` and scores each artifact on the same held-out test images:
accuracy, file size and single-image latency on this CPU (median of
`--latency-runs` calls, batch of one, after warm-up). int8 calibrates on 200
training images.

Goal: int8 TFLite loses <= 1 accuracy point against the Keras model.

    .venv/bin/python bench/export_tflite.py            # ~6 min on 2 idle cores
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def rgb(images, size):
    import tensorflow as tf

    resized = tf.image.resize(tf.cast(images[..., None], "float32"), (size, size))
    return np.repeat(resized.numpy(), 3, axis=-1)


def median_latency_ms(predict_one, x, runs):
    for image in x[:5]:  # warm-up: tracing, delegate set-up
        predict_one(image[None])
    times = []
    for image in x[:runs]:
        start = time.perf_counter()
        predict_one(image[None])
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def tflite_runner(path):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path).get_signature_runner("serve")
    return lambda batch: runner(images=batch)["probabilities"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200, help="training images per class")
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs (after 2 head)")
    parser.add_argument("--latency-runs", type=int, default=100)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    import tlkeras
    from tlkeras.data import load_fashion_mnist
    from tlkeras.data import subsample
    from tlkeras.serving import artifact_size_mb

    keras.utils.set_random_seed(0)
    x_train, y_train = subsample(*load_fashion_mnist("train"), args.per_class, seed=0)
    x_test, y_test = subsample(*load_fashion_mnist("test"), args.test_per_class, seed=0)
    x_train, x_test = rgb(x_train, args.image_size), rgb(x_test, args.image_size)
    shape = (args.image_size, args.image_size, 3)

    model = tlkeras.build("efficientnet_lite0", num_classes=10, input_shape=shape)
    model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0)
    model.unfreeze()
    model.compile()  # "auto": Adam 1e-4 now that the pretrained backbone trains
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, verbose=0)

    folder = tempfile.mkdtemp(prefix="tlkeras_export_bench_")
    keras_path = os.path.join(folder, "model.keras")
    model.save(keras_path)
    saved = tlkeras.export(model, os.path.join(folder, "saved_model"), verbose=False)
    float_path = tlkeras.export(
        model, os.path.join(folder, "float.tflite"), format="tflite", input_shape=shape,
        verbose=False,
    )  # fmt: skip
    int8_path = tlkeras.export(
        model, os.path.join(folder, "int8.tflite"), format="tflite", quantization="int8",
        representative_data=x_train[:200], verbose=False,
    )  # fmt: skip

    serve = tf.saved_model.load(saved).signatures["serving_default"]
    artifacts = {
        "Keras model (.keras)": (
            keras_path,
            lambda batch: model.predict_on_batch(batch),
        ),
        "SavedModel": (saved, lambda batch: serve(images=tf.constant(batch))["probabilities"]),
        "TFLite float32": (float_path, tflite_runner(float_path)),
        "TFLite int8": (int8_path, tflite_runner(int8_path)),
    }
    reference = None
    print(f"\nEfficientNet-Lite0 fine-tuned on {len(y_train)} Fashion-MNIST images, "
          f"{args.image_size} px; {len(y_test)} test images\n")  # fmt: skip
    print(
        "| artifact | accuracy | Δ vs Keras (points) | max |Δp| vs Keras | size (MB) | latency, 1 image (ms) |"
    )
    print("|---|---|---|---|---|---|")
    for name, (path, predict) in artifacts.items():
        probabilities = np.concatenate(
            [np.asarray(predict(x_test[i : i + 1])) for i in range(len(x_test))]
        )
        accuracy = float(np.mean(probabilities.argmax(-1) == y_test))
        if reference is None:
            reference = (accuracy, probabilities)
        delta = 100 * (accuracy - reference[0])
        gap = float(np.abs(probabilities - reference[1]).max())
        latency = median_latency_ms(predict, x_test, args.latency_runs)
        size = artifact_size_mb(path)
        print(
            f"| {name} | {accuracy:.3f} | {delta:+.1f} | {gap:.1e} | {size:.2f} | {latency:.2f} |"
        )


if __name__ == "__main__":
    main()
