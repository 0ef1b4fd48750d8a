"""Reference PyTorch modules: the truth every fast path is checked against."""

from .conditioning import AdaptationNet, ConditioningNet
from .lowres import LowResColorizer
from .masked_conv import MASK_KINDS, MaskedConv2d, make_mask
from .model import FastcolorModel
from .pixelcnn import ConditionalGatedPixelCNN, GatedBlock
from .stages import BackgroundDetector, PolishingNet
from .unet import UNetGenerator

__all__ = [
    "AdaptationNet", "BackgroundDetector", "ConditionalGatedPixelCNN", "ConditioningNet",
    "FastcolorModel", "GatedBlock", "LowResColorizer", "MASK_KINDS", "MaskedConv2d",
    "PolishingNet", "UNetGenerator", "make_mask",
]
