"""Writes the small real-torch checkpoints in `data/` that the reader tests load.

Not part of the test suite: run once with torch installed (see
`make_reference_logits.py`) as `python tests/weights/make_checkpoint_fixtures.py`.
The tensors cover what the restricted reader must handle: a Parameter, a
non-contiguous (transposed) tensor, a view at a storage offset, int64
scalars, float16 and bfloat16, and (zip format) a nested dict with a
non-tensor entry. `expected_fixture_arrays()` in the tests rebuilds the same
values with NumPy.
"""

from collections import OrderedDict
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"


def state_dict():
    base = torch.arange(10, dtype=torch.float32)
    return OrderedDict(
        [
            ("conv.weight", torch.nn.Parameter(torch.arange(24.0).reshape(2, 3, 2, 2))),
            ("linear.weight", torch.arange(6.0).reshape(2, 3).t()),
            ("view", base[4:7]),
            ("base", base),
            ("bn.num_batches_tracked", torch.tensor(7)),
            ("half", torch.tensor([1.5, -2.0], dtype=torch.float16)),
            ("bf16", torch.tensor([1.0, -3.5], dtype=torch.bfloat16)),
        ]
    )


def main():
    torch.save(state_dict(), DATA / "tiny_legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"state_dict": state_dict(), "epoch": 3}, DATA / "tiny_zip.pth")


if __name__ == "__main__":
    main()
