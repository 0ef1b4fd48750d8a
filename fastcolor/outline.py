"""Outline (line art) extraction.

As in *Consistent Comic Colorization with Pixel-wise Background Classification*,
the outline of a colored or shaded page is its Canny edges joined (OR) with its
dark pixels. A page that already is a clean line drawing is used as it is.

Outlines returned by :func:`extract` are what a person sees: uint8 ``(H, W)``,
black ink (0) on white paper (255). :func:`to_ink` turns one into the model's
convention, float32 in [0, 1] with 1 = ink.
"""

from __future__ import annotations

from typing import Union

import cv2
import numpy as np

from fastcolor.errors import InvalidInputError
from fastcolor.imageio import ImageSource, load_image, to_gray01, to_rgb01, to_uint8

__all__ = ["extract", "extract_with_info", "ink_colors", "is_line_art", "normalize_paper",
           "order_statistic", "to_ink"]

# is_line_art thresholds, in [0, 1] units.
_MAX_CHROMA = 0.06  # largest (max channel - min channel) of an achromatic drawing
_PAPER = 0.85  # gray >= this is paper
_DARK = 0.15  # gray <= this is ink core; in between is a mid-tone
_MIN_PAPER_FRACTION = 0.5
_MID_FRACTION_FLOOR = 0.02
_MID_PER_DARK = 2.0


def is_line_art(image: ImageSource) -> bool:
    """Whether ``image`` (anything :func:`~fastcolor.imageio.load_image` takes) is a
    clean line drawing that can be used as an outline as it is.

    Rule, on the RGB in [0, 1] composited over white and its BT.601 gray:

    1. achromatic: ``max over pixels of (max channel - min channel) <= 0.06``;
    2. mostly paper: at least half of the pixels have ``gray >= 0.85``;
    3. few mid-tones: the fraction of pixels with ``0.15 < gray < 0.85`` is at most
       ``max(0.02, 2 * fraction of dark pixels (gray <= 0.15))`` -- anti-aliased
       lines have about as many mid-tone edge pixels as dark core pixels, while
       gray shading, screentones and photos have far more.

    Colored pages, shaded or screentoned pages and photos give False.
    """
    arr = load_image(image)
    if arr.ndim == 2 and arr.dtype == np.uint8:       # counted on the histogram, no copy
        hist = np.bincount(arr.ravel(), minlength=256)
        levels = np.arange(256, dtype=np.float32) / np.float32(255)
        n_paper, n_dark = int(hist[levels >= _PAPER].sum()), int(hist[levels <= _DARK].sum())
        size = arr.size
    else:
        if arr.ndim == 3:
            rgb = to_rgb01(arr)
            if float((rgb.max(axis=2) - rgb.min(axis=2)).max()) > _MAX_CHROMA:
                return False
        gray = to_gray01(arr)
        n_paper = int(np.count_nonzero(gray >= _PAPER))
        n_dark = int(np.count_nonzero(gray <= _DARK))
        size = gray.size
    if n_paper < _MIN_PAPER_FRACTION * size:
        return False
    n_mid = size - n_paper - n_dark
    return n_mid <= max(_MID_FRACTION_FLOOR * size, _MID_PER_DARK * n_dark)


# normalize_paper
_CHROMA_PIXEL = 0.15    # a pixel this far from gray (after white balance) is colored ...
_CHROMA_SHARE = 0.001   # ... and a page with more than this share of them is a color page
_MIN_RANGE = 24 / 255   # paper-to-ink contrast below which nothing is stretched
_KNEE = 0.9             # after stretching, grays above this are paper (scan noise)
_MAX_LINE_SHARE = 0.5   # colored line art: its colored pixels at most this share ...
_MAX_FILL_SHARE = 0.05  # ... and under this share of them survive an opening (no fills)


_BAND = 256             # rows per band: full-page float temporaries stay bounded


def _bands(height: int):
    return (slice(y, min(height, y + _BAND)) for y in range(0, height, _BAND))


def _paper_color(arr: np.ndarray) -> np.ndarray:
    """The paper's RGB in [0, 1]: the per-channel median over a grid of at most ~1 M
    pixels (the paper is most of a page)."""
    step = max(1, int(np.sqrt(arr.shape[0] * arr.shape[1] / 2 ** 20)))
    return np.median(to_rgb01(np.ascontiguousarray(arr[::step, ::step])).reshape(-1, 3), axis=0)


def _colored_mask(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of an RGB(A) page, once the paper's tint is divided out: which pixels are colored
    (chroma > 0.15; bool ``(H, W)``) and the ink strength's gray (the darkest channel,
    uint8 ``(H, W)``: 255 = paper, dark where any channel is dark), band by band."""
    paper = np.maximum(_paper_color(arr), 1e-3)[None, None, :]
    mask = np.empty(arr.shape[:2], bool)
    darkest = np.empty(arr.shape[:2], np.uint8)
    for rows in _bands(arr.shape[0]):
        rgb = np.clip(to_rgb01(arr[rows]) / paper, 0, 1)
        low = rgb.min(axis=2)
        mask[rows] = rgb.max(axis=2) - low > _CHROMA_PIXEL
        darkest[rows] = to_uint8(low)
    return mask, darkest


def _only_lines(mask: np.ndarray) -> bool:
    """Whether the colored pixels ``mask`` are lines, not fills: at most half the page,
    and an opening by a square of ``max(7, min(H, W) / 100)`` px (odd) keeps under 5 %
    of them (a stroke up to that wide vanishes, a colored area stays)."""
    count = int(np.count_nonzero(mask))
    if count == 0 or count > _MAX_LINE_SHARE * mask.size:
        return False
    k = max(7, min(mask.shape) // 100) | 1
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    return int(np.count_nonzero(opened)) < _MAX_FILL_SHARE * count


def _gray8(arr: np.ndarray) -> np.ndarray:
    """The 8-bit BT.601 gray of any accepted image (a uint8 gray page as it is),
    converted band by band."""
    if arr.ndim == 2 and arr.dtype == np.uint8:
        return arr
    out = np.empty(arr.shape[:2], np.uint8)
    for rows in _bands(arr.shape[0]):
        out[rows] = to_uint8(to_gray01(arr[rows]))
    return out


def normalize_paper(image: ImageSource) -> tuple[np.ndarray | None, dict]:
    """An achromatic page (line art, scan, pencil sketch) on clean white paper.

    Returns ``(gray, info)``: ``gray`` uint8 ``(H, W)`` (0 = ink, 255 = paper), or None
    for a color page (more than 0.1% of pixels at chroma > 0.15 once the paper's tint is
    divided out, and those pixels not only lines). Line art drawn in colored ink (its
    colored pixels at most half the page and thin: an opening by a square of
    ``max(7, min(H, W) / 100)`` px keeps under 5 % of them) is line art: its gray is the
    darkest channel (``colored_lines`` True; :func:`ink_colors` gives the ink's color,
    which the pipeline draws the lines in).
    ``info``: ``inverted`` (white lines on a dark page were turned into dark lines on
    paper: the median is dark and the page has light pixels), ``paper`` and ``ink`` (the
    gray levels found: median and 0.1th percentile), ``stretched`` (the levels were
    stretched so paper is 1 and the darkest lines 0, grays above ``0.9`` then count as
    paper: gray, yellowed or noisy scans, light pencil). A page that already has white
    paper and black lines is returned as its 8-bit gray, unchanged (a uint8 gray page:
    the same array, not copied). Levels are exact order statistics of the 8-bit gray's
    histogram (the median: the lower middle value)."""
    arr = load_image(image)
    info = {"inverted": False, "stretched": False, "colored_lines": False}
    gray = None
    if arr.ndim == 3:
        colored, darkest = _colored_mask(arr)
        if np.count_nonzero(colored) > _CHROMA_SHARE * colored.size:
            if not _only_lines(colored):
                return None, info
            gray, info["colored_lines"] = darkest, True     # line art drawn in color
    if gray is None:
        gray = _gray8(arr)
    hist = np.bincount(gray.ravel(), minlength=256)
    median, ink = order_statistic(hist, 0.5), order_statistic(hist, 0.001)
    if median < 128 and hist[129:].sum() > 0.001 * gray.size:
        gray = 255 - gray
        hist = hist[::-1]
        median, ink = order_statistic(hist, 0.5), order_statistic(hist, 0.001)
        info["inverted"] = True
    info.update(paper=median / 255, ink=ink / 255)
    if median >= 250 and ink <= 5 or (median - ink) / 255 < _MIN_RANGE:
        return gray, info
    lut = np.clip((np.arange(256) - ink) / (median - ink) / _KNEE, 0, 1)
    info["stretched"] = True
    return np.rint(lut * 255).astype(np.uint8)[gray], info


def ink_colors(image: ImageSource, outline: np.ndarray) -> np.ndarray:
    """The color of the ink of line art drawn in colored ink: uint8 ``(H, W, 3)``. Each
    pixel is taken as ink of color ``c`` over white paper with coverage ``a = 1 -
    outline / 255`` (``outline``: its gray from :func:`extract_with_info`), so ``c = 255 -
    (255 - rgb) / a`` (``a`` at least 0.25: paper and faint edges keep their own color,
    which the composite then barely shows). Composing ``flats * outline / 255 + c * (1 -
    outline / 255)`` redraws the lines in their color over any flats; black ink gives
    black."""
    arr = load_image(image)
    out = np.empty(arr.shape[:2] + (3,), np.uint8)
    for rows in _bands(arr.shape[0]):
        rgb = to_rgb01(arr[rows])
        a = np.maximum(1 - outline[rows].astype(np.float32) / 255, 0.25)[..., None]
        out[rows] = to_uint8(np.clip(1 - (1 - rgb) / a, 0, 1))
    return out


def order_statistic(hist: np.ndarray, q: float) -> int:
    """The ``q``-th order statistic of a histogram: the smallest level with more than
    ``floor(q * (N - 1))`` values at or below it."""
    k = int(q * (int(hist.sum()) - 1))
    return int(np.searchsorted(np.cumsum(hist), k, side="right"))


def extract(image: ImageSource, **kwargs) -> np.ndarray:
    """The outline of ``image``: uint8 ``(H, W)``, ink 0 on paper 255; see
    :func:`extract_with_info` (the arguments, the rules)."""
    return extract_with_info(image, **kwargs)[0]


def extract_with_info(
    image: ImageSource,
    *,
    canny_low: float = 50,
    canny_high: float = 150,
    dark_threshold: float = 0.35,
    line_art: Union[bool, str] = "auto",
) -> tuple[np.ndarray, dict]:
    """The outline of ``image``: uint8 ``(H, W)``, ink 0 on paper 255, and what was done
    to get it: ``{"source": "line_art" | "shaded" | "extracted", "inverted": bool, "stretched":
    bool, ...}`` (see :func:`normalize_paper`).

    With ``line_art="auto"`` an achromatic page is put on clean paper
    (:func:`normalize_paper`: white-on-black art inverted, gray/yellowed/noisy scans and
    light pencil stretched so paper is white and lines dark) and that gray is the
    outline, so a pencil stroke or a soft scanned line stays one stroke instead of the
    two edges Canny would find; ``source`` says ``line_art`` when it is a clean drawing
    (:func:`is_line_art`), ``shaded`` when it has gray fills or screentones (kept: the
    flats take what is dark enough as ink, the rest is colored and the tones lie over
    it). Only a color page is extracted.

    Args:
        image: anything :func:`~fastcolor.imageio.load_image` takes (path, PIL
            image, numpy gray/RGB/RGBA uint8/uint16/float in [0, 1]).
        canny_low, canny_high: hysteresis thresholds of ``cv2.Canny`` (8-bit
            gradient units, ``0 <= canny_low <= canny_high``).
        dark_threshold: pixels whose gray (BT.601, in [0, 1]) is below this are ink.
        line_art: True: the input is a line drawing, return its 8-bit gray as it
            is; False: always extract; "auto": decide with :func:`is_line_art`.

    Returns:
        ``(outline, info)``. For a line drawing, its 8-bit gray (a clean uint8 gray drawing passes
        through bit for bit). Otherwise the extracted outline, values only 0 and
        255: the 8-bit RGB image (alpha composited over white, 16-bit reduced to
        8 bits) is smoothed with a 3x3 Gaussian (suppresses JPEG noise and fine
        screentone dots), ``cv2.Canny`` runs on each channel (so a boundary
        between two colors of equal luminance is found), the edge maps are ORed,
        and ORed with the dark pixels.

    Raises:
        InvalidImageError / ImageTooLargeError: the image cannot be used.
        InvalidInputError: a parameter is out of range.
    """
    if not (0 <= canny_low <= canny_high):
        raise InvalidInputError(
            f"need 0 <= canny_low <= canny_high, got canny_low={canny_low}, canny_high={canny_high}"
        )
    if not (0.0 <= dark_threshold <= 1.0):
        raise InvalidInputError(f"dark_threshold must lie in [0, 1], got {dark_threshold}")
    if line_art not in (True, False, "auto") or not isinstance(line_art, (bool, str)):
        raise InvalidInputError(f"line_art must be True, False or 'auto', got {line_art!r}")

    arr = load_image(image)
    if line_art is True:
        return _gray8(arr), {"source": "line_art", "inverted": False, "stretched": False}
    info = {"inverted": False, "stretched": False}
    if line_art == "auto":
        gray, info = normalize_paper(arr)
        if gray is not None:
            # achromatic: its gray on clean paper is the outline. A shaded or screentoned
            # page keeps its tones ("shaded"): they are ink or paper by the flats' own
            # threshold and lie over the colors like a colorist's multiplied line layer;
            # Canny would outline both sides of every soft line (two thin lines with a
            # colored ring between) and every screentone dot.
            return gray, {"source": "line_art" if is_line_art(gray) else "shaded", **info}
    info["source"] = "extracted"

    ink = np.empty(arr.shape[:2], bool)
    rgb8 = np.empty(arr.shape[:2] + (3,), np.uint8)
    for rows in _bands(arr.shape[0]):                  # bounded float temporaries
        ink[rows] = to_gray01(arr[rows]) < dark_threshold
        rgb8[rows] = arr[rows] if arr.dtype == np.uint8 and arr.ndim == 3 and \
            arr.shape[2] == 3 else to_uint8(to_rgb01(arr[rows]))
    smooth = cv2.GaussianBlur(rgb8, (3, 3), 0)
    del rgb8
    for c in range(3):
        ink |= cv2.Canny(np.ascontiguousarray(smooth[:, :, c]), canny_low, canny_high) > 0
    return np.where(ink, np.uint8(0), np.uint8(255)), info


def to_ink(outline: np.ndarray) -> np.ndarray:
    """Model-side outline: float32 ``(H, W)`` in [0, 1], 1 = ink, i.e.
    ``1 - outline / 255`` for a uint8 ``(H, W)`` outline from :func:`extract`.

    Raises:
        InvalidInputError: ``outline`` is not a uint8 2-D numpy array.
    """
    if not isinstance(outline, np.ndarray) or outline.dtype != np.uint8 or outline.ndim != 2:
        desc = (
            f"dtype {outline.dtype}, shape {outline.shape}"
            if isinstance(outline, np.ndarray)
            else type(outline).__name__
        )
        raise InvalidInputError(f"to_ink expects a uint8 (H, W) outline from extract(), got {desc}")
    return np.float32(1) - outline.astype(np.float32) / np.float32(255)
