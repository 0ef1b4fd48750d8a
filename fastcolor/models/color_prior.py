"""Color prior: the line art's own guess of each low-res cell's color, fed to the PixelCNN.

``ColorPriorNet``: outline ``(B, 1, S, S)`` in [0, 1] (1 = ink) -> ``features (B, W1, s,
s)`` and ``colors (B, 3, s, s)`` in about [-1, 1] (``s = S / r``, the low-res size). The
outline is area-averaged to ``2 s`` (recognizing a drawing needs its shape, not its line
quality), two stride-2 stages go down to ``s / 2`` where residual blocks of dilated
convolutions (``prior_dilations``) see the whole panel, one transposed convolution comes
back to ``s`` and is joined with the first stage's features (a U-Net skip); a 3x3
convolution makes the ``W1`` features, a 1x1 the colors. The colors are trained with
their own loss (L1 to the low-res truth, ``train.losses``), so they learn what color a
drawing's parts have directly, instead of through the PixelCNN's likelihood, where a
region's color is decided at its first cells and its other cells copy their neighbours.

Why a second encoder: the conditioning net of the small config (about 80 k parameters)
does not learn the drawings' colors at all on 2 CPU cores (its features' best color is
no closer to the truth than one constant gray, even on its training panels); this net
(about 1 M parameters, most of them at ``s / 2`` where they are cheap) beats the
constant within a few thousand steps. ``LowResColorizer`` adds ``inject(features)``, a
1x1 convolution initialized to zero, to the adaptation net's output: a prior added to
trained weights starts from exactly what those weights computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConditioningConfig
from .conditioning import ResidualBlock, _norm


class ColorPriorNet(nn.Module):
    """Outline ``(B, 1, S, S)`` -> ``(features (B, W1, s, s), colors (B, 3, s, s))``."""

    def __init__(self, config: ConditioningConfig, ratio: int, out_channels: int):
        super().__init__()
        w0, w1, w2 = config.prior_widths
        self.pool = max(ratio // 2, 1)
        self.stem = nn.Conv2d(1, w0, 3, padding=1)
        self.down1 = nn.Sequential(_norm(w0), nn.ReLU(), nn.Conv2d(w0, w1, 4, stride=2, padding=1),
                                   ResidualBlock(w1))
        self.down2 = nn.Sequential(_norm(w1), nn.ReLU(), nn.Conv2d(w1, w2, 4, stride=2, padding=1),
                                   *[ResidualBlock(w2, d) for d in config.prior_dilations])
        self.up = nn.Sequential(_norm(w2), nn.ReLU(), nn.ConvTranspose2d(w2, w1, 4, stride=2, padding=1))
        self.mix = nn.Sequential(_norm(2 * w1), nn.ReLU(), nn.Conv2d(2 * w1, w1, 3, padding=1),
                                 nn.ReLU())
        self.colors = nn.Conv2d(w1, 3, 1)
        self.inject = nn.Conv2d(w1, out_channels, 1)
        nn.init.zeros_(self.inject.weight)
        nn.init.zeros_(self.inject.bias)

    def forward(self, outline: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.avg_pool2d(outline, self.pool) if self.pool > 1 else outline
        a = self.down1(self.stem(x))
        features = self.mix(torch.cat([a, self.up(self.down2(a))], dim=1))
        return features, self.colors(features)
