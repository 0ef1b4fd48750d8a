"""``MaskedConv2d``: the one causal convolution every PixelCNN layer is built from.

Mask kinds (raster order, all channels of a pixel generated at once, so masks act on
space only, never on channels). For a ``kh x kw`` kernel with center ``(ch, cw) =
(kh // 2, kw // 2)``:

- ``"vertical_a"``: rows ``< ch`` (strictly above the current row). First vertical layer.
- ``"vertical_b"``: rows ``<= ch``. Later vertical layers; their input already depends
  only on rows above, so including the center row adds no leak.
- ``"horizontal_a"``: row ``ch``, columns ``< cw`` (strictly left). First horizontal layer;
  ``kh`` must be 1.
- ``"horizontal_b"``: row ``ch``, columns ``<= cw``. Later horizontal layers.
- ``"none"``: every tap (a dense convolution, for completeness and tests).

Padding is "same" (``kh // 2, kw // 2``, zeros), so the output has the input's size.
The convolution goes through ``fastcolor.ops.masked_conv2d``: ``F.conv2d`` with the
masked weight (the reference), or the Triton kernel on CUDA tensors.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidInputError
from ..ops.masked_conv import kept_taps, masked_conv2d

MASK_KINDS = ("vertical_a", "vertical_b", "horizontal_a", "horizontal_b", "none")


def make_mask(kind: str, kernel_size: tuple[int, int]) -> torch.Tensor:
    """The spatial mask of ``kind``: float32 ``(kh, kw)`` of 0/1."""
    kh, kw = kernel_size
    if kind not in MASK_KINDS:
        raise InvalidInputError(f"unknown mask kind {kind!r}; expected one of {MASK_KINDS}")
    if kh < 1 or kw < 1 or kh % 2 == 0 or kw % 2 == 0:
        raise InvalidInputError(f"kernel size must be odd and positive, got {kernel_size}")
    ch, cw = kh // 2, kw // 2
    mask = torch.zeros(kh, kw)
    if kind == "none":
        mask[:] = 1
    elif kind == "vertical_a":
        mask[:ch, :] = 1
    elif kind == "vertical_b":
        mask[: ch + 1, :] = 1
    else:
        if kh != 1:
            raise InvalidInputError(f"{kind} needs a 1 x k kernel, got {kernel_size}")
        mask[0, : cw if kind == "horizontal_a" else cw + 1] = 1
    if mask.sum() == 0:
        raise InvalidInputError(f"mask {kind!r} with kernel {kernel_size} keeps no tap")
    return mask


class MaskedConv2d(nn.Conv2d):
    """A ``Conv2d`` whose weight is multiplied by a fixed spatial mask on every call.

    Input ``(B, C_in, H, W)``, output ``(B, C_out, H, W)`` (same padding). The stored
    weight keeps its masked-out taps (they get zero gradient); ``masked_weight()`` is
    what the convolution uses, and what fast paths must use too.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, mask_kind: str,
                 bias: bool = True):
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        kernel_size = tuple(int(k) for k in kernel_size)
        mask = make_mask(mask_kind, kernel_size)
        super().__init__(in_channels, out_channels, kernel_size,
                         padding=(kernel_size[0] // 2, kernel_size[1] // 2), bias=bias)
        self.mask_kind = mask_kind
        self.register_buffer("mask", mask, persistent=False)
        self.kept_taps = kept_taps(mask)   # (row0, rows, col0, cols): what the kernel visits

    def masked_weight(self) -> torch.Tensor:
        """``(C_out, C_in, kh, kw)``: the weight with masked-out taps set to zero."""
        return self.weight * self.mask.to(self.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return masked_conv2d(x, self.weight, self.mask, self.bias, taps=self.kept_taps)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_kind={self.mask_kind!r}"
