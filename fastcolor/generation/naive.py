"""The naive generator: one full PixelCNN forward pass per position (the reference).

O(H W) forward passes, what a plain PyTorch PixelCNN does. Every faster generator must
match it sample for sample given the same noise (exactly in float64; see docs/design.md).
"""

from __future__ import annotations

import sys

import torch

from ..dlmm import dlmm_sample
from ..models.pixelcnn import ConditionalGatedPixelCNN
from .common import prepare_inputs


@torch.no_grad()
def generate_naive(pixelcnn: ConditionalGatedPixelCNN, cond: torch.Tensor, *, noise=None,
                   generator: torch.Generator | None = None, hints=None, hint_mask=None,
                   temperature: float = 1.0, max_positions: int | None = None,
                   progress: bool = False) -> torch.Tensor:
    """Sample ``(B, 3, H, W)`` RGB on the 8-bit levels in [-1, 1], raster order.

    Runs in ``cond``'s dtype and device (the module must match). Arguments: see
    ``fastcolor.generation.common``; ``max_positions`` stops after that many positions
    (the rest stay 0), for benchmarks that time a prefix of the loop; ``progress``
    shows a progress bar over the positions on stderr once the loop has run 2 s (a
    page takes minutes)."""
    inp = prepare_inputs(cond, pixelcnn.config.mixtures, noise=noise, generator=generator,
                         hints=hints, hint_mask=hint_mask, temperature=temperature)
    b, _, h, w = cond.shape
    x = torch.zeros(b, 3, h, w, dtype=cond.dtype, device=cond.device)
    positions = range(h * w if max_positions is None else min(max_positions, h * w))
    if progress:
        from tqdm import tqdm
        positions = tqdm(positions, desc="naive low-res sampling (--backend reference)",
                         unit="px", file=sys.stderr, delay=2, leave=False,
                         dynamic_ncols=True)
    for pos in positions:
        i, j = divmod(pos, w)
        params = pixelcnn(x, inp.cond)[:, :, i:i + 1, j:j + 1]
        pixel = dlmm_sample(params, inp.noise[:, :, i:i + 1, j:j + 1],
                            temperature=inp.temperature)[:, :, 0, 0]
        if inp.hints is not None:
            pixel = torch.where(inp.hint_mask[:, i, j, None], inp.hints[:, :, i, j], pixel)
        x[:, :, i, j] = pixel
    return x
