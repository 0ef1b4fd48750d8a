"""Conditioning network (outline -> low-res features) and adaptation network (PixColor).

``ConditioningNet``: ``(B, 1, S, S)`` outline in [0, 1] (1 = ink) -> ``(B, C, S/2^n,
S/2^n)`` features, a small ResNet-style encoder with ``n = len(widths)`` stride-2 stages
(stride 8 for the default S=256 -> 32x32). ``AdaptationNet``: 3x3 convs at the low
resolution mapping those features to the PixelCNN's conditioning input.
Normalization is GroupNorm, which does not depend on the batch.

The small config's convolutions (stride 4, one block per stage, two adaptation layers)
see about 52 px of a 128 px outline around each low-res cell (GroupNorm's statistics
aside), too little to tell a face from a wheel; ``context_dilations`` adds residual
blocks of dilated 3x3 convolutions at the low resolution, after the encoder's stages
(dilations 2, 4, 8 add 224 px: each cell sees the whole panel). ``zero_init_context``
makes them the identity, so blocks added to trained weights start from exactly what
those weights computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConditioningConfig


def _norm(channels: int) -> nn.GroupNorm:
    groups = 8 if channels % 8 == 0 else (4 if channels % 4 == 0 else 1)
    return nn.GroupNorm(groups, channels)


class ResidualBlock(nn.Module):
    """Pre-activation residual block, ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.norm1 = _norm(channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.norm2 = _norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)

    def forward(self, x):
        y = self.conv1(F.relu(self.norm1(x)))
        y = self.conv2(F.relu(self.norm2(y)))
        return x + y


class ConditioningNet(nn.Module):
    """Outline ``(B, 1, S, S)`` -> features ``(B, widths[-1], S / 2^n, S / 2^n)``."""

    def __init__(self, config: ConditioningConfig):
        super().__init__()
        w0 = config.widths[0]
        self.stem = nn.Conv2d(1, w0, 3, padding=1)
        stages = []
        prev = w0
        for w in config.widths:
            layers = [_norm(prev), nn.ReLU(), nn.Conv2d(prev, w, 4, stride=2, padding=1)]
            layers += [ResidualBlock(w) for _ in range(config.blocks_per_stage)]
            stages.append(nn.Sequential(*layers))
            prev = w
        self.stages = nn.Sequential(*stages)
        self.context = nn.Sequential(*[ResidualBlock(prev, d) for d in config.context_dilations])
        self.out_channels = prev

    def forward(self, outline: torch.Tensor) -> torch.Tensor:
        return self.context(self.stages(self.stem(outline)))

    @torch.no_grad()
    def zero_init_context(self) -> None:
        """The context blocks' last convolutions to zero: each block the identity."""
        for block in self.context:
            block.conv2.weight.zero_()
            block.conv2.bias.zero_()


class AdaptationNet(nn.Module):
    """Features ``(B, C_in, h, w)`` -> PixelCNN conditioning ``(B, out_channels, h, w)``."""

    def __init__(self, in_channels: int, config: ConditioningConfig):
        super().__init__()
        layers = []
        prev = in_channels
        for _ in range(config.adaptation_layers):
            layers += [_norm(prev), nn.ReLU(), nn.Conv2d(prev, config.out_channels, 3, padding=1)]
            prev = config.out_channels
        layers += [nn.ReLU(), nn.Conv2d(prev, config.out_channels, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)
