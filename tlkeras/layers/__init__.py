"""Layers tlkeras adds between backbones and heads."""

from tlkeras.layers.bottleneck import Bottleneck
from tlkeras.layers.gradient_reversal import GradientReversal
from tlkeras.layers.image_normalization import ImageNormalization
from tlkeras.layers.padding_mask import PaddingMask
from tlkeras.layers.sequence_pooling import SequencePooling
from tlkeras.layers.token_packer import TokenPacker

__all__ = [
    "Bottleneck",
    "GradientReversal",
    "ImageNormalization",
    "PaddingMask",
    "SequencePooling",
    "TokenPacker",
]
