"""The original TFLite pipeline (openWakeWord's), to check the Keras rebuild against.

`tflite_window_embeddings` runs `melspectrogram.tflite`, rescales by
`x / 10 + 2` and runs `embedding_model.tflite` on every 76-frame window
(every 8 frames), as openWakeWord does. Only tests and the conversion check
use it; the Keras models never need TFLite.
"""

import numpy as np

from tlkeras_audio.audio_backbone import WINDOW_SAMPLES
from tlkeras_audio.frontend import INT16_SCALE
from tlkeras_audio.speech_embedding import tflite_interpreter
from tlkeras_audio.weights import openwakeword_models
from tlkeras_audio.windows import WINDOW_FRAMES
from tlkeras_audio.windows import WINDOW_HOP


def _run(interpreter, array):
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(array.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, array)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def tflite_log_mel(waveform, wheel_file=None):
    """`(frames, 32)` rescaled log-mel frames of one 16 kHz clip in [-1, 1], by TFLite."""
    interpreter = tflite_interpreter(
        openwakeword_models(wheel_file) / "melspectrogram.tflite", allocate=False
    )
    samples = (np.asarray(waveform, np.float32) * INT16_SCALE)[None]
    return _run(interpreter, samples)[0, 0] / 10.0 + 2.0


def tflite_window_embeddings(waveform, wheel_file=None):
    """`(windows, 96)` embeddings of one clip's 76-frame windows, by the original TFLite models.

    Args:
        waveform: one 16 kHz clip in [-1, 1]; shorter than 12512 samples
            (one window), it is padded with silence at the end.
        wheel_file: see `tlkeras_audio.weights.openwakeword_models`.
    """
    waveform = np.asarray(waveform, np.float32)
    # Shorter clips are padded with silence, as the Keras front end does.
    waveform = np.pad(waveform, (0, max(0, WINDOW_SAMPLES - len(waveform))))
    frames = tflite_log_mel(waveform, wheel_file)
    starts = range(0, len(frames) - WINDOW_FRAMES + 1, WINDOW_HOP)
    windows = np.stack([frames[s : s + WINDOW_FRAMES] for s in starts])[..., None]
    interpreter = tflite_interpreter(openwakeword_models(wheel_file) / "embedding_model.tflite")
    return np.concatenate([_run(interpreter, w[None]).reshape(1, -1) for w in windows])
