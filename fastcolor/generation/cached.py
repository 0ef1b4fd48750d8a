"""The cached generator in PyTorch (Fast PixelCNN++'s idea, for the two-stack PixelCNN).

Every layer keeps its activations; each step computes only what the new position needs:

- at the start of row ``i`` (row ``i - 1`` complete) the vertical stack of every block
  is computed for the whole row ``i`` (it depends on rows ``< i`` only), together with
  its 1x1 link into the horizontal stack and the conditioning terms;
- at pixel ``(i, j)`` each block's horizontal stack is computed at ``(i, j)`` alone from
  the cached row of the block below, then the head, the DLMM sample, and the pixel is
  written for the next step.

This is the readable version of the algorithm ``fastcolor._C`` runs in C++, and the one
usable on CUDA (``sampler`` may be a Triton kernel). It matches ``generate_naive``
sample for sample given the same noise (exactly in float64; see docs/design.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..dlmm import dlmm_sample
from ..models.pixelcnn import ConditionalGatedPixelCNN, gate
from .common import prepare_inputs


@dataclass
class _Block:
    """One gated block's weights, sliced to the taps its mask keeps."""

    v_weight: torch.Tensor    # (2F, C_in, rows_kept, k): kept rows of the vertical kernel
    v_bias: torch.Tensor      # (2F,)
    v_rows: int               # kept rows: the rows i - v_rows .. i - 1 (mask a) or .. i (b)
    v_includes_row: bool      # mask b: the current row's input is used
    pad: int                  # k // 2 of the vertical kernel (columns each side)
    h_weight: torch.Tensor    # (2F, C_in, cols_kept): kept taps of the horizontal kernel
    h_bias: torch.Tensor
    h_includes_pixel: bool    # mask b: the current pixel's input is used
    v_to_h: torch.nn.Conv2d
    h_out_weight: torch.Tensor  # (F, F)
    h_out_bias: torch.Tensor
    residual: bool
    v_cond: torch.Tensor      # (B, 2F, H, W): the conditioning term of the vertical gate
    h_cond: torch.Tensor      # (B, 2F, H, W)


@dataclass
class CachedState:
    """Per-layer activations kept during generation, all ``(B, C, H, W)``: ``v_pre`` (the
    vertical gate pre-activation), ``v`` (gated vertical output) and ``h`` (horizontal
    output) of every block; filled row by row / pixel by pixel."""

    x: torch.Tensor
    v_pre: list[torch.Tensor] = field(default_factory=list)
    v: list[torch.Tensor] = field(default_factory=list)
    h: list[torch.Tensor] = field(default_factory=list)


class CachedPixelCNN:
    """A ``ConditionalGatedPixelCNN`` prepared for incremental evaluation on ``cond``."""

    def __init__(self, pixelcnn: ConditionalGatedPixelCNN, cond: torch.Tensor):
        self.net = pixelcnn
        self.blocks: list[_Block] = []
        for blk in pixelcnn.blocks:
            kv = blk.v_conv.kernel_size[0]
            rows = kv // 2 + (0 if blk.first else 1)
            wv = blk.v_conv.masked_weight()[:, :, :rows, :]
            kh = blk.h_conv.kernel_size[1]
            cols = kh // 2 + (0 if blk.first else 1)
            wh = blk.h_conv.masked_weight()[:, :, 0, :cols]
            self.blocks.append(_Block(
                v_weight=wv, v_bias=blk.v_conv.bias, v_rows=rows, v_includes_row=not blk.first,
                pad=kv // 2, h_weight=wh, h_bias=blk.h_conv.bias,
                h_includes_pixel=not blk.first, v_to_h=blk.v_to_h,
                h_out_weight=blk.h_out.weight[:, :, 0, 0], h_out_bias=blk.h_out.bias,
                residual=not blk.first, v_cond=blk.v_cond(cond), h_cond=blk.h_cond(cond)))

    def new_state(self, x: torch.Tensor) -> CachedState:
        b, _, h, w = x.shape
        f = self.net.config.channels
        z = lambda c: x.new_zeros(b, c, h, w)  # noqa: E731
        return CachedState(x=x, v_pre=[z(2 * f) for _ in self.blocks],
                           v=[z(f) for _ in self.blocks], h=[z(f) for _ in self.blocks])

    def start_row(self, state: CachedState, i: int) -> list[torch.Tensor]:
        """Vertical stack of every block at row ``i``; returns, per block, the row's
        horizontal-stack terms that do not depend on row ``i``'s pixels ``(B, 2F, W)``."""
        row_terms = []
        inp = state.x
        for l, blk in enumerate(self.blocks):
            v_pre = self.vertical_conv_row(l, inp, i) + blk.v_cond[:, :, i]
            state.v_pre[l][:, :, i] = v_pre
            state.v[l][:, :, i] = gate(v_pre.unsqueeze(-1)).squeeze(-1)
            link = blk.v_to_h(v_pre.unsqueeze(-1)).squeeze(-1)
            row_terms.append(link + blk.h_cond[:, :, i] + blk.h_bias[:, None])
            inp = state.v[l]
        return row_terms

    def vertical_conv_row(self, l: int, inp: torch.Tensor, i: int) -> torch.Tensor:
        """Block ``l``'s masked vertical convolution (bias included) of its input ``inp``
        ``(B, C, H, W)`` at row ``i`` -> ``(B, 2F, W)``, from the rows its mask keeps."""
        blk = self.blocks[l]
        last = i if blk.v_includes_row else i - 1          # last input row used
        first = last - blk.v_rows + 1
        lo = max(first, 0)
        window = inp[:, :, lo:last + 1] if last >= 0 else inp[:, :, :0]
        window = F.pad(window, (blk.pad, blk.pad, lo - first, 0))
        return F.conv2d(window, blk.v_weight, blk.v_bias)[:, :, 0]

    def step(self, state: CachedState, row_terms, i: int, j: int) -> torch.Tensor:
        """Horizontal stack and head at ``(i, j)`` -> DLMM params ``(B, 10K, 1, 1)``."""
        inp = state.x
        h = None
        for l, blk in enumerate(self.blocks):
            last = j if blk.h_includes_pixel else j - 1
            cols = blk.h_weight.shape[-1]
            first = last - cols + 1
            lo = max(first, 0)
            window = inp[:, :, i, lo:last + 1] if last >= 0 else inp[:, :, i, :0]
            window = F.pad(window, (lo - first, 0))
            pre = torch.einsum("bct,oct->bo", window, blk.h_weight) + row_terms[l][:, :, j]
            h = F.linear(gate(pre[:, :, None, None])[:, :, 0, 0], blk.h_out_weight, blk.h_out_bias)
            if blk.residual:
                h = inp[:, :, i, j] + h
            state.h[l][:, :, i, j] = h
            inp = state.h[l]
        return self.net.head(h[:, :, None, None])


@torch.no_grad()
def generate_cached(pixelcnn: ConditionalGatedPixelCNN, cond: torch.Tensor, *, noise=None,
                    generator: torch.Generator | None = None, hints=None, hint_mask=None,
                    temperature: float = 1.0, sampler=dlmm_sample,
                    model_cls: type[CachedPixelCNN] = CachedPixelCNN,
                    return_state: bool = False):
    """Sample ``(B, 3, H, W)`` like ``generate_naive`` at about one forward pass of cost.

    ``sampler(params (B, 10K, 1, 1), noise (B, K+3, 1, 1), temperature=)`` -> ``(B, 3, 1,
    1)``; the reference ``dlmm_sample`` by default. ``model_cls``: the ``CachedPixelCNN``
    (sub)class that computes the steps (the CUDA generator's runs its convs as kernels).
    With ``return_state`` also returns the ``CachedState`` (the per-layer activations, for
    tests)."""
    inp = prepare_inputs(cond, pixelcnn.config.mixtures, noise=noise, generator=generator,
                         hints=hints, hint_mask=hint_mask, temperature=temperature)
    b, _, h, w = cond.shape
    model = model_cls(pixelcnn, inp.cond)
    state = model.new_state(torch.zeros(b, 3, h, w, dtype=cond.dtype, device=cond.device))
    for i in range(h):
        row_terms = model.start_row(state, i)
        for j in range(w):
            params = model.step(state, row_terms, i, j)
            pixel = sampler(params, inp.noise[:, :, i:i + 1, j:j + 1],
                            temperature=inp.temperature)[:, :, 0, 0]
            if inp.hints is not None:
                pixel = torch.where(inp.hint_mask[:, i, j, None], inp.hints[:, :, i, j], pixel)
            state.x[:, :, i, j] = pixel
    return (state.x, state) if return_state else state.x
