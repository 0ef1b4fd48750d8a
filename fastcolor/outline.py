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

__all__ = ["extract", "extract_with_info", "is_line_art", "normalize_paper", "to_ink"]

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
    if arr.ndim == 3:
        rgb = to_rgb01(arr)
        if float((rgb.max(axis=2) - rgb.min(axis=2)).max()) > _MAX_CHROMA:
            return False
    gray = to_gray01(arr)
    n_paper = int(np.count_nonzero(gray >= _PAPER))
    if n_paper < _MIN_PAPER_FRACTION * gray.size:
        return False
    n_dark = int(np.count_nonzero(gray <= _DARK))
    n_mid = gray.size - n_paper - n_dark
    return n_mid <= max(_MID_FRACTION_FLOOR * gray.size, _MID_PER_DARK * n_dark)


# normalize_paper
_CHROMA_PIXEL = 0.15    # a pixel this far from gray (after white balance) is colored ...
_CHROMA_SHARE = 0.001   # ... and a page with more than this share of them is a color page
_MIN_RANGE = 24 / 255   # paper-to-ink contrast below which nothing is stretched
_KNEE = 0.9             # after stretching, grays above this are paper (scan noise)


def _white_balanced(rgb: np.ndarray) -> np.ndarray:
    """RGB divided by the paper's color (the per-channel median), so yellowed or tinted
    paper becomes white."""
    paper = np.median(rgb.reshape(-1, 3), axis=0)
    return np.clip(rgb / np.maximum(paper, 1e-3)[None, None, :], 0, 1)


def normalize_paper(image: ImageSource) -> tuple[np.ndarray | None, dict]:
    """An achromatic page (line art, scan, pencil sketch) on clean white paper.

    Returns ``(gray, info)``: ``gray`` float32 ``(H, W)`` in [0, 1], or None for a color
    page (more than 0.1% of pixels at chroma > 0.15 once the paper's tint is divided out).
    ``info``: ``inverted`` (white lines on a dark page were turned into dark lines on
    paper: the median is dark and the page has light pixels), ``paper`` and ``ink`` (the
    gray levels found: median and 0.1th percentile), ``stretched`` (the levels were
    stretched so paper is 1 and the darkest lines 0, grays above ``0.9`` then count as
    paper: gray, yellowed or noisy scans, light pencil). A page that already has white
    paper and black lines is returned as its gray, unchanged."""
    arr = load_image(image)
    info = {"inverted": False, "stretched": False}
    if arr.ndim == 3:
        rgb = _white_balanced(to_rgb01(arr))
        chroma = rgb.max(axis=2) - rgb.min(axis=2)
        if np.count_nonzero(chroma > _CHROMA_PIXEL) > _CHROMA_SHARE * chroma.size:
            return None, info
    gray = to_gray01(arr)
    median = float(np.median(gray))
    if median < 0.5 and np.count_nonzero(gray > 0.5) > 0.001 * gray.size:
        gray = 1.0 - gray
        median = 1.0 - median
        info["inverted"] = True
    ink = float(np.quantile(gray, 0.001))
    info.update(paper=median, ink=ink)
    if median >= 250 / 255 and ink <= 5 / 255 or median - ink < _MIN_RANGE:
        return gray, info
    stretched = np.clip((gray - ink) / (median - ink) / _KNEE, 0, 1).astype(np.float32)
    info["stretched"] = True
    return stretched, info


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
    to get it: ``{"source": "line_art" | "extracted", "inverted": bool, "stretched":
    bool, ...}`` (see :func:`normalize_paper`).

    With ``line_art="auto"`` an achromatic page is first put on clean paper
    (:func:`normalize_paper`: white-on-black art inverted, gray/yellowed/noisy scans and
    light pencil stretched so paper is white and lines dark); if the result is line art
    (:func:`is_line_art`), it is the outline, so a pencil stroke stays one stroke instead
    of the two edges Canny would find.

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
        return to_uint8(to_gray01(arr)), {"source": "line_art", "inverted": False,
                                          "stretched": False}
    info = {"inverted": False, "stretched": False}
    if line_art == "auto":
        gray, info = normalize_paper(arr)
        if gray is not None and is_line_art(gray):
            return to_uint8(gray), {"source": "line_art", **info}
        if gray is not None and (info["inverted"] or info["stretched"]):
            arr = gray                 # a shaded scan: extract from it on clean paper
    info["source"] = "extracted"

    rgb8 = to_uint8(to_rgb01(arr))
    smooth = cv2.GaussianBlur(rgb8, (3, 3), 0)
    ink = to_gray01(arr) < dark_threshold
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
