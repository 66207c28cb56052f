import os

# No test may reach a model hub: a `hf://` preset otherwise retries ~23 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(config, items):
    # `@pytest.mark.tensorflow_only("why")`: parts TensorFlow-only by nature
    # (tf.distribute, tf.text, tf.data pipelines) skip on other backends, saying why.
    import keras
    import pytest

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    for item in items:
        marker = item.get_closest_marker("tensorflow_only")
        if marker is not None:
            why = marker.args[0] if marker.args else "TensorFlow-only"
            item.add_marker(
                pytest.mark.skip(reason=f"needs TensorFlow ({why}); backend is {backend}")
            )
