"""``LowResColorizer``: conditioning net -> adaptation net -> conditional gated PixelCNN.

outline ``(B, 1, S, S)`` in [0, 1] (1 = ink) and low-res colors ``(B, 3, s, s)`` in
[-1, 1] (``s = S / 2^n``, 32 by default) -> DLMM params ``(B, 10 K, s, s)``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import FastcolorConfig
from ..errors import InvalidInputError
from ..ops.dlmm import dlmm_nll_bits_per_dim   # the fused Triton kernel on CUDA
from .color_prior import ColorPriorNet
from .conditioning import AdaptationNet, ConditioningNet
from .pixelcnn import ConditionalGatedPixelCNN


def check_outline(outline: torch.Tensor, size: int | None = None) -> None:
    """Raise ``InvalidInputError`` unless ``outline`` is float ``(B, 1, H, W)`` (H = W =
    ``size`` if given)."""
    if not isinstance(outline, torch.Tensor) or outline.dim() != 4 or outline.shape[1] != 1:
        shape = tuple(outline.shape) if isinstance(outline, torch.Tensor) else type(outline)
        raise InvalidInputError(f"outline must be a (B, 1, H, W) tensor, got {shape}")
    if not outline.is_floating_point():
        raise InvalidInputError(f"outline must be floating point in [0, 1], got {outline.dtype}")
    if size is not None and tuple(outline.shape[2:]) != (size, size):
        raise InvalidInputError(
            f"outline must be {size} x {size} (the model's image_size), got "
            f"{tuple(outline.shape[2:])}")


class LowResColorizer(nn.Module):
    """PixColor-style low-res colorizer (see module doc)."""

    def __init__(self, config: FastcolorConfig):
        super().__init__()
        self.config = config
        self.conditioning = ConditioningNet(config.conditioning)
        self.adaptation = AdaptationNet(self.conditioning.out_channels, config.conditioning)
        self.pixelcnn = ConditionalGatedPixelCNN(config.pixelcnn)
        self.prior = None
        if config.conditioning.prior_widths:
            self.prior = ColorPriorNet(config.conditioning, config.image_size // config.lowres_size,
                                       config.conditioning.out_channels)

    def condition(self, outline: torch.Tensor) -> torch.Tensor:
        """outline ``(B, 1, S, S)`` -> PixelCNN conditioning ``(B, C_c, s, s)``."""
        check_outline(outline, self.config.image_size)
        return self.condition_and_prior(outline)[0]

    def condition_and_prior(self, outline: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """outline ``(B, 1, S, S)`` (unchecked) -> (conditioning ``(B, C_c, s, s)``, the color
        prior's colors ``(B, 3, s, s)`` or None without a prior)."""
        cond = self.adaptation(self.conditioning(outline))
        if self.prior is None:
            return cond, None
        features, colors = self.prior(outline)
        return cond + self.prior.inject(features), colors

    def forward(self, outline: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.pixelcnn(x, self.condition(outline))

    def loss(self, outline: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """DLMM negative log-likelihood in bits/dim of the 8-bit ``target`` ``(B, 3, s, s)``."""
        return dlmm_nll_bits_per_dim(self(outline, target), target)
