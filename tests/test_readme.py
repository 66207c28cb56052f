"""The README's Python blocks run as written, on tiny data.

The blocks are taken from README.md itself, so the quick start a new user copies
cannot drift from the API. Only the sizes shrink (fewer images, smaller images,
one epoch each) to keep the default suite fast; the calls are the README's own.
"""

import re
from pathlib import Path

import keras
import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"
# README value -> tiny value. Each must occur, so a reworded README fails here
# instead of silently running at full size.
TINY = {
    r"per_class=30": "per_class=2",
    r"image_size=96": "image_size=48",
    r"epochs=\d+": "epochs=1",
}


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def shrink(code):
    for pattern, tiny in TINY.items():
        code, count = re.subn(pattern, tiny, code)
        assert count, f"README no longer contains {pattern!r}; update TINY in {__file__}"
    return code


def test_quick_start_runs_as_written(tmp_path, monkeypatch):
    blocks = python_blocks()
    assert blocks, "README.md has no python block"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(shrink(blocks[0]), str(README), "exec"), namespace)  # noqa: S102 - our own README

    model = namespace["model"]
    restored = keras.models.load_model(tmp_path / "fashion.keras")
    x = np.random.default_rng(0).uniform(0, 255, (3, 48, 48, 3)).astype("float32")
    probabilities = restored.predict(x, verbose=0)
    assert probabilities.shape == (3, 10)  # sized from Fashion-MNIST's ten classes
    np.testing.assert_allclose(probabilities, model.predict(x, verbose=0), atol=1e-5)
