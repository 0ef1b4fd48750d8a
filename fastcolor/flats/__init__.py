"""Flats: every closed region of the line art one clean color, at the page's own size.

::

    gray = fastcolor.flats.line_art_gray("page.png")        # uint8 (H, W), 0 = ink
    labels = fastcolor.flats.find_regions(gray)              # int32 (H, W), 0..n-1
    colors = fastcolor.flats.region_colors(labels, ...)      # one RGB per region

``find_regions`` has a pure NumPy/OpenCV reference (``fastcolor.flats.reference``, the
truth; its module doc states the steps) and a C++ fast path (``fastcolor._C``); the
library's one dispatcher (``fastcolor.ops.kernel_mode``: ``"auto"`` takes C++ when the
extension is built, ``"reference"`` / ``"cpp"`` force one) picks between them. Both give
the same labels, label for label.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InvalidInputError
from ..ops.dispatch import use_cpp
from .colors import (compose, hint_region_colors, paint_regions, region_colors,
                     region_is_background)
from .ink import MIN_CONTRAST, find_ink, ink_threshold, line_art_gray
from .reference import flat_regions_reference

__all__ = ["MIN_CONTRAST", "compose", "default_gap", "default_min_area", "find_ink",
           "find_regions", "hint_region_colors", "ink_threshold", "line_art_gray",
           "paint_regions", "region_colors", "region_is_background"]


def default_gap(height: int, width: int) -> int:
    """The largest line gap closed by default: 4 px up to 1200 px, then growing with
    the page's *shorter* side (about 1/300 of it: 6 px on an A4 page at 200 dpi, 14 at
    4096 x 4096). The shorter side, because a webtoon strip 800 px wide and 20000 px
    tall is drawn like an 800 px page (its longer side would ask for 67 px gaps)."""
    return max(4, round(min(height, width) / 300))


def default_min_area(height: int, width: int) -> int:
    """Regions with fewer paper pixels are merged into a neighbour: 16 px up to a short
    side of 800 px, then (short side)^2 / 40000 (419 px at 4096 x 4096; 16 on an
    800 x 20000 strip, whose panels are 800 px wide)."""
    return max(16, round(min(height, width) ** 2 / 40000))


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def find_regions(gray: np.ndarray, *, gap: int | None = None, min_area: int | None = None,
                 threshold: int | None = None) -> np.ndarray:
    """Flat regions of a line drawing.

    Args:
        gray: the line art's 8-bit gray, uint8 ``(H, W)``, 0 = ink, 255 = paper (any
            image: :func:`line_art_gray`).
        gap: lines broken by up to this many pixels are closed where they end (0: no
            closing; None: :func:`default_gap`).
        min_area: regions with fewer paper pixels are merged into the neighbour they
            share the longest border with (None: :func:`default_min_area`; 0 or 1 keeps
            every region).
        threshold: gray levels below it are ink (None: :func:`ink_threshold`).

    Returns:
        int32 ``(H, W)`` labels ``0..n-1`` numbered in raster order of each region's first
        pixel. Every pixel, ink included, is in exactly one 4-connected region; ink takes
        the region it borders (fills meet under the middle of a line).
    """
    gray = np.ascontiguousarray(line_art_gray(gray) if not isinstance(gray, np.ndarray)
                                or gray.dtype != np.uint8 or gray.ndim != 2 else gray)
    h, w = gray.shape
    if h == 0 or w == 0:
        raise InvalidInputError(f"line art has 0 pixels: {gray.shape}")
    gap = default_gap(h, w) if gap is None else _check_int("gap", gap, 0)
    min_area = default_min_area(h, w) if min_area is None else _check_int("min_area", min_area, 0)
    if threshold is None:
        threshold = ink_threshold(gray)
    threshold = _check_int("threshold", threshold, 0)
    if threshold > 256:
        raise InvalidInputError(f"threshold must be a gray level 0..256, got {threshold}")
    if use_cpp("flat_regions"):
        from ..generation.cpp import load_extension
        return np.asarray(load_extension().flat_regions(gray, gap, min_area, threshold))
    return flat_regions_reference(gray, gap, min_area, threshold)
