"""Argument checks and preparation shared by every low-res generator.

Every generator (naive, cached, C++, GPU) takes the same arguments and, given the same
noise, must return the same samples:

- ``cond``: PixelCNN conditioning ``(B, C_c, H, W)`` (the dtype the model runs in);
- ``noise``: uniform ``(B, K + 3, H, W)`` (see ``fastcolor.dlmm``), or ``generator`` to
  draw it with ``fastcolor.dlmm.sample_noise``;
- ``hints`` ``(B, 3, H, W)`` in [-1, 1] and ``hint_mask`` ``(B, H, W)`` (or ``(B, 1, H,
  W)``) bool: hinted pixels are written (quantized) instead of sampled;
- ``temperature`` >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..dlmm import check_temperature, quantize, sample_noise
from ..errors import InvalidInputError


@dataclass
class GenerationInputs:
    """Checked, dtype-matched inputs of one generation call."""

    cond: torch.Tensor                 # (B, C_c, H, W)
    noise: torch.Tensor                # (B, K + 3, H, W), cond's dtype
    hints: torch.Tensor | None         # (B, 3, H, W) quantized, cond's dtype
    hint_mask: torch.Tensor | None     # (B, H, W) bool
    temperature: float


def prepare_inputs(cond: torch.Tensor, mixtures: int, *, noise=None, generator=None,
                   hints=None, hint_mask=None, temperature: float = 1.0) -> GenerationInputs:
    if not isinstance(cond, torch.Tensor) or cond.dim() != 4 or not cond.is_floating_point():
        raise InvalidInputError("cond must be a floating-point (B, C, H, W) tensor")
    b, _, h, w = cond.shape
    temperature = check_temperature(temperature)
    if noise is None:
        noise = sample_noise(b, mixtures, h, w, generator=generator, dtype=cond.dtype,
                             device=cond.device)
    elif tuple(noise.shape) != (b, mixtures + 3, h, w) or not noise.is_floating_point():
        raise InvalidInputError(
            f"noise must be floating point (B, K+3, H, W) = {(b, mixtures + 3, h, w)}, got "
            f"{noise.dtype} {tuple(noise.shape)}")
    elif bool(((noise < 0) | (noise > 1) | torch.isnan(noise)).any()):
        raise InvalidInputError("noise must be uniform samples in [0, 1]")
    noise = noise.to(dtype=cond.dtype, device=cond.device)
    if (hints is None) != (hint_mask is None):
        raise InvalidInputError("give both hints and hint_mask, or neither")
    if hints is not None:
        if tuple(hints.shape) != (b, 3, h, w) or not hints.is_floating_point():
            raise InvalidInputError(
                f"hints must be floating point (B, 3, H, W) = {(b, 3, h, w)}, got "
                f"{hints.dtype} {tuple(hints.shape)}")
        if bool(torch.isnan(hints).any()) or bool((hints.abs() > 1).any()):
            raise InvalidInputError("hints must be colors in [-1, 1]")
        if hint_mask.dim() == 4 and hint_mask.shape[1] == 1:
            hint_mask = hint_mask[:, 0]
        if tuple(hint_mask.shape) != (b, h, w):
            raise InvalidInputError(
                f"hint_mask must be (B, H, W) = {(b, h, w)}, got {tuple(hint_mask.shape)}")
        hints = quantize(hints.to(dtype=cond.dtype, device=cond.device))
        hint_mask = hint_mask.to(device=cond.device).bool()
    return GenerationInputs(cond, noise, hints, hint_mask, temperature)
