"""One color per region: the flats stage after polishing, and the compose step.

Regions come from :func:`fastcolor.flats.find_regions` (int32 ``(H, W)``, ``0..n-1``) at
the page's size; the model's fields (polished colors, background probability) are at
the model's size over the same page. Statistics are taken on a grid of at most
``MAX_SAMPLES`` page pixels (every ``k``-th row and column) plus one pixel of each region
the grid misses, so the cost does not grow with the page.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InvalidInputError

__all__ = ["MAX_SAMPLES", "grouped_median", "region_samples", "region_colors", "region_is_background",
           "hint_region_colors", "paint_regions", "compose"]

MAX_SAMPLES = 1 << 16
_ROWS = 512


def _stride(height: int, width: int) -> int:
    return max(1, int(np.sqrt(height * width / MAX_SAMPLES)))


def region_samples(labels: np.ndarray, ink: np.ndarray, pieces: list):
    """Sample model-size fields at page pixels of every region.

    pieces: ``[(box, fields), ...]``: a ``fastcolor.panels.Box`` of the page and fields
    over it (each float32 ``(h, w)`` or ``(h, w, C)`` at any size); boxes do not
    overlap. Pixels on a grid of at most ``MAX_SAMPLES`` points are sampled (paper
    pixels, where a region has any on the grid), plus the first pixel (paper first) of
    every region the grid misses.

    Returns ``(regions, values, inside)``: int64 ``(M,)`` the region of each sample, per
    field its bilinear values ``(M, ...)`` (zeros outside every box), bool ``(M,)``
    whether the sample lies in a box."""
    h, w = labels.shape
    n = int(labels.max()) + 1
    k = _stride(h, w)
    ys, xs = np.arange(k // 2, h, k), np.arange(k // 2, w, k)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    py, px = gy.ravel(), gx.ravel()
    lab = labels[py, px].astype(np.int64)
    paper = ~ink[py, px]
    has_paper = np.bincount(lab[paper], minlength=n) > 0
    keep = paper | ~has_paper[lab]        # ink samples only for regions with no paper
    py, px, lab = py[keep], px[keep], lab[keep]
    missing = np.flatnonzero(np.bincount(lab, minlength=n) == 0)
    if len(missing):                      # regions smaller than the grid: one pixel each
        wanted = np.zeros(n, bool)
        wanted[missing] = True
        idx = np.flatnonzero(wanted[labels.ravel()])
        order = np.lexsort((idx, ink.ravel()[idx], labels.ravel()[idx]))  # paper first
        idx = idx[order]
        first = idx[np.r_[True, labels.ravel()[idx][1:] != labels.ravel()[idx][:-1]]]
        fy, fx = np.divmod(first, w)
        py, px = np.concatenate([py, fy]), np.concatenate([px, fx])
        lab = np.concatenate([lab, labels.ravel()[first].astype(np.int64)])
    inside = np.zeros(len(lab), bool)
    values = None
    for box, fields in pieces:
        top, left, bh, bw = box.top, box.left, box.height, box.width
        sel = np.flatnonzero((py >= top) & (py < top + bh) & (px >= left) & (px < left + bw))
        if values is None:
            values = [np.zeros((len(lab),) + f.shape[2:], np.float32) for f in fields]
        inside[sel] = True
        for v, f in zip(values, fields):
            fy = ((py[sel] - top + 0.5) * f.shape[0] / bh - 0.5).astype(np.float32)
            fx = ((px[sel] - left + 0.5) * f.shape[1] / bw - 0.5).astype(np.float32)
            v[sel] = _bilinear(f, fy, fx)
    return lab, values or [], inside


def _bilinear(f: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """``f`` ``(h, w[, C])`` at the float positions ``(fy, fx)`` (edges replicated)."""
    y = np.clip(fy, 0, f.shape[0] - 1)
    x = np.clip(fx, 0, f.shape[1] - 1)
    y0, x0 = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, f.shape[0] - 1), np.minimum(x0 + 1, f.shape[1] - 1)
    wy, wx = y - y0, x - x0
    if f.ndim == 3:
        wy, wx = wy[:, None], wx[:, None]
    top = f[y0, x0] * (1 - wx) + f[y0, x1] * wx
    bottom = f[y1, x0] * (1 - wx) + f[y1, x1] * wx
    return top * (1 - wy) + bottom * wy


def grouped_median(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per-group median of ``values`` (float ``(M,)``; the lower middle value for an even
    count), groups ``0..n-1`` all present."""
    order = np.lexsort((values, groups))
    counts = np.bincount(groups, minlength=n)
    starts = np.cumsum(counts) - counts
    return values[order][starts + (counts - 1) // 2]


def region_colors(regions: np.ndarray, colors: np.ndarray, n: int) -> np.ndarray:
    """The color of each region: the median of its samples' CIELAB L*, a*, b* taken
    channel by channel (robust to the blotches of a soft coloring, perceptual),
    back to 8-bit sRGB. ``regions`` / ``colors`` from :func:`region_samples` (colors
    float32 RGB in [0, 1]); returns uint8 ``(n, 3)``."""
    lab = cv2.cvtColor(np.clip(colors, 0, 1).astype(np.float32)[None], cv2.COLOR_RGB2Lab)[0]
    med = np.stack([grouped_median(regions, lab[:, c], n) for c in range(3)], 1)
    rgb = cv2.cvtColor(med.astype(np.float32)[None], cv2.COLOR_Lab2RGB)[0]
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def region_is_background(regions: np.ndarray, probability: np.ndarray, n: int,
                         threshold: float) -> np.ndarray:
    """bool ``(n,)``: a region is background when the detector's mean probability over
    its samples exceeds ``threshold``."""
    total = np.bincount(regions, weights=probability.astype(np.float64), minlength=n)
    return total / np.maximum(np.bincount(regions, minlength=n), 1) > threshold


def hint_region_colors(labels: np.ndarray, strokes: np.ndarray):
    """Regions touched by hint strokes and their colors.

    strokes: uint8 RGBA ``(H, W, 4)`` of the page's size; pixels with alpha >= 128 are
    strokes. A region takes the color of the most stroke pixels inside it (ties: the
    smaller 0xRRGGBB). Returns ``(regions int64 (m,), colors uint8 (m, 3))``."""
    if strokes.shape[:2] != labels.shape:
        raise InvalidInputError(f"hint strokes are {strokes.shape[1]} x {strokes.shape[0]} "
                                f"but the page is {labels.shape[1]} x {labels.shape[0]}")
    on = strokes[..., 3] >= 128
    lab = labels[on].astype(np.int64)
    rgb = strokes[..., :3][on].astype(np.int64)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    if not len(lab):
        return np.zeros(0, np.int64), np.zeros((0, 3), np.uint8)
    pairs, counts = np.unique(lab * (1 << 24) + packed, return_counts=True)
    region, color = pairs >> 24, pairs & 0xFFFFFF
    order = np.lexsort((color, -counts, region))      # per region: most pixels, then color
    region, color = region[order], color[order]
    first = np.r_[True, region[1:] != region[:-1]]
    region, color = region[first], color[first]
    out = np.stack([(color >> 16) & 255, (color >> 8) & 255, color & 255], 1).astype(np.uint8)
    return region, out


def paint_regions(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """The flats: uint8 ``(H, W, 3)`` with every pixel its region's color."""
    return palette[labels]


def compose(flats: np.ndarray, gray: np.ndarray, ink: np.ndarray | None = None) -> np.ndarray:
    """The colored page: the line art over the flats, ``flats * gray / 255`` rounded
    (uint8 ``(H, W, 3)``; black ink stays black, anti-aliasing stays as drawn). With
    ``ink`` (uint8 ``(H, W, 3)``: the color of line art drawn in colored ink,
    ``fastcolor.outline.ink_colors``) the lines are drawn in it:
    ``(flats * gray + ink * (255 - gray)) / 255`` (the same for black ink)."""
    out = np.empty_like(flats)
    for y in range(0, flats.shape[0], _ROWS):           # in bands: bounded temporaries
        g = gray[y:y + _ROWS, :, None].astype(np.uint16)
        band = flats[y:y + _ROWS].astype(np.uint16) * g      # <= 255 * 255 + 127 in all
        if ink is not None:
            band += ink[y:y + _ROWS].astype(np.uint16) * (255 - g)
        band += 127
        out[y:y + _ROWS] = band // 255
    return out
