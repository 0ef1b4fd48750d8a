"""``fastcolor eval``: how consistent, how close to the truth, how fast.

On the validation split of a data cache (or on any folder of color images, whose
outlines are extracted with Canny + dark pixels), each image is colored twice from the
same seed, with the background detector and without it (the paper's ablation: the same
low-res sample either way), and measured:

- **background consistency**: inside the ground-truth background (the composition's
  mask, shrunk by one pixel and without ink pixels of the outline), the spread of
  chroma ``sqrt(std(a*)^2 + std(b*)^2)`` in CIELAB (and ``std(a*)``, ``std(b*)``), per
  image, averaged; with and without the detector. Target: with <= 1/3 of without;
- **color error**: mean CIEDE2000 to the ground truth over the paper (non-ink) pixels,
  for fastcolor and for trivial baselines: all white, one mean color everywhere (the mean
  color of the training panels, from the cache index; for a folder, the folder's own
  mean), and the low-res sample upsampled (bilinear). The ink is laid over every baseline
  as over fastcolor's output. Also split into the background and the rest
  (``foreground``): the background color is drawn at random and cannot be inferred from
  line art, so any sampler pays for it there. One more row, not a baseline:
  ``fastcolor_true_background`` is fastcolor given the true background color (what
  ``colorize --background R,G,B`` does), i.e. the error left once a user picks the
  background color;
- **flat share**: of the closed regions of the outline (4-connected paper components of
  at least 64 pixels, no gap closing), the share of their area whose color is the
  region's most frequent output color: 1.0 when every region comes out one flat color.
  For fastcolor (flats, the default), ``fastcolor_soft`` (``flats=False``: the polished
  colors as they are, the output before flats) and the run without the detector;
- **region color error**: the regions of the line art (``fastcolor.flats.find_regions``
  on the outline, the same for every method) each get the median CIELAB color of the
  ground truth and of the output over their clean paper (``outline >= 250``); the
  CIEDE2000 between the two, weighted by the region's area, averaged over all regions
  and split into background (regions mostly in the true background) and foreground.
  What a colorist sees: one number per region, not per pixel. The foreground is also
  scored on its colored regions alone (``region_ciede2000_foreground_colored``: not white
  in the truth), where only knowing the drawing helps. Baselines: all white, one
  mean color, and ``class_mean`` (the training panels' mean background color on
  background regions and mean foreground color on the others: the best a colorizer
  that knows only which regions are background could do with constants);
- **detector**: background IoU of the page's background mask against the truth, over
  all pixels and over paper pixels only (``detector_iou_paper``: ink is drawn over any
  color, so whether an ink pixel counts as background changes nothing on the page; the
  truth counts the ink inside the background as background, the flats mask does not);
  the median of the paper IoU beside the mean (a few panels with no clear background, e.g.
  a drawing whose own fill covers the panel, weigh on the mean); the
  share of the true background left in the polisher's colors (``background_missed``)
  and the share of the figure painted as background (``figure_as_background``), both
  over paper pixels; beside it, a baseline: the paper IoU of the region oracle
  (``region_oracle_iou_paper``, ``region_oracle_background``: every closed region of the
  line art takes its true majority class), the best a mask that follows the line art's
  regions can do; the pipeline cuts a region along the detector's mask where it is part
  background (``split``), so it can score above it;
- **colorfulness** (Hasler and Suesstrunk 2003, ``sqrt(sd_rg^2 + sd_yb^2) + 0.3
  sqrt(mu_rg^2 + mu_yb^2)`` over the paper pixels) of the output and of the ground
  truth: a pale wash scores far below the truth;
- **figure like background**: the share of the figure (regions mostly outside the true
  background, by paper area) whose region color lies within CIEDE2000 10 of the
  background color of the same image (``figure_like_background``), for the output and
  for the ground truth: a figure painted in its background's color is lost on the page;
- **white frame**: of the outer 8 px band of paper whose true color is not white, the
  share the output leaves white (>= 250 in every channel); and ``white_frame_excess``:
  that share minus the same share over the rest of the paper (a page whose chosen
  background is white everywhere has no frame; a white band around colored paper does):
  0 when the border is not special; and ``white_frame_in_class``: the same difference
  taken within each truth class (background, figure) and weighted by the class's band
  pixels, not clipped: a white background chosen where the artist's is colored is as
  white inside as in the band and is no frame, where ``white_frame_excess`` still counts
  it against the figure's colors inside; negative when the band is less white;
- **ink preserved**: the fraction of ink pixels (outline value 0) that stay black (0, 0,
  0) in the output: must be 1.0;
- **time**: seconds per image (the run with the detector, after one warm-up run).

For a folder of images there is no composition mask: the background is estimated as the
pixels within CIEDE76 10 of the most frequent color, in connected pieces of at least 1%
of the image (``estimate_background``).

CIELAB is computed from sRGB (D65) and CIEDE2000 follows Sharma, Wu and Dalal (2005),
both vectorized in numpy here.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .config import PRIOR_SATURATION
from .errors import InvalidInputError

# ---------------------------------------------------------------------------------------
# color science
# ---------------------------------------------------------------------------------------

_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> linear RGB (the sRGB transfer function)."""
    rgb = np.asarray(rgb, np.float64)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def rgb_to_lab(rgb) -> np.ndarray:
    """sRGB ``(..., 3)`` (uint8, or float in [0, 1]) -> CIELAB ``(..., 3)`` float64 (D65
    white, 2-degree observer)."""
    rgb = np.asarray(rgb)
    if rgb.shape[-1] != 3:
        raise InvalidInputError(f"rgb_to_lab takes (..., 3) arrays, got {rgb.shape}")
    x = rgb.astype(np.float64) / 255 if rgb.dtype == np.uint8 else rgb.astype(np.float64)
    xyz = srgb_to_linear(x) @ _SRGB_TO_XYZ.T / _WHITE_D65
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def ciede2000(lab1, lab2, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0) -> np.ndarray:
    """CIEDE2000 color difference of CIELAB arrays ``(..., 3)`` (Sharma, Wu, Dalal 2005)."""
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    Cbar7 = ((C1 + C2) / 2) ** 7
    G = 0.5 * (1 - np.sqrt(Cbar7 / (Cbar7 + 25.0 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360)
    dLp = L2 - L1
    dCp = C2p - C1p
    zero = C1p * C2p == 0
    dh = h2p - h1p
    dhp = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dhp = np.where(zero, 0.0, dhp)
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dhp) / 2)
    Lbp = (L1 + L2) / 2
    Cbp = (C1p + C2p) / 2
    hsum = h1p + h2p
    hbp = np.where(np.abs(h1p - h2p) <= 180, hsum / 2,
                   np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2))
    hbp = np.where(zero, hsum, hbp)
    T = (1 - 0.17 * np.cos(np.radians(hbp - 30)) + 0.24 * np.cos(np.radians(2 * hbp))
         + 0.32 * np.cos(np.radians(3 * hbp + 6)) - 0.20 * np.cos(np.radians(4 * hbp - 63)))
    dtheta = 30 * np.exp(-(((hbp - 275) / 25) ** 2))
    Cbp7 = Cbp ** 7
    RC = 2 * np.sqrt(Cbp7 / (Cbp7 + 25.0 ** 7))
    SL = 1 + 0.015 * (Lbp - 50) ** 2 / np.sqrt(20 + (Lbp - 50) ** 2)
    SC = 1 + 0.045 * Cbp
    SH = 1 + 0.015 * Cbp * T
    RT = -np.sin(np.radians(2 * dtheta)) * RC
    tL, tC, tH = dLp / (kL * SL), dCp / (kC * SC), dHp / (kH * SH)
    return np.sqrt(np.maximum(tL ** 2 + tC ** 2 + tH ** 2 + RT * tC * tH, 0))


# ---------------------------------------------------------------------------------------
# metrics of one image
# ---------------------------------------------------------------------------------------

def chroma_spread(image: np.ndarray, mask: np.ndarray) -> dict | None:
    """``std(a*)``, ``std(b*)`` and ``spread = sqrt(std(a*)^2 + std(b*)^2)`` of the
    uint8 RGB ``image`` inside bool ``mask``; None for an empty mask."""
    if not mask.any():
        return None
    lab = rgb_to_lab(image[mask])
    sa, sb = float(lab[:, 1].std()), float(lab[:, 2].std())
    return {"std_a": sa, "std_b": sb, "spread": math.hypot(sa, sb)}


def colorfulness(image: np.ndarray, mask: np.ndarray) -> float | None:
    """Hasler-Suesstrunk colorfulness of ``image`` (H, W, 3) uint8 over ``mask``
    (None when empty)."""
    if not mask.any():
        return None
    px = image[mask].astype(np.float64)
    rg = px[:, 0] - px[:, 1]
    yb = 0.5 * (px[:, 0] + px[:, 1]) - px[:, 2]
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def _border_band(shape: tuple, width: int) -> np.ndarray:
    """bool ``shape``: the outer ``width`` px of the page."""
    band = np.zeros(shape, bool)
    band[:width], band[-width:], band[:, :width], band[:, -width:] = True, True, True, True
    return band


def white_frame(image: np.ndarray, truth: np.ndarray, paper: np.ndarray,
                width: int = 8) -> float | None:
    """Of the outer ``width`` px band of ``paper`` whose ``truth`` color is not white, the
    share ``image`` leaves white (>= 250 in every channel); None when there is none."""
    band = _border_band(paper.shape, width) & paper & (truth < 245).any(axis=-1)
    if not band.any():
        return None
    return float((image[band] >= 250).all(axis=-1).mean())


def _band_minus_inside(image: np.ndarray, truth: np.ndarray, paper: np.ndarray,
                       classes, width: int) -> list[tuple[int, float]]:
    """For each bool ``(H, W)`` mask of ``classes``, over its paper whose ``truth`` color
    is not white: ``(band pixels, white share in the outer width px band - white share
    inside)``, for the classes with pixels on both sides (white: >= 250 in every
    channel of ``image``)."""
    band = _border_band(paper.shape, width)
    colored = paper & (truth < 245).any(axis=-1)
    white = (image >= 250).all(axis=-1)
    out = []
    for cls in classes:
        edge, inner = band & colored & cls, ~band & colored & cls
        if edge.any() and inner.any():
            out.append((int(edge.sum()), float(white[edge].mean() - white[inner].mean())))
    return out


def white_frame_excess(image: np.ndarray, truth: np.ndarray, paper: np.ndarray,
                       width: int = 8) -> float | None:
    """``white_frame`` minus the share of the other non-white-in-truth paper pixels that
    ``image`` leaves white: how much whiter the border band is than the page's inside
    (clipped at 0); None when the band or the inside has no such pixel."""
    parts = _band_minus_inside(image, truth, paper, [paper], width)
    return max(0.0, parts[0][1]) if parts else None


def white_frame_in_class(image: np.ndarray, truth: np.ndarray, paper: np.ndarray,
                         background: np.ndarray, width: int = 8) -> float | None:
    """How much whiter the outer ``width`` px band is than the inside, within each truth
    class: over the paper whose ``truth`` color is not white, per class of ``background``
    (bool ``(H, W)``, the true background; the rest is the figure) the share ``image``
    leaves white (>= 250 in every channel) in the band minus the share inside, averaged
    over the classes weighted by their band pixels; signed (negative: the band is less
    white); None when no class has pixels both in the band and inside."""
    parts = _band_minus_inside(image, truth, paper, [background, ~background], width)
    weight = sum(n for n, _ in parts)
    return sum(n * d for n, d in parts) / weight if weight else None


def ink_preserved(image: np.ndarray, outline: np.ndarray) -> float | None:
    """Fraction of the ink pixels (uint8 ``outline == 0``) that are black (0, 0, 0) in
    the uint8 RGB ``image``; None when the outline has no ink."""
    ink = outline == 0
    n = int(ink.sum())
    if n == 0:
        return None
    return float((image[ink].max(axis=1) == 0).sum()) / n


def flat_share(image: np.ndarray, outline: np.ndarray, min_area: int = 64) -> float | None:
    """Share of the area of the outline's closed regions (4-connected components of the
    paper pixels ``outline > 127`` with at least ``min_area`` pixels; counted on their
    clean paper, ``outline >= 250``) whose color in the uint8 RGB ``image`` is its
    region's most frequent color; None without such regions."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((outline > 127).astype(np.uint8),
                                                           connectivity=4)
    big = np.zeros(n, bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    inside = big[labels] & (outline >= 250)      # anti-aliased edges show the line, not the fill
    if not inside.any():
        return None
    rgb = image[inside].astype(np.int64)
    keys = labels[inside].astype(np.int64) << 24 | rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]
    values, counts = np.unique(keys, return_counts=True)
    modal = np.zeros(n, np.int64)
    np.maximum.at(modal, values >> 24, counts)
    return float(modal.sum() / inside.sum())


def region_color_error(image: np.ndarray, truth: np.ndarray, labels: np.ndarray,
                       paper: np.ndarray, background: np.ndarray) -> dict:
    """Area-weighted CIEDE2000 between the per-region median CIELAB colors of ``image``
    and ``truth`` (uint8 RGB) over the ``paper`` pixels of each region of ``labels``;
    ``{"all", "bg", "fg", "fg_colored"}`` (None where no region), bg = regions mostly in
    ``background``, fg_colored = the foreground regions whose true color is not white
    paper (L* < 93 or chroma C* > 6): where a colorizer must know the drawing's colors
    (balloons, eyes and paper inside a drawing are white in the truth)."""
    lab_ids = labels[paper].astype(np.int64)
    if not len(lab_ids):
        return {"all": None, "bg": None, "fg": None, "fg_colored": None}
    lab_ids, area, is_bg = _paper_regions(lab_ids, background[paper])
    med = [_region_medians(img[paper], lab_ids, len(area)) for img in (image, truth)]
    d = ciede2000(med[0], med[1])

    def weighted(sel):
        return float((d[sel] * area[sel]).sum() / area[sel].sum()) if sel.any() else None
    colored = (med[1][:, 0] < 93) | (np.hypot(med[1][:, 1], med[1][:, 2]) > 6)
    return {"all": weighted(np.ones(len(area), bool)), "bg": weighted(is_bg), "fg": weighted(~is_bg),
            "fg_colored": weighted(~is_bg & colored)}


def _paper_regions(lab_ids: np.ndarray, background: np.ndarray):
    """Region labels of the paper pixels -> (labels renumbered ``0..n-1``, each region's
    area float64 ``(n,)``, bool ``(n,)``: mostly in ``background`` (bool, per pixel))."""
    ids, lab_ids = np.unique(lab_ids, return_inverse=True)
    n = len(ids)
    area = np.bincount(lab_ids, minlength=n).astype(np.float64)
    is_bg = np.bincount(lab_ids, weights=background.astype(np.float64), minlength=n) > area / 2
    return lab_ids, area, is_bg


def _region_medians(rgb: np.ndarray, lab_ids: np.ndarray, n: int) -> np.ndarray:
    """uint8 RGB pixels ``(m, 3)`` and their regions ``(m,)`` -> each region's median
    CIELAB color ``(n, 3)``."""
    from .flats.colors import grouped_median
    lab = rgb_to_lab(rgb)
    return np.stack([grouped_median(lab_ids, lab[:, c], n) for c in range(3)], 1)


def region_oracle_background(labels: np.ndarray, paper: np.ndarray,
                             background: np.ndarray) -> np.ndarray:
    """The background mask of an oracle that knows the truth but decides whole regions:
    every region of ``labels`` (int ``(H, W)``) takes the class most of its ``paper``
    pixels have in ``background`` (bool ``(H, W)``); bool ``(H, W)``. Its IoU is the best
    a detector whose mask follows the line art's closed regions can score: what the truth
    calls figure with no line around it (a colored square behind a drawing, a contour
    left open) is out of its reach."""
    n = int(labels.max()) + 1
    ids = labels[paper]
    area = np.bincount(ids, minlength=n)
    bg = np.bincount(ids, weights=background[paper].astype(np.float64), minlength=n)
    return (bg > area / 2)[labels]


def figure_like_background(image: np.ndarray, labels: np.ndarray, paper: np.ndarray,
                           background: np.ndarray, tolerance: float = 10.0) -> float | None:
    """The share of the figure (the regions of ``labels`` mostly outside ``background``,
    by area over their ``paper`` pixels) whose median color in ``image`` (uint8 RGB) lies
    within CIEDE2000 ``tolerance`` of the image's background color (the median CIELAB
    over the regions mostly in ``background``): a figure lost in its background. None
    without both a figure and a background."""
    lab_ids = labels[paper].astype(np.int64)
    if not len(lab_ids):
        return None
    lab_ids, area, is_bg = _paper_regions(lab_ids, background[paper])
    if is_bg.all() or not is_bg.any():
        return None
    pixels = image[paper]
    med = _region_medians(pixels, lab_ids, len(area))
    back = rgb_to_lab(pixels[is_bg[lab_ids]])
    d = ciede2000(med[~is_bg], np.median(back, axis=0)[None])
    return float(area[~is_bg][d < tolerance].sum() / area[~is_bg].sum())


def class_means(panels, limit: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Mean RGB of the background and of the foreground paper pixels of the first
    ``limit`` panels of a ``PanelSet`` (the ``class_mean`` baseline)."""
    return _class_means(panels.color[:limit], panels.background[:limit],
                        panels.line[:limit] >= 250)


def _class_means(colors, backgrounds, papers) -> tuple[np.ndarray, np.ndarray]:
    """Mean RGB over the background paper pixels and over the other paper pixels of
    parallel sequences of images (white where there are none)."""
    out = []
    for want_bg in (True, False):
        px = [c[(b if want_bg else ~b) & p] for c, b, p in zip(colors, backgrounds, papers)]
        px = np.concatenate(px) if px else np.zeros((0, 3))
        out.append(px.mean(axis=0) if len(px) else np.full(3, 255.0))
    return out[0], out[1]


def lay_ink(color: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """The pipeline's last step: ``color * (1 - ink)`` with ``ink = 1 - outline / 255``."""
    paper = outline.astype(np.float32)[..., None] / 255
    return np.clip(np.rint(color.astype(np.float32) * paper), 0, 255).astype(np.uint8)


def estimate_background(image: np.ndarray, tolerance: float = 10.0,
                        min_fraction: float = 0.01) -> np.ndarray:
    """A background mask for a color image without one (see module doc)."""
    lab = rgb_to_lab(image)
    q = (image // 16).astype(np.int32)
    keys = (q[..., 0] * 16 + q[..., 1]) * 16 + q[..., 2]
    dark = lab[..., 0] < 25                          # ink is not a background
    counts = np.bincount(keys[~dark].ravel(), minlength=4096) if (~dark).any() \
        else np.bincount(keys.ravel(), minlength=4096)
    mode = int(np.argmax(counts))
    ref = lab[keys == mode].mean(axis=0)
    close = (np.linalg.norm(lab - ref, axis=-1) < tolerance) & ~dark
    n, labels, stats, _ = cv2.connectedComponentsWithStats(close.astype(np.uint8), connectivity=4)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_fraction * close.size
    return keep[labels]


# ---------------------------------------------------------------------------------------
# the evaluation
# ---------------------------------------------------------------------------------------

@dataclass
class Item:
    """One evaluation image: ground-truth RGB uint8, outline uint8 (0 = ink), background
    mask bool, and where the mask came from ("composition" or "estimated")."""

    name: str
    color: np.ndarray
    outline: np.ndarray
    background: np.ndarray
    mask_source: str = "composition"
    bg_color: tuple[int, int, int] | None = None


def cache_items(data_dir, split: str = "val", limit: int | None = None,
                outline: str = "line") -> tuple[list[Item], np.ndarray]:
    """Items of a cache split; ``outline``: ``line`` (exact line art) or ``extracted``.
    Returns (items, the training mean color)."""
    from .data.cache import load_split, read_index
    if outline not in ("line", "extracted"):
        raise InvalidInputError(f"--outline must be line or extracted, got {outline!r}")
    index = read_index(data_dir)
    panels = load_split(data_dir, split, limit)
    src = panels.line if outline == "line" else panels.extracted
    items = [Item(f"{split}-{i:05d} ({panels.emoji[i]})", panels.color[i], src[i],
                  panels.background[i], "composition",
                  tuple(int(v) for v in panels.bg_color[i])) for i in range(len(panels))]
    mean = np.asarray(index.get("train_mean_color", [255, 255, 255]), np.float64)
    return items, mean


def folder_items(folder, limit: int | None = None) -> tuple[list[Item], np.ndarray]:
    """Items of a folder of color images (outlines extracted, background estimated)."""
    from . import outline as outline_mod
    from .cli import IMAGE_SUFFIXES
    from .imageio import load_image, to_rgb01, to_uint8
    if not Path(folder).is_dir():
        raise InvalidInputError(f"--images {str(folder)!r} is not a folder")
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidInputError(f"folder {str(folder)!r} holds no images")
    if limit:
        files = files[:limit]
    items = []
    for p in files:
        rgb = to_uint8(to_rgb01(load_image(p)))
        out = outline_mod.extract(rgb, line_art=False)
        bg = estimate_background(rgb)
        bg_color = tuple(int(round(v)) for v in rgb[bg].mean(axis=0)) if bg.any() else None
        items.append(Item(p.name, rgb, out, bg, "estimated", bg_color))
    mean = np.mean([it.color.reshape(-1, 3).mean(axis=0) for it in items], axis=0)
    return items, mean


METHODS = ("fastcolor", "fastcolor_soft", "fastcolor_no_detector", "white", "mean_color",
           "class_mean", "lowres_upsampled", "fastcolor_true_background")
FLAT_SHARE_OF = ("fastcolor", "fastcolor_soft", "fastcolor_no_detector")


def _mean(values, reduce=np.mean) -> float | None:
    """``reduce`` (mean, or e.g. ``np.median``) of the values that are neither None nor NaN."""
    v = [x for x in values if x is not None and not math.isnan(x)]
    return float(reduce(v)) if v else None


def _u8(color) -> np.ndarray:
    return np.clip(np.rint(np.asarray(color, np.float64)), 0, 255).astype(np.uint8)


def evaluate(pipe, items: list[Item], mean_color, seed: int = 0, temperature: float = 1.0,
             progress: bool = False, class_colors=None, consensus: int = 1,
             figure_colors: str = "auto", prior_saturation: float = PRIOR_SATURATION) -> dict:
    """Run the pipeline on ``items`` and compute the metrics of the module doc.
    ``class_colors``: (background RGB, foreground RGB) of the ``class_mean`` baseline
    (default: the means over ``items``' own ground truth). ``consensus``: as the
    pipeline's (the vote of step 6c); ``figure_colors``, ``prior_saturation``: as the
    pipeline's (step 3b)."""
    from .flats import find_regions
    mode = pipe.resolve_figure_colors(figure_colors, prior_saturation)      # before any work
    mean_rgb = _u8(mean_color)
    if class_colors is None:
        class_colors = _class_means([it.color for it in items], [it.background for it in items],
                                    [it.outline >= 250 for it in items])
    class_rgb = [_u8(c) for c in class_colors]
    per = {m: {"all": [], "bg": [], "fg": []} for m in METHODS}
    region = {m: {"all": [], "bg": [], "fg": [], "fg_colored": []} for m in METHODS}
    spread = {"with_detector": [], "without_detector": [], "ground_truth": []}
    std_ab = {"with_detector": [], "without_detector": []}
    ink = {"with_detector": [], "without_detector": []}
    times, iou, missed, figure_bg = [], [], [], []
    colorful = {"fastcolor": [], "ground_truth": []}
    lost = {"fastcolor": [], "ground_truth": []}
    frame = {"fastcolor": [], "fastcolor_soft": []}
    frame_excess = {"fastcolor": [], "fastcolor_soft": []}
    frame_class = {"fastcolor": [], "fastcolor_soft": []}
    iou_paper, iou_oracle = [], []
    flat = {m: [] for m in FLAT_SHARE_OF}
    it = items
    if progress:
        from tqdm import tqdm
        it = tqdm(items, desc="eval", unit="image")
    kernel = np.ones((3, 3), np.uint8)
    opts = dict(extract_outline=False, temperature=temperature, consensus=consensus,
                figure_colors=figure_colors, prior_saturation=prior_saturation)
    if items:                      # warm-up (weight packing, first-call costs): not timed
        pipe(items[0].outline, seed=seed, **opts)
    for i, item in enumerate(it):
        H, W = item.outline.shape
        t0 = time.perf_counter()
        det = pipe(item.outline, seed=seed + i, **opts)
        times.append(time.perf_counter() - t0)
        nodet = pipe(item.outline, seed=seed + i, detect_background=False, **opts)
        soft = pipe(item.outline, seed=seed + i, flats=False, **opts)   # consensus: flats only
        low = cv2.resize(det.lowres, (W, H), interpolation=cv2.INTER_LINEAR)
        labels = find_regions(item.outline)
        paper = item.outline >= 250
        region_bg = region_oracle_background(labels, paper, item.background)
        class_img = np.where(region_bg[..., None], class_rgb[0], class_rgb[1])
        outputs = {
            "fastcolor": det.image, "fastcolor_soft": soft.image,
            "fastcolor_no_detector": nodet.image,
            "white": lay_ink(np.full((H, W, 3), 255, np.uint8), item.outline),
            "mean_color": lay_ink(np.broadcast_to(mean_rgb, (H, W, 3)), item.outline),
            "class_mean": lay_ink(class_img.astype(np.uint8), item.outline),
            "lowres_upsampled": lay_ink(low, item.outline),
        }
        if item.bg_color is not None:
            outputs["fastcolor_true_background"] = pipe(
                item.outline, seed=seed + i, background=item.bg_color, **opts).image
        for m, img in outputs.items():
            for k, v in region_color_error(img, item.color, labels, paper,
                                           item.background).items():
                region[m][k].append(v)
        for m, img in (("fastcolor", det.image), ("ground_truth", item.color)):
            lost[m].append(figure_like_background(img, labels, paper, item.background))
        paper = item.outline > 127
        bg = cv2.erode(item.background.astype(np.uint8), kernel).astype(bool) & paper
        fg = paper & ~item.background
        gt_lab = rgb_to_lab(item.color)
        for m, img in outputs.items():
            d = ciede2000(rgb_to_lab(img), gt_lab)
            per[m]["all"].append(float(d[paper].mean()) if paper.any() else None)
            per[m]["bg"].append(float(d[bg].mean()) if bg.any() else None)
            per[m]["fg"].append(float(d[fg].mean()) if fg.any() else None)
        for key, img in (("with_detector", det.image), ("without_detector", nodet.image),
                         ("ground_truth", item.color)):
            s = chroma_spread(img, bg)
            spread[key].append(None if s is None else s["spread"])
            if key in std_ab and s is not None:
                std_ab[key].append((s["std_a"], s["std_b"]))
        for m in FLAT_SHARE_OF:
            flat[m].append(flat_share(outputs[m], item.outline))
        ink["with_detector"].append(ink_preserved(det.image, item.outline))
        ink["without_detector"].append(ink_preserved(nodet.image, item.outline))
        truth = item.background
        pred = det.background_mask
        union = (truth | pred).sum()
        iou.append(float((truth & pred).sum() / union) if union else None)
        union = ((truth | pred) & paper).sum()
        iou_paper.append(float((truth & pred & paper).sum() / union) if union else None)
        union = ((truth | region_bg) & paper).sum()
        iou_oracle.append(float((truth & region_bg & paper).sum() / union) if union else None)
        t_bg, t_fg = truth & paper, ~truth & paper
        missed.append(float((t_bg & ~pred).sum() / t_bg.sum()) if t_bg.any() else None)
        figure_bg.append(float((t_fg & pred).sum() / t_fg.sum()) if t_fg.any() else None)
        colorful["fastcolor"].append(colorfulness(det.image, paper))
        colorful["ground_truth"].append(colorfulness(item.color, paper))
        for m in frame:
            frame[m].append(white_frame(outputs[m], item.color, paper))
            frame_excess[m].append(white_frame_excess(outputs[m], item.color, paper))
            frame_class[m].append(white_frame_in_class(outputs[m], item.color, paper,
                                                       item.background))

    bg_with, bg_without = _mean(spread["with_detector"]), _mean(spread["without_detector"])
    ciede = {m: _mean(per[m]["all"]) for m in METHODS}
    baselines = ("white", "mean_color", "lowres_upsampled")
    ratio = (bg_with / bg_without) if bg_with is not None and bg_without else None
    result = {
        "images": len(items),
        "background_mask": items[0].mask_source if items else None,
        "background_chroma_spread": {
            "with_detector": bg_with, "without_detector": bg_without,
            "ground_truth": _mean(spread["ground_truth"]),
            "ratio_with_to_without": ratio,
            "std_a_with_detector": _mean([a for a, _ in std_ab["with_detector"]]),
            "std_b_with_detector": _mean([b for _, b in std_ab["with_detector"]]),
            "std_a_without_detector": _mean([a for a, _ in std_ab["without_detector"]]),
            "std_b_without_detector": _mean([b for _, b in std_ab["without_detector"]]),
        },
        "ciede2000": ciede,
        "ciede2000_background": {m: _mean(per[m]["bg"]) for m in METHODS},
        "ciede2000_foreground": {m: _mean(per[m]["fg"]) for m in METHODS},
        "region_ciede2000": {m: _mean(region[m]["all"]) for m in METHODS},
        "region_ciede2000_background": {m: _mean(region[m]["bg"]) for m in METHODS},
        "region_ciede2000_foreground": {m: _mean(region[m]["fg"]) for m in METHODS},
        "region_ciede2000_foreground_colored": {m: _mean(region[m]["fg_colored"])
                                                for m in METHODS},
        "class_colors": [[float(v) for v in c] for c in class_colors],
        "flat_share": {m: _mean(v) for m, v in flat.items()},
        "ink_preserved": {k: _mean(v) for k, v in ink.items()},
        "ink_preserved_min": {k: (min(x for x in v if x is not None)
                                  if any(x is not None for x in v) else None)
                              for k, v in ink.items()},
        "detector_iou": _mean(iou),
        "detector_iou_paper": _mean(iou_paper),
        "detector_iou_paper_median": _mean(iou_paper, np.median),
        "region_oracle_iou_paper": _mean(iou_oracle),
        "region_oracle_iou_paper_median": _mean(iou_oracle, np.median),
        "background_missed": _mean(missed),
        "figure_as_background": _mean(figure_bg),
        "colorfulness": {k: _mean(v) for k, v in colorful.items()},
        "figure_like_background": {k: _mean(v) for k, v in lost.items()},
        "white_frame": {k: _mean(v) for k, v in frame.items()},
        "white_frame_excess": {k: _mean(v) for k, v in frame_excess.items()},
        "white_frame_in_class": {k: _mean(v) for k, v in frame_class.items()},
        "seconds_per_image": _mean(times),
        "seconds_per_image_median": float(np.median(times)) if times else None,
        "backend": pipe.backend.name,
        "seed": seed, "temperature": temperature, "consensus": consensus,
        "figure_colors": mode,
        "prior_saturation": prior_saturation,
    }
    result["targets"] = {
        "background_spread_at_most_one_third": None if ratio is None else bool(ratio <= 1 / 3),
        "fastcolor_below_every_baseline": (
            None if ciede["fastcolor"] is None or any(ciede[b] is None for b in baselines)
            else bool(all(ciede["fastcolor"] < ciede[b] for b in baselines))),
        "ink_preserved_is_1": bool(result["ink_preserved_min"]["with_detector"] in (None, 1.0)
                                   and result["ink_preserved_min"]["without_detector"]
                                   in (None, 1.0)),
    }
    return result


def _fmt(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def format_table(r: dict) -> str:
    """The metrics as a text table."""
    lines = [f"fastcolor eval: {r['images']} images, background mask from "
             f"{r['background_mask']}, backend {r['backend']}, seed {r['seed']}, "
             f"temperature {r.get('temperature', 1.0)}, consensus {r.get('consensus', 1)}, "
             f"figure colors {r.get('figure_colors', 'sample')}"
             + (f" (saturation {r['prior_saturation']:g})"
                if r.get("figure_colors") == "prior" else "")]
    b = r["background_chroma_spread"]
    lines += ["",
              "background chroma spread (CIELAB sqrt(std a*^2 + std b*^2), lower = flatter)",
              f"  with detector      {_fmt(b['with_detector'])}",
              f"  without detector   {_fmt(b['without_detector'])}",
              f"  ground truth       {_fmt(b['ground_truth'])}",
              f"  ratio with/without {_fmt(b['ratio_with_to_without'])}  (target <= 0.333)",
              "",
              f"{'CIEDE2000 to ground truth':28s} {'all':>8s} {'backgr.':>8s} {'foregr.':>8s}"]
    for m in METHODS:
        if r["ciede2000"][m] is None:
            continue
        lines.append(f"  {m:26s} {_fmt(r['ciede2000'][m], 2):>8s} "
                     f"{_fmt(r['ciede2000_background'][m], 2):>8s} "
                     f"{_fmt(r['ciede2000_foreground'][m], 2):>8s}")
    lines += ["", f"{'region CIEDE2000 (area-weighted)':28s} {'all':>8s} {'backgr.':>8s} "
                  f"{'foregr.':>8s} {'fg colored':>10s}"]
    for m in METHODS:
        if r.get("region_ciede2000", {}).get(m) is None:
            continue
        colored = r.get("region_ciede2000_foreground_colored", {}).get(m)
        lines.append(f"  {m:26s} {_fmt(r['region_ciede2000'][m], 2):>8s} "
                     f"{_fmt(r['region_ciede2000_background'][m], 2):>8s} "
                     f"{_fmt(r['region_ciede2000_foreground'][m], 2):>8s} "
                     f"{_fmt(colored, 2):>10s}")
    ink = r["ink_preserved"]
    lines += ["", "flat share (area of closed regions in one color, 1 = flat)"]
    lines += [f"  {m:26s} {_fmt(v)}" for m, v in r.get("flat_share", {}).items()]
    lines += ["",
              f"ink preserved      with detector {_fmt(ink['with_detector'], 4)}, without "
              f"{_fmt(ink['without_detector'], 4)} (must be 1.0)",
              f"detector IoU       {_fmt(r['detector_iou'])}, paper pixels "
              f"{_fmt(r.get('detector_iou_paper'))} (median {_fmt(r.get('detector_iou_paper_median'))}"
              f"; true background missed "
              f"{_fmt(r.get('background_missed'))}, figure painted as background "
              f"{_fmt(r.get('figure_as_background'))})",
              f"  region oracle    paper pixels {_fmt(r.get('region_oracle_iou_paper'))} "
              f"(median {_fmt(r.get('region_oracle_iou_paper_median'))}): each closed "
              f"region of the line art its true majority class",
              f"colorfulness       fastcolor {_fmt(r.get('colorfulness', {}).get('fastcolor'), 1)}"
              f", ground truth {_fmt(r.get('colorfulness', {}).get('ground_truth'), 1)}",
              f"figure like bg     {_fmt(r.get('figure_like_background', {}).get('fastcolor'))}"
              f" of the figure within CIEDE2000 10 of the background color, ground truth "
              f"{_fmt(r.get('figure_like_background', {}).get('ground_truth'))}",
              f"white frame        {_fmt(r.get('white_frame', {}).get('fastcolor'))} of the "
              f"outer 8 px that should not be white (soft "
              f"{_fmt(r.get('white_frame', {}).get('fastcolor_soft'))}); whiter than the "
              f"inside by {_fmt(r.get('white_frame_excess', {}).get('fastcolor'))} (soft "
              f"{_fmt(r.get('white_frame_excess', {}).get('fastcolor_soft'))}), within "
              f"each truth class by {_fmt(r.get('white_frame_in_class', {}).get('fastcolor'))}"
              f" (soft {_fmt(r.get('white_frame_in_class', {}).get('fastcolor_soft'))})",
              f"seconds per image  {_fmt(r['seconds_per_image'], 4)} (median "
              f"{_fmt(r['seconds_per_image_median'], 4)})",
              "targets            " + ", ".join(f"{k}: {v}" for k, v in r["targets"].items())]
    return "\n".join(lines)


def run_eval(weights=None, data=None, images=None, split: str = "val", limit: int | None = None,
             backend: str = "auto", seed: int = 0, outline: str = "line",
             temperature: float = 1.0, progress: bool = False, consensus: int = 1,
             figure_colors: str = "auto", prior_saturation: float = PRIOR_SATURATION) -> dict:
    """``fastcolor eval``: load the pipeline and the items, evaluate."""
    from .pipeline import Pipeline
    if (data is None) == (images is None):
        raise InvalidInputError("give exactly one of --data DIR (a fastcolor data cache) and "
                                "--images FOLDER (color images)")
    pipe = Pipeline.from_pretrained(weights, backend=backend)
    class_colors = None
    if data is not None:
        from .data.cache import load_split
        items, mean = cache_items(data, split, limit, outline)
        class_colors = class_means(load_split(data, "train", 500))
    else:
        items, mean = folder_items(images, limit)
    result = evaluate(pipe, items, mean, seed=seed, temperature=temperature, progress=progress,
                      consensus=consensus, class_colors=class_colors,
                      figure_colors=figure_colors, prior_saturation=prior_saturation)
    result["weights_sha256"] = pipe.weights_sha256
    result["source"] = str(data) if data is not None else str(images)
    result["split"] = split if data is not None else None
    result["outline"] = outline if data is not None else "extracted"
    return result


def dumps(result: dict) -> str:
    return json.dumps(result, sort_keys=True)


# ---------------------------------------------------------------------------------------
# series consistency (fastcolor eval --series)
# ---------------------------------------------------------------------------------------

SERIES_FAMILIES = ("translate_scale", "rotate", "rotate_occlude")


@dataclass
class Drawing:
    """One drawing cut out of a panel: line uint8 (0 = ink), color RGB uint8, mask bool."""

    line: np.ndarray
    color: np.ndarray
    mask: np.ndarray


def panel_drawing(line: np.ndarray, color: np.ndarray, background: np.ndarray) -> Drawing | None:
    """The largest connected non-background part of a panel inside its frame (the rows
    and columns at the edges that are not background at all: the panel border) and not
    cut by it, cropped to its box (the rest of the box white paper); None when the
    panel has none."""
    fg = ~background
    H, W = fg.shape
    top = int(np.argmin(fg.all(1))) if not fg.all() else H
    bottom = int(np.argmin(fg.all(1)[::-1]))
    left, right = int(np.argmin(fg.all(0))), int(np.argmin(fg.all(0)[::-1]))
    inner = np.zeros_like(fg)
    inner[top:H - bottom, left:W - right] = True
    n, lab, stats, _ = cv2.connectedComponentsWithStats((fg & inner).astype(np.uint8),
                                                        connectivity=8)
    if n < 2:
        return None
    x0, y0, x1, y1 = stats[1:, 0], stats[1:, 1], stats[1:, 0] + stats[1:, 2], \
        stats[1:, 1] + stats[1:, 3]
    cut = (x0 <= left) | (y0 <= top) | (x1 >= W - right) | (y1 >= H - bottom)
    score = stats[1:, cv2.CC_STAT_AREA] * np.where(cut, 1, 1 << 20)
    k = 1 + int(np.argmax(score))
    x, y, w, h = (int(v) for v in stats[k, :4])
    if w < 4 or h < 4:
        return None
    mask = lab[y:y + h, x:x + w] == k
    ln = np.where(mask, line[y:y + h, x:x + w], 255).astype(np.uint8)
    col = np.where(mask[..., None], color[y:y + h, x:x + w], 255).astype(np.uint8)
    return Drawing(ln, col, mask)


def _place(canvas_line, canvas_color, canvas_mask, d: Drawing, M: np.ndarray) -> np.ndarray:
    """Warp drawing ``d`` by ``M`` (2 x 3) onto the canvases (in place); its mask."""
    H, W = canvas_line.shape
    mask = cv2.warpAffine(d.mask.astype(np.uint8), M, (W, H), flags=cv2.INTER_NEAREST) > 0
    # coverage >= 1/4: a thin line drawn smaller stays closed (>= 1/2 breaks it up)
    ink = cv2.warpAffine(255 - d.line, M, (W, H), flags=cv2.INTER_LINEAR) >= 64
    col = cv2.warpAffine(d.color, M, (W, H), flags=cv2.INTER_NEAREST)
    canvas_color[mask] = col[mask]
    canvas_line[mask] = 255
    canvas_line[mask & ink] = 0
    canvas_mask |= mask
    return mask


def _affine(d: Drawing, scale: float, angle: float, center) -> np.ndarray:
    h, w = d.mask.shape
    M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
    M[:, 2] += np.asarray(center, np.float64) - ((w - 1) / 2, (h - 1) / 2)
    return M


def make_series(main: Drawing, other: Drawing, family: str, size: int, n: int,
                rng: np.random.Generator) -> list[dict]:
    """``n`` panels (``size`` px) of drawing ``main``: panel 0 at scale 1, upright; the
    others at scales 0.5-1.5, anywhere it fits, turned up to +-20 degrees (``rotate*``
    families), with ``other`` (smaller) in the free corner and, ``rotate_occlude``, a
    white-filled outlined ellipse over part of ``main``. Per panel: ``line``, ``color``
    (ground truth, ink laid), ``drawing`` (the visible pixels of ``main``)."""
    if family not in SERIES_FAMILIES:
        raise InvalidInputError(f"family must be one of {SERIES_FAMILIES}, got {family!r}")
    base = 0.4 * size / max(main.mask.shape)
    small = 0.22 * size / max(other.mask.shape)
    out = []
    for i in range(n):
        line = np.full((size, size), 255, np.uint8)
        color = np.full((size, size, 3), 255, np.uint8)
        mask = np.zeros((size, size), bool)
        s = 1.0 if i == 0 else float(rng.uniform(0.5, 1.5))
        a = 0.0 if i == 0 or family == "translate_scale" else float(rng.uniform(-20, 20))
        half = 0.5 * s * base * np.hypot(*main.mask.shape)
        lo, hi = half + 1, size - half - 2
        c = (size / 2, size / 2) if i == 0 or lo >= hi else tuple(rng.uniform(lo, hi, 2))
        # the other drawing in the corner farthest from the main one
        corner = (size * (0.85 if c[0] < size / 2 else 0.15),
                  size * (0.85 if c[1] < size / 2 else 0.15))
        other_mask = np.zeros_like(mask)
        _place(line, color, other_mask, other, _affine(other, small, 0.0, corner))
        drawing = _place(line, color, mask, main, _affine(main, s * base, a, c))
        if family == "rotate_occlude" and i > 0:
            ys, xs = np.nonzero(drawing)
            if len(xs):
                k = int(rng.integers(len(xs)))
                r = 0.35 * s * base * max(main.mask.shape)
                axes = tuple(max(3, int(r * rng.uniform(0.5, 1.0))) for _ in range(2))
                box = ((int(xs[k]), int(ys[k])), axes, float(rng.uniform(0, 180)), 0, 360)
                occ = np.zeros_like(line)
                cv2.ellipse(occ, *box, 255, -1)
                occ = occ > 0
                line[occ], color[occ] = 255, 255
                cv2.ellipse(line, *box, 0, 1)
                drawing &= ~occ
        color[line < 128] = 0
        out.append({"line": line, "color": color, "drawing": drawing & (line >= 128)})
    return out


def series_correct_area(image: np.ndarray, panel: dict, threshold: float = 5.0):
    """(correct, total): the paper area of the drawing's regions (``find_regions`` of
    the panel's line art; a region belongs to the drawing when most of its paper is
    visible drawing) whose median color in ``image`` is within CIEDE2000 ``threshold``
    of its ground-truth median color."""
    from .flats import find_regions
    from .series import region_medians
    line = panel["line"]
    labels = find_regions(line)
    ink = line < 128
    n = int(labels.max()) + 1
    paper_area = np.bincount(labels[~ink], minlength=n)
    in_drawing = np.bincount(labels[panel["drawing"]], minlength=n)
    mine = (paper_area > 0) & (in_drawing * 2 > paper_area)
    if not mine.any():
        return 0, 0
    got = region_medians(labels, image, ink)[mine]
    want = region_medians(labels, panel["color"], ink)[mine]
    ok = ciede2000(rgb_to_lab(got), rgb_to_lab(want)) < threshold
    return int(paper_area[mine][ok].sum()), int(paper_area[mine].sum())


def series_drawings(panels, limit: int | None = None) -> list[Drawing]:
    """One drawing per panel of a ``PanelSet`` (panels without one, or only one smaller
    than a quarter of the panel, skipped)."""
    out = []
    for i in range(len(panels)):
        d = panel_drawing(panels.line[i], panels.color[i], panels.background[i])
        if d is not None and max(d.mask.shape) >= panels.size / 4:
            out.append(d)
        if limit is not None and len(out) >= limit:
            break
    return out


def evaluate_series(pipe, drawings: list[Drawing], size: int, n_panels: int = 4,
                    seed: int = 0, families=SERIES_FAMILIES, progress: bool = False,
                    figure_colors: str = "auto",
                    prior_saturation: float = PRIOR_SATURATION) -> dict:
    """Per family: the share of the drawing's region area in panels 2..N colored within
    CIEDE2000 < 5 of the truth, with ``colorize_series`` (reference: panel 1's ground
    truth) and with every panel colored on its own; ms per panel of the matching.
    ``figure_colors``, ``prior_saturation``: as the pipeline's (step 3b)."""
    if n_panels < 2:
        raise InvalidInputError(f"a series needs at least 2 panels, got {n_panels}")
    if len(drawings) < 2:
        raise InvalidInputError("the series eval needs at least 2 drawings")
    from .series import prepare_reference
    colors = dict(figure_colors=figure_colors, prior_saturation=prior_saturation)
    mode = pipe.resolve_figure_colors(figure_colors, prior_saturation)
    fam = {}
    work = [(f, k) for f in families for k in range(len(drawings))]
    if progress:
        from tqdm import tqdm
        work = tqdm(work, desc="eval --series", unit="series")
    acc = {f: {"series": [0, 0], "independent": [0, 0], "ms": [], "matched": [0, 0]}
           for f in families}
    for f, k in work:
        rng = np.random.default_rng([seed, SERIES_FAMILIES.index(f), k])
        other = drawings[(k + 1 + int(rng.integers(len(drawings) - 1))) % len(drawings)]
        panels = make_series(drawings[k], other, f, size, n_panels, rng)
        s0 = seed + k * n_panels
        t0 = time.perf_counter()
        prepare_reference(panels[0]["color"])      # what colorize_series does with it
        t_ref = time.perf_counter() - t0
        res = pipe.colorize_series([p["line"] for p in panels[1:]],
                                   reference=panels[0]["color"], seed=s0,
                                   extract_outline=False, **colors)
        a = acc[f]
        for i, (p, r) in enumerate(zip(panels[1:], res)):
            c, t = series_correct_area(r.image, p)
            a["series"][0] += c
            a["series"][1] += t
            ind = pipe(p["line"], seed=s0 + i, extract_outline=False, **colors)
            c, t = series_correct_area(ind.image, p)
            a["independent"][0] += c
            a["independent"][1] += t
            a["ms"].append(1000 * (r.extras["timings"]["series"] + t_ref / len(res)))
    for f in families:
        a = acc[f]
        fam[f] = {
            "series_correct_share": a["series"][0] / a["series"][1] if a["series"][1] else None,
            "independent_correct_share": (a["independent"][0] / a["independent"][1]
                                          if a["independent"][1] else None),
            "drawing_area": a["series"][1],
            "ms_per_panel_matching": _mean(a["ms"]),
        }
    targets = {"translate_scale": 0.95, "rotate_occlude": 0.80}
    return {
        "series": len(drawings), "panels_per_series": n_panels, "size": size, "seed": seed,
        "threshold_ciede2000": 5.0, "families": fam, "backend": pipe.backend.name,
        "figure_colors": mode, "prior_saturation": prior_saturation,
        "targets": {f"{f}_at_least_{t}": (None if fam.get(f, {}).get("series_correct_share")
                                          is None else bool(fam[f]["series_correct_share"] >= t))
                    for f, t in targets.items() if f in fam},
    }


def format_series_table(r: dict) -> str:
    lines = [f"fastcolor eval --series: {r['series']} series of {r['panels_per_series']} "
             f"panels ({r['size']} px), backend {r['backend']}, seed {r['seed']}, figure "
             f"colors {r.get('figure_colors', 'sample')}",
             "share of the drawing's region area in panels 2..N within CIEDE2000 < 5",
             f"  {'family':18s} {'series':>8s} {'independent':>12s} {'ms/panel':>9s}"]
    for f, v in r["families"].items():
        lines.append(f"  {f:18s} {_fmt(v['series_correct_share']):>8s} "
                     f"{_fmt(v['independent_correct_share']):>12s} "
                     f"{_fmt(v['ms_per_panel_matching'], 2):>9s}")
    lines.append("targets            " + ", ".join(f"{k}: {v}" for k, v in r["targets"].items()))
    return "\n".join(lines)


def run_series_eval(weights=None, data=None, split: str = "val", limit: int | None = None,
                    backend: str = "auto", seed: int = 0, n_panels: int = 4,
                    progress: bool = False, figure_colors: str = "auto",
                    prior_saturation: float = PRIOR_SATURATION) -> dict:
    """``fastcolor eval --series``: one series per drawing of the cache's split."""
    from .data.cache import load_split
    from .pipeline import Pipeline
    if data is None:
        raise InvalidInputError("--series needs --data DIR (a fastcolor data cache)")
    panels = load_split(data, split)
    drawings = series_drawings(panels, limit if limit is not None else 20)
    pipe = Pipeline.from_pretrained(weights, backend=backend)
    result = evaluate_series(pipe, drawings, panels.size, n_panels, seed, progress=progress,
                             figure_colors=figure_colors, prior_saturation=prior_saturation)
    result["weights_sha256"] = pipe.weights_sha256
    result["source"], result["split"] = str(data), split
    return result
