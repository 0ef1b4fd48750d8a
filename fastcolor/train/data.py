"""Training batches from a panel cache, held in memory.

A ``TrainData`` holds one split as uint8 arrays (resized once to the model's image size
when the cache was built at another size), and the low-res targets at the model's
``lowres_size``. ``batch`` turns panel indices into float tensors:

- ``outline`` ``(B, 1, S, S)``, 1 = ink: per panel the exact line art or, with
  probability ``extracted_fraction``, the outline extracted from the color image (Canny
  + dark pixels), so the model learns to work from both;
- ``color`` ``(B, 3, S, S)`` in [-1, 1]: the ground truth;
- ``lowres`` ``(B, 3, s, s)`` on the 8-bit levels in [-1, 1]: the ground truth shrunk to
  ``s x s`` (area average) *without its ink*: the average of each cell weights pixels by
  ``1 - ink`` of the exact line art, so black lines do not darken the low-res colors
  (cells that are all ink fall back to the plain average), then quantized to 8 bits;
- ``background`` ``(B, 1, S, S)`` in {0, 1}: the panel background of the composition;
- ``line_u8`` uint8 ``(B, S, S)``: the exact line art (regions for the polisher's masks);
- ``sample`` ``(B, 3, s, s)`` in [-1, 1] and ``real`` bool ``(B,)``: the low-res input of
  the detector / polisher: for the rows given a real sample (``real_idx``, see
  ``real_samples``) that sample, with the panel and outline source it was made from;
  elsewhere ``lowres`` (the losses noise it).

Panels are mirrored left-right with probability 1/2 (``flip``), real samples with them.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..data.cache import PanelSet


def _resize_stack(arr: np.ndarray, size: int, interp: int) -> np.ndarray:
    if arr.shape[1] == size:
        return arr
    return np.stack([cv2.resize(a, (size, size), interpolation=interp) for a in arr])


def lowres_targets(color: np.ndarray, line: np.ndarray, size: int) -> np.ndarray:
    """Ink-free area-average of ``color`` uint8 ``(N, S, S, 3)`` to ``size``, weights
    ``1 - ink`` from ``line`` uint8 ``(N, S, S)`` (0 = ink) -> uint8 ``(N, s, s, 3)``."""
    out = np.empty((color.shape[0], size, size, 3), np.uint8)
    for i in range(color.shape[0]):
        rgb = color[i].astype(np.float32) / 255
        paper = line[i].astype(np.float32) / 255
        num = cv2.resize(rgb * paper[..., None], (size, size), interpolation=cv2.INTER_AREA)
        den = cv2.resize(paper, (size, size), interpolation=cv2.INTER_AREA)[..., None]
        plain = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
        avg = np.where(den > 0.05, num / np.maximum(den, 1e-6), plain)
        out[i] = np.clip(np.rint(avg * 255), 0, 255).astype(np.uint8)
    return out


class TrainData:
    """One split of a cache in memory, sized for a model (see module doc)."""

    def __init__(self, panels: PanelSet, image_size: int, lowres_size: int):
        S = image_size
        self.image_size, self.lowres_size = S, lowres_size
        self.color = _resize_stack(panels.color, S, cv2.INTER_AREA)
        self.line = _resize_stack(panels.line, S, cv2.INTER_AREA)
        self.extracted = _resize_stack(panels.extracted, S, cv2.INTER_AREA)
        if panels.background.shape[1] == S:
            self.background = panels.background
        else:
            self.background = _resize_stack(panels.background.astype(np.float32), S,
                                            cv2.INTER_AREA) >= 0.5
        self.lowres = lowres_targets(self.color, self.line, lowres_size)
        self.bg_color = panels.bg_color
        self.emoji = panels.emoji

    def __len__(self) -> int:
        return int(self.color.shape[0])

    def batch(self, idx, rng: np.random.Generator, extracted_fraction: float = 0.5,
              flip: bool = True, device="cpu", real=None, real_idx=None) -> dict:
        """``real`` (``RealSamples``) and ``real_idx`` (int per row, -1: none): row ``j``
        takes real sample ``real_idx[j]`` and its panel instead of panel ``idx[j]``."""
        idx = np.array(idx)
        n = len(idx)
        use_extracted = rng.random(n) < extracted_fraction
        flips = (rng.random(n) < 0.5) if flip else np.zeros(n, bool)
        is_real = np.zeros(n, bool)
        if real is not None and real_idx is not None:
            real_idx = np.asarray(real_idx)
            is_real = real_idx >= 0
            idx[is_real] = real.panel[real_idx[is_real]]
            use_extracted[is_real] = real.extracted[real_idx[is_real]]
        outline = np.where(use_extracted[:, None, None], self.extracted[idx], self.line[idx])
        color, lowres = self.color[idx], self.lowres[idx]
        line, bg = self.line[idx], self.background[idx]
        sample = lowres.copy()
        if is_real.any():
            sample[is_real] = real.lowres[real_idx[is_real]]
        if flips.any():
            for a in (outline, color, lowres, line, bg, sample):
                a[flips] = a[flips][:, :, ::-1]
        to = dict(device=device)
        ink = 1 - torch.from_numpy(outline.astype(np.float32) / 255)

        def rgb(a):
            return (torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1).to(**to)
        return {
            "outline": ink[:, None].to(**to),
            "color": rgb(color),
            "lowres": rgb(lowres),
            "background": torch.from_numpy(bg.astype(np.float32))[:, None].to(**to),
            "line_u8": line,
            "extracted": torch.from_numpy(use_extracted),
            "sample": rgb(sample),
            "real": torch.from_numpy(is_real).to(**to),
        }
