"""The emoji composition (``fastcolor data build --composition emoji``, the first one):
1-3 OpenMoji drawings on a flat background in a bordered panel, at the working size. The
default composition, panels cut from comic pages, is ``comic``; both return ``Panel``.

A panel of side ``size``: a white gutter of 0..size/16 pixels on each side, a black
border ``max(1, round(size / 96))`` pixels wide, and inside it a flat background color
drawn at random (``random_background_color``). The background color cannot be inferred
from the line art; that is exactly what the paper's background detector is for.

Each drawing (cropped to its bounding box) is scaled so its longer side is a random
fraction of the panel's inner side (1 drawing: 0.6-1.0, 2: 0.45-0.75, 3: 0.35-0.6),
mirrored with probability 1/2, and placed at a random position where up to 15% of it
may leave the panel (the border crops it). Later
drawings cover earlier ones, both in color and in line art (an occluded line is hidden
like in a real drawing).

What a panel holds (all ``size x size``):

- ``color``: uint8 RGB ground truth (black ink lines included);
- ``line``: uint8 exact line art (0 = ink, 255 = paper): the drawings' ``line`` groups
  and the panel border;
- ``extracted``: uint8 outline extracted from ``color`` by ``fastcolor.outline.extract``
  (Canny + dark pixels, as in the paper; values 0 and 255);
- ``background``: bool, the panel background: inside the border and covered by no
  drawing (coverage alpha < 0.5);
- ``bg_color``: the background RGB.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

from .. import outline as outline_mod
from .render import Drawing

SCALE_RANGES = {1: (0.6, 1.0), 2: (0.45, 0.75), 3: (0.35, 0.6)}
MAX_OVERHANG = 0.15


@dataclass
class Panel:
    color: np.ndarray        # (S, S, 3) uint8
    line: np.ndarray         # (S, S) uint8, 0 = ink
    extracted: np.ndarray    # (S, S) uint8, 0 = ink
    background: np.ndarray   # (S, S) bool
    bg_color: tuple[int, int, int]
    emoji: tuple[str, ...]
    flags: int = 0           # what the panel holds (comic composition: comic.FLAG_*)


def random_background_color(rng: np.random.Generator) -> tuple[int, int, int]:
    """A flat panel background: with probability 0.15 near white (each channel
    235..255), otherwise a color of uniform hue, saturation 0.1-0.7 and value 0.6-1.0
    (comic backgrounds are mostly light; dark ones would hide the ink)."""
    if rng.random() < 0.15:
        return tuple(int(v) for v in rng.integers(235, 256, size=3))
    h, s, v = rng.random(), rng.uniform(0.1, 0.7), rng.uniform(0.6, 1.0)
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v))


def _premultiplied(drawing: Drawing, side: int, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    """Drawing resized so its longer side is ``side`` -> (premultiplied RGBA float32,
    line alpha float32)."""
    rgba = drawing.color.astype(np.float32) / 255
    prem = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], axis=2)
    line = drawing.line.astype(np.float32) / 255
    h, w = drawing.shape
    scale = side / max(h, w)
    th, tw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    if (th, tw) != (h, w):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        prem = cv2.resize(prem, (tw, th), interpolation=interp).reshape(th, tw, 4)
        line = cv2.resize(line, (tw, th), interpolation=interp).reshape(th, tw)
    if mirror:
        prem, line = prem[:, ::-1], line[:, ::-1]
    return np.clip(prem, 0, 1), np.clip(line, 0, 1)


def compose_panel(drawings: list[Drawing], rng: np.random.Generator, size: int,
                  bg_color: tuple[int, int, int] | None = None,
                  extract: bool = True) -> Panel:
    """Compose one panel of side ``size`` from 1-3 ``drawings`` (see module doc)."""
    n = len(drawings)
    if n not in SCALE_RANGES:
        raise ValueError(f"a panel holds 1 to 3 drawings, got {n}")
    if size < 16:
        raise ValueError(f"panel size must be at least 16, got {size}")
    if bg_color is None:
        bg_color = random_background_color(rng)
    gutter = rng.integers(0, size // 16 + 1, size=4)          # top, bottom, left, right
    bw = max(1, round(size / 96))
    y0, y1 = int(gutter[0]), size - int(gutter[1])
    x0, x1 = int(gutter[2]), size - int(gutter[3])
    iy0, iy1, ix0, ix1 = y0 + bw, y1 - bw, x0 + bw, x1 - bw     # inner area

    rgb = np.ones((size, size, 3), np.float32)                 # white paper
    rgb[y0:y1, x0:x1] = 0                                       # the black border
    rgb[iy0:iy1, ix0:ix1] = np.asarray(bg_color, np.float32) / 255
    ink = np.zeros((size, size), np.float32)
    ink[y0:y1, x0:x1] = 1
    ink[iy0:iy1, ix0:ix1] = 0                                   # the border
    cover = np.zeros((size, size), np.float32)

    inner = min(iy1 - iy0, ix1 - ix0)
    lo, hi = SCALE_RANGES[n]
    for d in drawings:
        side = max(4, int(round(rng.uniform(lo, hi) * inner)))
        prem, line = _premultiplied(d, side, bool(rng.random() < 0.5))
        dh, dw = line.shape
        oy, ox = int(MAX_OVERHANG * dh), int(MAX_OVERHANG * dw)
        py = int(rng.integers(iy0 - oy, max(iy0 - oy, iy1 - dh + oy) + 1))
        px = int(rng.integers(ix0 - ox, max(ix0 - ox, ix1 - dw + ox) + 1))
        # crop the drawing to the inner area
        cy0, cy1 = max(py, iy0), min(py + dh, iy1)
        cx0, cx1 = max(px, ix0), min(px + dw, ix1)
        if cy1 <= cy0 or cx1 <= cx0:
            continue
        p = prem[cy0 - py:cy1 - py, cx0 - px:cx1 - px]
        la = line[cy0 - py:cy1 - py, cx0 - px:cx1 - px]
        a = p[..., 3]
        region = (slice(cy0, cy1), slice(cx0, cx1))
        rgb[region] = rgb[region] * (1 - a[..., None]) + p[..., :3]
        ink[region] = ink[region] * (1 - a) + la
        cover[region] = cover[region] * (1 - a) + a

    color = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    line_u8 = np.clip(np.rint((1 - np.clip(ink, 0, 1)) * 255), 0, 255).astype(np.uint8)
    background = np.zeros((size, size), bool)
    background[iy0:iy1, ix0:ix1] = cover[iy0:iy1, ix0:ix1] < 0.5
    extracted = outline_mod.extract(color, line_art=False) if extract else None
    return Panel(color=color, line=line_u8, extracted=extracted, background=background,
                 bg_color=tuple(int(v) for v in bg_color),
                 emoji=tuple(d.hexcode for d in drawings))
