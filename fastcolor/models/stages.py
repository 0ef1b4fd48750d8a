"""The two U-Net stages of the paper, with the inputs of docs/design.md.

- ``BackgroundDetector``: outline ``(B, 1, S, S)`` in [0, 1] + upsampled low-res colors
  ``(B, 3, S, S)`` in [-1, 1] -> background logits ``(B, 1, S, S)``
  (``probability`` applies the sigmoid).
- ``PolishingNet``: outline + colors ``(B, 3, S, S)`` with the background region replaced
  by one color + background mask ``(B, 1, S, S)`` in {0, 1} -> colors ``(B, 3, S, S)``
  in [-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import UNetConfig
from ..errors import InvalidInputError
from .unet import UNetGenerator


def _check_same(name: str, t: torch.Tensor, channels: int, ref: torch.Tensor) -> None:
    if t.dim() != 4 or t.shape[1] != channels or t.shape[0] != ref.shape[0] \
            or t.shape[2:] != ref.shape[2:]:
        raise InvalidInputError(
            f"{name} must be (B, {channels}, H, W) matching the outline {tuple(ref.shape)}, "
            f"got {tuple(t.shape)}")


class BackgroundDetector(nn.Module):
    """Per-pixel background classifier (pix2pix U-Net); see module doc."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.unet = UNetGenerator(4, 1, config)

    def forward(self, outline: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
        _check_same("colors", colors, 3, outline)
        return self.unet(torch.cat([outline, colors], dim=1))

    def probability(self, outline: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
        """Background probability ``(B, 1, H, W)`` in [0, 1]."""
        return torch.sigmoid(self(outline, colors))


class PolishingNet(nn.Module):
    """Full-resolution colorizer (pix2pix U-Net); see module doc."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.unet = UNetGenerator(5, 3, config)

    def forward(self, outline: torch.Tensor, colors: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        _check_same("colors", colors, 3, outline)
        _check_same("mask", mask, 1, outline)
        return torch.tanh(self.unet(torch.cat([outline, colors, mask.to(outline.dtype)], dim=1)))
