"""EfficientNet-Lite0 PyTorch checkpoints as native keras-hub presets.

keras-hub already converts timm checkpoints (`model.safetensors` plus a timm
`config.json`) into `EfficientNetBackbone`. So a checkpoint in the lukemelas
naming (`_blocks.3._expand_conv.weight`, used by the ports of Google's
TensorFlow checkpoints) is renamed to timm's names, written as a timm folder,
loaded by keras-hub's own converter, and saved as a native keras-hub preset
that later loads skip converting.

Two trainings share the architecture but not the numerics:

- the TensorFlow original (lukemelas ports, timm's `tf_efficientnet_lite0`):
  BatchNormalization epsilon 1e-3, inputs `(x - 127) / 128` for `x` in
  [0, 255] (mean 127/255 ≈ 0.498, std 128/255 ≈ 0.502 on [0, 1]);
- timm's PyTorch-trained `efficientnet_lite0`: epsilon 1e-5, torchvision's
  ImageNet mean/std.

keras-hub pads stride-2 depthwise convolutions symmetrically, TensorFlow's
"SAME" pads (0, 1) on even sizes: outputs equal the TF-trained original
exactly at odd input sizes (e.g. 225) and differ slightly at 224.
"""

import json
import tempfile
from pathlib import Path

import numpy as np

from tlkeras.errors import WeightsError

# Blocks per stage; lukemelas numbers blocks 0..15 across all stages.
_STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)

# Normalisation profiles, on RGB values scaled to [0, 1].
TF_MEAN = (127.0 / 255.0,) * 3
TF_STD = (128.0 / 255.0,) * 3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

VARIANTS = {
    "tf_efficientnet_lite0": {"epsilon": 1e-3, "mean": TF_MEAN, "std": TF_STD},
    "efficientnet_lite0": {
        "epsilon": 1e-5,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    },
}

_TOP_LEVEL = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# The first stage's depthwise-separable blocks have no expansion conv, so
# timm numbers their convs and norms from the depthwise conv onwards.
_SEPARABLE_BLOCK = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_INVERTED_RESIDUAL_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def lukemelas_to_timm(state, stage_repeats=_STAGE_REPEATS):
    """Renames a lukemelas-style EfficientNet-Lite0 state dict to timm's names.

    Args:
        state: dict of lukemelas names (`_conv_stem.weight`,
            `_blocks.0._depthwise_conv.weight`, `_fc.bias`, ...) to arrays.
        stage_repeats: blocks per stage (Lite1-4 repeat more). Defaults to
            Lite0's `(1, 2, 2, 3, 3, 4, 1)`.

    Returns:
        A dict of timm `efficientnet_lite0` names to the same arrays, without
        the `num_batches_tracked` counters.

    Raises:
        WeightsError: a key has no timm counterpart.
    """
    block_positions = [
        (stage, index) for stage, repeats in enumerate(stage_repeats) for index in range(repeats)
    ]
    renamed = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        parts = key.split(".")
        try:
            if parts[0] == "_blocks":
                stage, index = block_positions[int(parts[1])]
                table = _SEPARABLE_BLOCK if stage == 0 else _INVERTED_RESIDUAL_BLOCK
                module = table[parts[2]]
                new_key = f"blocks.{stage}.{index}.{module}.{'.'.join(parts[3:])}"
            else:
                new_key = f"{_TOP_LEVEL[parts[0]]}.{'.'.join(parts[1:])}"
        except (KeyError, IndexError, ValueError):
            raise WeightsError(
                "This tensor has no counterpart in EfficientNet-Lite0: the "
                f"checkpoint is another architecture. Received: key={key!r}"
            ) from None
        renamed[new_key] = value
    return renamed


def timm_lite0_state(state, architecture):
    """Returns `(timm-named state, variant)` for a lukemelas or timm checkpoint.

    lukemelas-named checkpoints are ports of the TensorFlow training, so they
    always take the `"tf_efficientnet_lite0"` numerics.

    Args:
        state: dict of tensor names to arrays.
        architecture: `"efficientnet_lite0"` or `"tf_efficientnet_lite0"`;
            decides the numerics of timm-named checkpoints.
    """
    if "_conv_stem.weight" in state:
        return lukemelas_to_timm(state), "tf_efficientnet_lite0"
    if "conv_stem.weight" in state:
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
        return state, architecture
    raise WeightsError(
        "Neither lukemelas (`_conv_stem.weight`) nor timm (`conv_stem.weight`) "
        f"EfficientNet-Lite0 names in this checkpoint. Received keys like: "
        f"{list(state)[:5]}"
    )


def build_lite0_preset(timm_state, variant, preset_dir, backbone_overrides=None):
    """Writes a native keras-hub EfficientNet-Lite0 classifier preset.

    Args:
        timm_state: dict of timm `efficientnet_lite0` names to arrays.
        variant: a key of `VARIANTS`.
        preset_dir: an empty folder to write the preset into.
        backbone_overrides: `EfficientNetBackbone` arguments that turn Lite0
            into a deeper or wider Lite (see `efficientnet_lite_zoo`).
            Defaults to `None`.
    """
    import keras_hub
    from safetensors.numpy import save_file

    numerics = VARIANTS[variant]
    with tempfile.TemporaryDirectory(prefix="tlkeras-timm-") as timm_dir:
        save_file(
            {k: np.ascontiguousarray(v) for k, v in timm_state.items()},
            str(Path(timm_dir) / "model.safetensors"),
        )
        config = {
            # keras-hub parses the variant from this name, so it stays the
            # timm name even for the TF-trained numerics.
            "architecture": "efficientnet_lite0",
            "num_classes": int(timm_state["classifier.bias"].shape[0]),
            "num_features": 1280,
            "pretrained_cfg": {
                "input_size": [3, 224, 224],
                "interpolation": "bicubic",
                "mean": list(numerics["mean"]),
                "std": list(numerics["std"]),
                "classifier": "classifier",
            },
        }
        (Path(timm_dir) / "config.json").write_text(json.dumps(config, indent=2))
        # keras-hub's timm converter hard-codes epsilon 1e-5; the kwarg
        # overrides it and is saved in the native preset's config.
        backbone = keras_hub.models.EfficientNetBackbone.from_preset(
            timm_dir, batch_norm_epsilon=numerics["epsilon"], **(backbone_overrides or {})
        )
        classifier = keras_hub.models.ImageClassifier.from_preset(timm_dir, backbone=backbone)
        classifier.save_to_preset(str(preset_dir))
