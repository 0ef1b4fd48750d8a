"""``masked_conv2d``: the masked convolution op, dispatched to the Triton kernel
(``fastcolor.kernels.masked_conv2d``) or to its reference (``F.conv2d`` with the masked
weight, exactly what ``MaskedConv2d`` computes).

On the kernel path autograd works through ``MaskedConv2dFunction`` (the forward is the
kernel; the backward is PyTorch's convolution gradients, which give masked taps zero
gradient through ``weight * mask``); a fused gate is used only when no gradient is
needed (with one, the gate runs as PyTorch ops on the kernel's output).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InvalidInputError
from .dispatch import autocast_dtype, use_triton

Taps = tuple[int, int, int, int]       # (row0, rows, col0, cols) of the kernel taps
Window = tuple[int, int, int, int]     # (row0, row1, col0, col1) of the output


def kept_taps(mask: torch.Tensor) -> Taps:
    """The bounding box ``(row0, rows, col0, cols)`` of the nonzero taps of a ``(kh, kw)``
    mask; for every ``MaskedConv2d`` mask kind it holds exactly the kept taps."""
    nz = torch.nonzero(mask.detach().cpu())
    if nz.numel() == 0:
        raise InvalidInputError("mask keeps no tap")
    r0, c0 = (int(v) for v in nz.min(dim=0).values)
    r1, c1 = (int(v) + 1 for v in nz.max(dim=0).values)
    return r0, r1 - r0, c0, c1 - c0


def gate(y: torch.Tensor) -> torch.Tensor:
    """``tanh(a) * sigmoid(b)`` of the two channel halves of ``y`` ``(B, 2F, ...)``."""
    a, b = y.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def masked_conv2d_reference(x: torch.Tensor, weight: torch.Tensor, mask: torch.Tensor,
                            bias: torch.Tensor | None = None, *, gated: bool = False,
                            out_window: Window | None = None) -> torch.Tensor:
    """The truth: ``F.conv2d(x, weight * mask, bias)`` with same padding, then the
    output window, then the gate (if asked). Shapes as in ``masked_conv2d``."""
    kh, kw = weight.shape[-2:]
    y = F.conv2d(x, weight * mask.to(weight.dtype), bias, padding=(kh // 2, kw // 2))
    if out_window is not None:
        r0, r1, c0, c1 = out_window
        y = y[:, :, r0:r1, c0:c1]
    return gate(y) if gated else y


class MaskedConv2dFunction(torch.autograd.Function):
    """Kernel forward, PyTorch convolution-gradient backward. Inputs: x ``(B, C_in, H,
    W)``, the masked weight ``(C_out, C_in, kh, kw)``, bias ``(C_out,)`` or None, the
    kept taps and the output window."""

    @staticmethod
    def forward(ctx, x, masked_weight, bias, taps: Taps, out_window: Window | None):
        from fastcolor.kernels.masked_conv2d import masked_conv2d_triton
        ctx.save_for_backward(x, masked_weight)
        ctx.has_bias = bias is not None
        ctx.out_window = out_window
        return masked_conv2d_triton(x, masked_weight, bias, taps, out_window=out_window)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        kh, kw = weight.shape[-2:]
        if ctx.out_window is not None:
            r0, r1, c0, c1 = ctx.out_window
            full = grad.new_zeros(x.shape[0], weight.shape[0], *x.shape[2:])
            full[:, :, r0:r1, c0:c1] = grad
            grad = full
        padding = (kh // 2, kw // 2)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.nn.grad.conv2d_input(x.shape, weight, grad, padding=padding)
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv2d_weight(x, weight.shape, grad, padding=padding)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


def masked_conv2d(x: torch.Tensor, weight: torch.Tensor, mask: torch.Tensor,
                  bias: torch.Tensor | None = None, *, gated: bool = False,
                  out_window: Window | None = None, taps: Taps | None = None) -> torch.Tensor:
    """Masked "same" convolution, dispatched (see ``fastcolor.ops.dispatch``).

    x: ``(B, C_in, H, W)``; weight: ``(C_out, C_in, kh, kw)`` (odd kh, kw), used as
    ``weight * mask``; mask: ``(kh, kw)`` of 0/1; bias: ``(C_out,)`` or None; gated:
    return ``tanh(a) * sigmoid(b)`` of the two output-channel halves ``(B, C_out / 2,
    ...)``; out_window ``(row0, row1, col0, col1)``: only those output rows and columns
    (what a cached generator needs); taps: the box of kept taps if the caller knows it
    (``kept_taps(mask)`` otherwise, a host read of the mask). Returns x's dtype (the
    autocast dtype inside ``torch.autocast``); x, weight and bias of different dtypes
    outside autocast run the reference.
    """
    if not use_triton(x):
        return masked_conv2d_reference(x, weight, mask, bias, gated=gated, out_window=out_window)
    cast = autocast_dtype(x.device)              # as autocast would for F.conv2d
    if cast is not None:
        x, weight = x.to(cast), weight.to(cast)
        bias = bias.to(cast) if bias is not None else None
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        # F.conv2d's own dtype rules (and errors) apply to mixed dtypes
        return masked_conv2d_reference(x, weight, mask, bias, gated=gated, out_window=out_window)
    masked_weight = weight * mask.to(weight.dtype)
    taps = taps if taps is not None else kept_taps(mask)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias))
    if needs_grad:
        y = MaskedConv2dFunction.apply(x, masked_weight, bias, taps, out_window)
        return gate(y) if gated else y
    from fastcolor.kernels.masked_conv2d import masked_conv2d_triton
    return masked_conv2d_triton(x, masked_weight, bias, taps, gated=gated, out_window=out_window)
