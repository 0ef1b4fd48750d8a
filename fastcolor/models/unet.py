"""pix2pix U-Net generator (Isola et al. 2017), for any input size.

``depth`` encoder steps of 4x4 stride-2 convs (LeakyReLU 0.2, InstanceNorm), the mirror
decoder of 4x4 stride-2 transposed convs (ReLU, InstanceNorm) with skip concatenation.
InstanceNorm (affine) does not depend on the batch, so a batch equals single runs and
exported engines match eager. The innermost level has no norm (it may be 1x1).

Inputs of any ``H x W`` are padded (replicate) up to a multiple of ``2**depth`` and the
output is cropped back, so ``(B, C_in, H, W) -> (B, C_out, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import UNetConfig
from ..errors import InvalidInputError


class UNetGenerator(nn.Module):
    """``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)`` (raw outputs, no final
    activation: callers apply tanh or sigmoid)."""

    def __init__(self, in_channels: int, out_channels: int, config: UNetConfig):
        super().__init__()
        self.config = config
        self.in_channels = in_channels
        widths = [min(config.base_channels * 2 ** i, config.max_channels)
                  for i in range(config.depth)]
        self.down = nn.ModuleList()
        prev = in_channels
        for i, w in enumerate(widths):
            innermost = i == config.depth - 1
            layers = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(prev, w, 4, stride=2, padding=1, bias=(i == 0 or innermost)))
            if i > 0 and not innermost:
                layers.append(nn.InstanceNorm2d(w, affine=True))
            self.down.append(nn.Sequential(*layers))
            prev = w
        self.up = nn.ModuleList()
        for i in reversed(range(config.depth)):
            outermost = i == 0
            skip = 0 if i == config.depth - 1 else widths[i]  # innermost has no concat
            in_w = widths[i] + skip
            out_w = out_channels if outermost else widths[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(in_w, out_w, 4, stride=2, padding=1,
                                                    bias=outermost)]
            if not outermost:
                layers.append(nn.InstanceNorm2d(out_w, affine=True))
            self.up.append(nn.Sequential(*layers))

    @property
    def multiple(self) -> int:
        return 2 ** self.config.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise InvalidInputError(
                f"U-Net input must be (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        for i, layer in enumerate(self.up):
            if i > 0:
                x = torch.cat([x, skips[-1 - i]], dim=1)
            x = layer(x)
        if ph or pw:
            x = x[..., ph // 2: ph // 2 + h, pw // 2: pw // 2 + w]
        return x
