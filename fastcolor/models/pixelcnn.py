"""Conditional gated PixelCNN (van den Oord et al. 2016) with a DLMM head over RGB.

Two stacks, no blind spot, built from ``MaskedConv2d`` only (no shifts):

- vertical stack ``v``: ``k x k`` convs, mask ``vertical_a`` in block 0 then
  ``vertical_b``; ``v`` at ``(i, j)`` depends on rows ``< i`` only.
- horizontal stack ``h``: ``1 x k`` convs, mask ``horizontal_a`` then ``horizontal_b``,
  plus a 1x1 link from the vertical pre-activation at the same position, plus a 1x1
  residual (from block 1 on; block 0's input is the image itself, which would leak).

After ``L`` blocks with kernels ``k0`` (block 0) and ``k`` (the rest), the output at
``(i, j)`` sees rows ``i - R .. i - 1`` over columns ``j - R .. j + R`` and row ``i``
columns ``j - R .. j - 1``, with ``R = k0 // 2 + (L - 1) * (k // 2)``
(``receptive_field_radius``).

The conditioning features ``c`` (``(B, C_c, H, W)``, e.g. the adaptation net's output)
enter every block through 1x1 convs added to both stacks' gate pre-activations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PixelCNNConfig
from ..errors import InvalidInputError
from .masked_conv import MaskedConv2d


def gate(x: torch.Tensor) -> torch.Tensor:
    """``tanh(a) * sigmoid(b)`` of the two channel halves of ``x`` ``(B, 2F, H, W)``."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedBlock(nn.Module):
    """One conditional gated block: ``(v, h, c) -> (v', h')``, all ``(B, *, H, W)``."""

    def __init__(self, in_channels: int, channels: int, cond_channels: int, kernel: int,
                 first: bool):
        super().__init__()
        suffix = "a" if first else "b"
        self.first = first
        self.v_conv = MaskedConv2d(in_channels, 2 * channels, (kernel, kernel), f"vertical_{suffix}")
        self.h_conv = MaskedConv2d(in_channels, 2 * channels, (1, kernel), f"horizontal_{suffix}")
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.v_cond = nn.Conv2d(cond_channels, 2 * channels, 1, bias=False)
        self.h_cond = nn.Conv2d(cond_channels, 2 * channels, 1, bias=False)
        self.h_out = nn.Conv2d(channels, channels, 1)

    def forward(self, v, h, c):
        v_pre, v_new, h_new = self.forward_activations(v, h, c)
        return v_new, h_new

    def forward_activations(self, v, h, c):
        """``(v_pre, v', h')``: also the vertical gate's pre-activation ``(B, 2F, H, W)``."""
        v_pre = self.v_conv(v) + self.v_cond(c)
        h_pre = self.h_conv(h) + self.v_to_h(v_pre) + self.h_cond(c)
        h_new = self.h_out(gate(h_pre))
        if not self.first:
            h_new = h + h_new
        return v_pre, gate(v_pre), h_new


class ConditionalGatedPixelCNN(nn.Module):
    """``forward(x, c) -> params``.

    x: ``(B, 3, H, W)`` RGB in [-1, 1] (quantized to 8-bit levels during generation);
    c: ``(B, cond_channels, H, W)``; params: ``(B, 10 K, H, W)``, the DLMM parameters
    in the layout of ``fastcolor.dlmm`` (params at ``(i, j)`` depend on ``x`` strictly
    before ``(i, j)`` in raster order, and on all of ``c``).
    """

    def __init__(self, config: PixelCNNConfig):
        super().__init__()
        self.config = config
        f = config.channels
        self.blocks = nn.ModuleList(
            GatedBlock(3 if i == 0 else f, f, config.cond_channels,
                       config.first_kernel if i == 0 else config.kernel, first=(i == 0))
            for i in range(config.layers))
        self.head_hidden = nn.Conv2d(f, config.head_channels, 1)
        self.head_out = nn.Conv2d(config.head_channels, config.param_channels, 1)

    @property
    def receptive_field_radius(self) -> int:
        c = self.config
        return c.first_kernel // 2 + (c.layers - 1) * (c.kernel // 2)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The 1x1 output head: last horizontal features ``(B, F, ...)`` -> ``(B, 10K, ...)``."""
        return self.head_out(F.relu(self.head_hidden(F.relu(h))))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.head(self.activations(x, c)[-1][2])

    def activations(self, x: torch.Tensor, c: torch.Tensor) -> list[tuple]:
        """Per block ``(v_pre, v, h)``: what cached generators keep (for their tests)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise InvalidInputError(f"x must be (B, 3, H, W), got {tuple(x.shape)}")
        if c.dim() != 4 or c.shape[0] != x.shape[0] or c.shape[2:] != x.shape[2:] \
                or c.shape[1] != self.config.cond_channels:
            raise InvalidInputError(
                f"c must be (B, {self.config.cond_channels}, H, W) matching x "
                f"{tuple(x.shape)}, got {tuple(c.shape)}")
        v = h = x
        acts = []
        for block in self.blocks:
            v_pre, v, h = block.forward_activations(v, h, c)
            acts.append((v_pre, v, h))
        return acts
