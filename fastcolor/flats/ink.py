"""The ink finder: which pixels of a line drawing are lines.

Input is the drawing's 8-bit gray, ``uint8 (H, W)``, 0 = black ink, 255 = paper (what
``fastcolor.outline.extract`` returns). :func:`line_art_gray` makes it from anything a
user has: gray, RGB, a transparent-background RGBA line layer (alpha is the ink: the
layer is laid over white paper first), 16-bit or float images.

The threshold adapts to the drawing, so anti-aliased, gray and pencil lines, thick
black fills and hatching are found on white or on toned paper alike:

* paper level ``P`` = the median gray (a line drawing is mostly paper);
* ink level ``I`` = the 0.1th percentile of the gray (the darkest lines);
* a pixel is ink when ``gray < T`` with ``T = (2 P + I + 1) // 3``, a third of the way
  from paper to ink: thin lines drawn small (mostly anti-aliased gray) stay unbroken,
  and the fringe lighter than that stays paper and is colored;
* a drawing whose contrast ``P - I`` is under ``MIN_CONTRAST`` has no ink at all.

Percentiles are exact order statistics from the 256-bin histogram: the ``q``-th is the
smallest level ``v`` with more than ``floor(q * (N - 1))`` pixels ``<= v``. The C++ fast
path uses the same integer rule, so both find the same ink.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from ..imageio import ImageSource, load_image, to_gray01, to_uint8
from ..outline import order_statistic

__all__ = ["MIN_CONTRAST", "ink_threshold", "find_ink", "line_art_gray"]

MIN_CONTRAST = 24  # gray levels between paper and the darkest lines, below: no ink
_PAPER_Q = 0.5
_INK_Q = 0.001


def line_art_gray(image: ImageSource) -> np.ndarray:
    """The 8-bit gray of a line drawing: ``uint8 (H, W)``, 0 = ink, 255 = paper.

    A uint8 gray array passes through as it is (not copied); RGB is reduced to BT.601
    luminance; RGBA (a line layer on transparency) is composited over white first."""
    arr = load_image(image)
    if arr.ndim == 2 and arr.dtype == np.uint8:
        return arr
    return to_uint8(to_gray01(arr))


def _check_gray(gray) -> np.ndarray:
    if not isinstance(gray, np.ndarray) or gray.dtype != np.uint8 or gray.ndim != 2:
        desc = f"{gray.dtype} {gray.shape}" if isinstance(gray, np.ndarray) else type(gray).__name__
        raise InvalidInputError(
            f"flats take the line art's 8-bit gray, uint8 (H, W) with 0 = ink, got {desc} "
            "(fastcolor.flats.line_art_gray converts any image)")
    if gray.size == 0:
        raise InvalidInputError(f"line art has 0 pixels: {gray.shape}")
    return gray


def ink_threshold(gray: np.ndarray) -> int:
    """The gray level ``T`` below which a pixel of ``gray`` is ink (0: no ink at all)."""
    gray = _check_gray(gray)
    hist = np.bincount(gray.ravel(), minlength=256)
    paper = order_statistic(hist, _PAPER_Q)
    ink = order_statistic(hist, _INK_Q)
    if paper - ink < MIN_CONTRAST:
        return 0
    return (2 * paper + ink + 1) // 3


def find_ink(gray: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """Ink mask ``bool (H, W)`` of the line art's gray: ``gray < threshold``
    (``threshold`` None: :func:`ink_threshold`; 0..256)."""
    gray = _check_gray(gray)
    if threshold is None:
        threshold = ink_threshold(gray)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) \
            or not 0 <= threshold <= 256:
        raise InvalidInputError(f"ink threshold must be an integer gray level 0..256, got {threshold!r}")
    return gray < int(threshold)
