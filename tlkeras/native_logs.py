"""Keeps TensorFlow's start-up log lines that no user can act on off the terminal.

Importing TensorFlow prints C++ log lines before any Python code can filter
them (TensorFlow's absl logging ignores `TF_CPP_MIN_LOG_LEVEL` that early):
the absl pre-initialisation notice, oneDNN's note, the CPU-instructions note,
and on machines without an NVIDIA GPU the CUDA driver probing (`cuInit`).
`import_backend_quietly()` imports Keras and initialises its devices with the
process's stderr captured, then writes back every line but those. Setting
`TF_CPP_MIN_LOG_LEVEL` yourself (e.g. `0`) turns the filter off.
"""

import contextlib
import glob
import os
import sys
import tempfile

NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
)
# Only noise where no NVIDIA device exists: on a GPU machine they explain a fault.
GPU_NOISE = (
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
)
_done = {"imported": False}


def is_noise(line, has_gpu_device):
    """Whether a captured stderr line is start-up noise (see the module docstring)."""
    patterns = NOISE if has_gpu_device else NOISE + GPU_NOISE
    return any(pattern in line for pattern in patterns)


def import_backend_quietly():
    """Imports Keras (and initialises TensorFlow's devices) without the start-up noise.

    Does nothing after the first call, when TensorFlow was already imported,
    or when the user set `TF_CPP_MIN_LOG_LEVEL`.
    """
    if _done["imported"]:
        return
    _done["imported"] = True
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import keras  # noqa: F401

        return
    with _filtered_stderr(has_gpu_device=bool(glob.glob("/dev/nvidia[0-9]*"))):
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # Probes the GPU platform now (the cuInit line), inside the filter.
            tf.config.list_physical_devices()


@contextlib.contextmanager
def _filtered_stderr(has_gpu_device):
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable file descriptor 2: nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(True) if not is_noise(line, has_gpu_device)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
