"""Layers tlkeras adds between backbones and heads."""

from tlkeras.layers.bottleneck import Bottleneck
from tlkeras.layers.gradient_reversal import GradientReversal
from tlkeras.layers.image_normalization import ImageNormalization

__all__ = ["Bottleneck", "GradientReversal", "ImageNormalization"]
