"""Panels: where the panels of a page are, and how a panel is cut into model-sized tiles.

A page is colored panel by panel, each letterboxed into the model's square, instead of
squashing a whole page or a tall strip into one square (issue 10, "Panels and strips")::

    gray = fastcolor.flats.line_art_gray(page)           # uint8 (H, W), 0 = ink, 255 = paper
    for box in find_panels(gray):                        # reading order, never overlapping
        tiles = tile_box(box)                            # >= 1 tiles, aspect <= 1.5
        weights = blend_weights(box, tiles)              # float32 per tile, sum 1 over box
        ...  # color gray[tile.slice] per tile, out[box.slice] = sum of weight * color

**Panels** (:func:`find_panels`) are found by a recursive XY-cut over paper gutters, the
way comic panel extractors do it:

* **paper** is ``gray >= paper_level``; by default ``paper_level`` is the page's median
  gray (a comic page is mostly paper) minus :data:`PAPER_TOLERANCE`, so gray or noisy
  scanned paper still counts as paper;
* a **line** (row or column) of the current block is paper when at most
  ``max(2, 0.5 %)`` of its pixels are not paper, or when it is one of at most
  ``2 * speck`` lines whose dark pixels are all specks (8-connected components at most
  ``speck = max(4, min_gutter // 2)`` px both ways, covering at most 1 % of the lines:
  a screen tone is no specks): scan noise and dust in a gutter or margin do not hide
  the gutter or widen the panels;
* a **gutter** is an interior run of at least ``min_gutter`` paper lines that no 8-connected
  stroke crosses from one side to the other (a thin line through a gap in borderless art,
  or the side borders of an empty stretch inside a bordered panel, is not a gutter);
* a block is cut at every gutter across it, into rows (top to bottom) and, inside a row,
  into columns (left to right; right to left with ``rtl=True``); cuts alternate between
  the two directions until no gutter crosses a block. The paper margin at a block's ends
  is trimmed, so a panel hugs its border or its art, with ``pad`` pixels of paper kept
  around it (never past the middle of a gutter, so panels never overlap);
* **reading order** is the XY-cut's: rows of the page top to bottom, panels of a row left
  to right (or right to left), and inside a panel that is itself split (a tall panel
  beside two stacked ones), its parts in the same order, depth first;
* a block whose content box is under ``min_area`` pixels (a page number, a speck, a lone
  sound effect) is **dropped**: its pixels belong to no panel, like the gutters;
* a page always yields at least one panel: with no panel found (a blank page, or only
  specks) it is the whole page;
* **no frame, one picture**: when the cut finds several panels and not one of them is
  framed (a drawn border: on three of its four sides a row or column at least
  ``FRAME_INK`` ink within the outer ``FRAME_DEPTH`` of its box), the page is one
  picture, not panels: drawings on paper with white space between them (an
  illustration, a character sheet, a borderless panel crop) share one background and
  one sample, so the page is the whole page. Borderless panels beside framed ones (a
  webtoon alternating the two) are still cut;
* **a drawn box is no frame**: the framed boxes count as panel frames only when together
  (their bounding box) they reach across at least ``FRAME_SPAN`` of the page's width or
  height, as the frames of a page's panels do from margin to margin. A sign, a ticket,
  a card or a screen drawn among borderless drawings is framed too, but small: cut out
  as a panel it would take its own sample and background, and leave the page around it
  white paper.

Defaults scale with the page's *short* side, so a webtoon strip 800 px wide and 20000 px
tall is judged like an 800 px wide page (its gutters scale with its width, not its
length): ``min_gutter = max(8, round(min(H, W) / 120))`` (8 px up to a 960 px wide
page, 14 at A4 200 dpi, 21 at A4 300 dpi: printed gutters are 3-5 mm, 24-40 px at
200 dpi; ``examples/page_manga.png``'s gutters, 23 px of paper between 4 px borders,
are nearly three times the 8 px it gets, and 8 px keeps the gutters of the test
strips and grids found while a gap in art must be wider than that), ``pad = max(2,
min_gutter // 4)`` and ``min_area = (4 * min_gutter) ** 2`` (32 x 32 px at 8).

**Tiles** (:func:`tile_box`): a box far from square is cut along its long side into
tiles of the full short side and at most ``max_aspect`` times as long, evenly spread,
the first and last flush with the box's ends, consecutive tiles overlapping by at least
``overlap`` of the short side (at least 1 px). :func:`blend_weights` gives each tile
linear ramps across its overlaps that sum to exactly 1 at every pixel of the box.

Everything here is NumPy/OpenCV on the gray page: row and column sums of the paper mask
per block, no per-pixel Python loops (a 1654 x 2339 page or an 800 x 20000 strip takes a
few tens of milliseconds on 2 cores).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import InvalidInputError

__all__ = ["PAPER_TOLERANCE", "Box", "blend_weights", "default_min_gutter", "find_panels",
           "paper_level_of", "tile_box"]

PAPER_TOLERANCE = 32  # gray levels under the median that still count as paper
_LINE_INK_SHARE = 0.005  # share of a paper line's pixels that may be ink (specks, noise)
_LINE_INK_MIN = 2  # ... and at least this many pixels
_SPECK_SHARE = 0.01  # specks cover at most this share of their lines (not a screen tone)
_MEDIAN_SAMPLES = 1 << 20  # pixels the paper level's median reads at most
FRAME_DEPTH = 0.1  # a panel's frame lies within this share of its box from each side
FRAME_INK = 0.8  # ... as a line (row or column) at least this share ink
FRAME_SPAN = 0.75  # the framed boxes together span at least this share of the page one way


@dataclass(frozen=True)
class Box:
    """A rectangle of a page in pixels: rows ``top .. bottom - 1``, columns
    ``left .. right - 1`` (``height, width >= 1``). ``page[box.slice]`` is its pixels."""

    top: int
    left: int
    height: int
    width: int

    def __post_init__(self):
        for name in ("top", "left", "height", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise InvalidInputError(f"Box.{name} must be an int, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.top < 0 or self.left < 0 or self.height < 1 or self.width < 1:
            raise InvalidInputError(f"a Box needs top, left >= 0 and height, width >= 1: {self}")

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.top + self.height

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.left + self.width

    @property
    def area(self) -> int:
        return self.height * self.width

    @property
    def aspect(self) -> float:
        """Long side over short side (>= 1)."""
        return max(self.height, self.width) / min(self.height, self.width)

    @property
    def slice(self) -> tuple[slice, slice]:
        """``(rows, columns)`` slices: ``page[box.slice]`` is the box's ``(height, width)``
        pixels (any trailing channel axis kept)."""
        return slice(self.top, self.bottom), slice(self.left, self.right)


def default_min_gutter(height: int, width: int) -> int:
    """The narrowest gutter found by default: 8 px up to a 960 px short side, then
    1/120 of the page's short side (14 px on an A4 page at 200 dpi; 8 on an 800 px
    wide strip of any length)."""
    return max(8, round(min(height, width) / 120))


def paper_level_of(gray: np.ndarray) -> int:
    """The default paper level of ``gray`` (uint8 (H, W)): its median gray minus
    :data:`PAPER_TOLERANCE`, at least 0. Pixels ``>= level`` are paper. The median is
    exact up to 2^20 pixels; a larger page's is that of every k-th pixel of every k-th
    row (at most 2^20 of them), so its cost does not grow with the page."""
    gray = _check_gray(gray)
    step = max(1, math.ceil(math.sqrt(gray.size / _MEDIAN_SAMPLES)))
    sample = np.ascontiguousarray(gray[::step, ::step])
    hist = cv2.calcHist([sample], [0], None, [256], [0, 256]).ravel()
    median = int(np.searchsorted(np.cumsum(hist), (sample.size - 1) // 2, side="right"))
    return max(0, median - PAPER_TOLERANCE)


def _check_gray(gray) -> np.ndarray:
    if not isinstance(gray, np.ndarray) or gray.dtype != np.uint8 or gray.ndim != 2:
        desc = f"{gray.dtype} {gray.shape}" if isinstance(gray, np.ndarray) else type(gray).__name__
        raise InvalidInputError(
            f"panels are found in the line art's 8-bit gray, uint8 (H, W) with 0 = ink, got "
            f"{desc} (fastcolor.flats.line_art_gray converts any image)")
    if gray.size == 0:
        raise InvalidInputError(f"line art has 0 pixels: {gray.shape}")
    return gray


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidInputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def find_panels(gray: np.ndarray, *, min_gutter: int | None = None,
                paper_level: int | None = None, rtl: bool = False,
                min_area: int | None = None, pad: int | None = None) -> list[Box]:
    """The panels of a page, in reading order: a list of at least one :class:`Box`.

    ``gray``: the line art's ``uint8 (H, W)`` gray, 0 = ink, 255 = paper
    (:func:`fastcolor.flats.line_art_gray` makes it from any image).
    ``min_gutter``: the narrowest run of paper rows/columns that separates panels
    (default :func:`default_min_gutter`). ``paper_level``: 0..256, pixels ``>=`` it are
    paper (default :func:`paper_level_of`: the median gray minus 32). ``rtl``: panels of
    a row right to left (manga). ``min_area``: smaller content boxes are dropped
    (default ``(4 * min_gutter) ** 2``). ``pad``: paper kept around each panel's content
    (default ``max(2, min_gutter // 4)``, at most half the narrowest gutter).

    The boxes lie inside the page and never overlap; pixels in gutters, in the margin
    and in dropped specks belong to none. The rules are in this module's docstring."""
    gray = _check_gray(gray)
    height, width = gray.shape
    min_gutter = _positive_int("min_gutter", default_min_gutter(height, width)
                               if min_gutter is None else min_gutter)
    if paper_level is None:
        paper_level = paper_level_of(gray)
    paper_level = _positive_int("paper_level", paper_level, 0)
    if paper_level > 256:
        raise InvalidInputError(f"paper_level must be 0..256, got {paper_level}")
    min_area = _positive_int("min_area", (4 * min_gutter) ** 2 if min_area is None
                             else min_area)
    pad = _positive_int("pad", max(2, min_gutter // 4) if pad is None else pad, 0)
    pad = min(pad, min_gutter // 2)

    # 1 where a pixel is not paper: gray < paper_level, i.e. not gray > paper_level - 1
    _, ink = cv2.threshold(gray, paper_level - 1, 1, cv2.THRESH_BINARY_INV)
    cutter = _XYCut(ink, min_gutter, min_area, pad, rtl)
    cutter.split((0, height, 0, width), (0, height, 0, width), axis=0)
    panels = cutter.panels
    if len(panels) > 1 and not _frames_span_page([b for b in panels if _framed(ink, b)],
                                                 height, width):
        return [Box(0, 0, height, width)]       # one picture: drawings on paper, no frame
    return panels or [Box(0, 0, height, width)]


def _frames_span_page(framed: list[Box], height: int, width: int) -> bool:
    """Whether the framed boxes together (their bounding box) span at least
    ``FRAME_SPAN`` of the page's height or width: panel frames, not a box drawn in a
    picture."""
    if not framed:
        return False
    rows = max(b.bottom for b in framed) - min(b.top for b in framed)
    cols = max(b.right for b in framed) - min(b.left for b in framed)
    return rows >= FRAME_SPAN * height or cols >= FRAME_SPAN * width


def _framed(ink: np.ndarray, box: Box) -> bool:
    """Whether ``box`` holds a drawn panel frame: on at least three of its four sides,
    within the outer ``FRAME_DEPTH`` of the box, a line at least ``FRAME_INK`` ink."""
    view = ink[box.slice]
    h, w = view.shape
    dh, dw = max(3, int(FRAME_DEPTH * h)), max(3, int(FRAME_DEPTH * w))
    bands = ((view[:dh], 1), (view[-dh:], 1), (view[:, :dw], 0), (view[:, -dw:], 0))
    # the ink share of each row (top, bottom bands) / column (left, right bands)
    sides = sum(int((band.mean(axis=axis) >= FRAME_INK).any()) for band, axis in bands)
    return sides >= 3


class _XYCut:
    """The recursive cut of one page's ink mask (``uint8 (H, W)``, 1 = not paper).

    A block is ``(r0, r1, c0, c1)`` (half-open); its ``room`` is the part of the page it
    may pad into (up to the middle of the gutters around it; the rooms of two blocks
    never overlap)."""

    def __init__(self, ink, min_gutter, min_area, pad, rtl):
        self.ink, self.min_gutter, self.min_area = ink, min_gutter, min_area
        self.pad, self.rtl = pad, rtl
        self.speck = max(4, min_gutter // 2)
        self.panels: list[Box] = []

    def split(self, block, room, axis):
        for ax in (axis, 1 - axis):
            segments = self._segments(block, ax)
            if not segments:
                return  # all paper
            if len(segments) > 1:
                ordered = zip(segments, _rooms(segments, room, ax))
                if ax == 1 and self.rtl:
                    ordered = reversed(list(ordered))
                for child, child_room in ordered:
                    self.split(child, child_room, 1 - ax)
                return
            block = segments[0]  # the margins along ax trimmed
        self._leaf(block, room)

    def _leaf(self, block, room):
        r0, r1, c0, c1 = block
        if (r1 - r0) * (c1 - c0) < self.min_area:
            return
        p = self.pad
        top, bottom = max(r0 - p, room[0]), min(r1 + p, room[1])
        left, right = max(c0 - p, room[2]), min(c1 + p, room[3])
        self.panels.append(Box(top, left, bottom - top, right - left))

    def _segments(self, block, axis):
        """The content of ``block`` along ``axis`` (0: split into rows) as sub-blocks in
        order: the end margins trimmed, cut at every gutter. ``[]``: all paper."""
        r0, r1, c0, c1 = block
        view = self.ink[r0:r1, c0:c1]
        # axis 0: one count per row (reduce over columns, cv2 dim 1)
        counts = cv2.reduce(view, 1 - axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
        across = view.shape[1 - axis]
        paper = counts <= max(_LINE_INK_MIN, int(_LINE_INK_SHARE * across))
        dark = _runs(~paper)  # a few lines dark only with specks are paper too
        for i, (a, b) in enumerate(dark):
            lo = max(a - self.speck, dark[i - 1][1] if i else 0)
            hi = min(b + self.speck, dark[i + 1][0] if i + 1 < len(dark) else len(paper))
            sparse = counts[lo:hi].sum() <= _SPECK_SHARE * (hi - lo) * across
            if b - a <= 2 * self.speck and sparse and self._specks(view, lo, hi, axis):
                paper[a:b] = True
        runs = _runs(paper)
        if len(runs) == 1 and runs[0] == (0, len(paper)):
            return []
        start, end = 0, len(paper)
        if runs and runs[0][0] == 0:
            start = runs[0][1]
        if runs and runs[-1][1] == len(paper):
            end = runs[-1][0]
        cuts, lo = [], start
        for a, b in runs:
            if a > start and b < end and b - a >= self.min_gutter and not self._crossed(
                    view, counts, a, b, axis):
                cuts.append((lo, a))
                lo = b
        cuts.append((lo, end))
        if axis == 0:
            return [(r0 + a, r0 + b, c0, c1) for a, b in cuts]
        return [(r0, r1, c0 + a, c0 + b) for a, b in cuts]

    def _specks(self, view, lo, hi, axis) -> bool:
        """Whether the ink of the lines ``lo:hi`` is only specks: 8-connected components
        at most ``speck`` px both ways, none cut by the band's edge (inside the view)."""
        start, along, across = _strokes(view, lo, hi, axis)
        cut = ((start == 0) & (lo > 0)) | ((start + along == hi - lo) & (hi < view.shape[axis]))
        small = (along <= self.speck) & (across <= self.speck)
        return bool(len(start) and (small & ~cut).all())

    @staticmethod
    def _crossed(view, counts, a, b, axis) -> bool:
        """Whether an 8-connected stroke of ``view`` crosses the band ``a:b`` along
        ``axis`` from one side to the other (``counts``: ink per line of ``view``)."""
        if counts[a:b].min() == 0:
            return False  # a line of the band is all paper: nothing crosses it
        _, along, _ = _strokes(view, a, b, axis)
        return bool((along >= b - a).any())


def _strokes(view, lo, hi, axis):
    """The 8-connected ink components of the lines ``lo:hi`` of ``view`` along ``axis``:
    each one's first line (from ``lo``), its extent along ``axis`` and across it.

    Runs of empty lines across the band shrink to one line first (which keeps every
    component and its extents), so a tall band with a few strokes costs little."""
    band = view[lo:hi] if axis == 0 else view[:, lo:hi]
    has = cv2.reduce(band, axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() > 0  # per line across
    if not has.any():
        return (np.zeros(0, np.int32),) * 3
    keep = has.copy()
    keep[1:] |= has[:-1]
    band = band[:, keep] if axis == 0 else band[keep]
    _, _, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(band),
                                                      connectivity=8)
    st = stats[1:]
    if axis == 0:
        return st[:, cv2.CC_STAT_TOP], st[:, cv2.CC_STAT_HEIGHT], st[:, cv2.CC_STAT_WIDTH]
    return st[:, cv2.CC_STAT_LEFT], st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, end)`` runs of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _rooms(segments, room, axis):
    """Each segment's room: the parent's room cut at the middle of each gap."""
    k0, k1 = (0, 1) if axis == 0 else (2, 3)
    bounds = [room[k0]]
    for prev, nxt in zip(segments, segments[1:]):
        bounds.append((prev[k1] + nxt[k0]) // 2)
    bounds.append(room[k1])
    out = []
    for i in range(len(segments)):
        r = list(room)
        r[k0], r[k1] = bounds[i], bounds[i + 1]
        out.append(tuple(r))
    return out


def tile_box(box: Box, *, max_aspect: float = 1.5, overlap: float = 0.25) -> list[Box]:
    """Cut a box far from square into overlapping tiles along its long side.

    Each tile spans the box's whole short side ``s`` and is ``t = floor(max_aspect * s)``
    long (so its aspect, long / short, is at most ``max_aspect``); the fewest tiles that
    overlap by at least ``o = max(1, ceil(overlap * s))`` px are spread evenly (starts
    rounded), the first flush with the box's start and the last with its end. A box
    within ``max_aspect`` is one tile, itself. When ``t <= o`` (a 1 or 2 px short side)
    the overlap is ``t - 1``, possibly 0. Tiles are in page coordinates, in order along
    the long side. ``max_aspect >= 1``; ``0 <= overlap < 1``."""
    if not isinstance(box, Box):
        raise InvalidInputError(f"tile_box takes a Box, got {type(box).__name__}")
    if not (isinstance(max_aspect, numbers.Real) and math.isfinite(max_aspect)
            and max_aspect >= 1):
        raise InvalidInputError(f"max_aspect must be a number >= 1, got {max_aspect!r}")
    if not (isinstance(overlap, numbers.Real) and 0 <= overlap < 1):
        raise InvalidInputError(f"overlap must be in [0, 1), got {overlap!r}")
    if box.aspect <= max_aspect:
        return [box]
    tall = box.height > box.width
    long_, short = (box.height, box.width) if tall else (box.width, box.height)
    t = max(1, math.floor(max_aspect * short))
    o = min(max(1, math.ceil(overlap * short - 1e-9)), t - 1)  # 0.1 * 30 is 3, not 4
    n = math.ceil((long_ - o) / (t - o))
    step = (long_ - t) / (n - 1)
    starts = [round(i * step) for i in range(n)]
    if tall:
        return [Box(box.top + p, box.left, t, box.width) for p in starts]
    return [Box(box.top, box.left + p, box.height, t) for p in starts]


def blend_weights(box: Box, tiles: list[Box]) -> list[np.ndarray]:
    """Per tile, ``float32 (tile.height, tile.width)`` weights in [0, 1] for blending
    per-tile results into ``box``: ``out[tile - box offset] += w * result``.

    A tile's weight ramps linearly from its edges that lie inside the box (feathering;
    edges flush with the box do not ramp); where tiles overlap the weights are divided
    by their sum, so two tiles overlapping by ``o`` px cross-fade as ``(k + 0.5) / o``.
    Where a pixel's last tile (in list order) is reached, its weight is ``1`` minus the
    others' float32 sum, so the weights add up to exactly 1.0 at every pixel of the box
    when accumulated in list order in float32. The tiles must lie inside ``box`` and
    cover it (as :func:`tile_box` gives)."""
    if not isinstance(box, Box) or not tiles or not all(isinstance(t, Box) for t in tiles):
        raise InvalidInputError("blend_weights takes a Box and a non-empty list of Boxes")
    local = []
    for t in tiles:
        if t.top < box.top or t.left < box.left or t.bottom > box.bottom or t.right > box.right:
            raise InvalidInputError(f"tile {t} is not inside {box}")
        local.append(Box(t.top - box.top, t.left - box.left, t.height, t.width))
    raw = [_tent(t, box.height, box.width) for t in local]
    total = np.zeros((box.height, box.width), np.float64)
    last = np.full((box.height, box.width), -1, np.int32)
    for i, (t, r) in enumerate(zip(local, raw)):
        total[t.slice] += r
        last[t.slice] = i
    if (last < 0).any():
        raise InvalidInputError(f"the tiles do not cover {box}")
    acc = np.zeros((box.height, box.width), np.float32)
    weights = []
    for i, (t, r) in enumerate(zip(local, raw)):
        w = (r / total[t.slice]).astype(np.float32)
        final = last[t.slice] == i
        w[final] = np.maximum(np.float32(1) - acc[t.slice][final], np.float32(0))
        acc[t.slice] += w
        weights.append(w)
    return weights


def _tent(t: Box, height: int, width: int) -> np.ndarray:
    """float64 (t.height, t.width): distance + 0.5 to the tile's nearest edge that is
    inside the box (edges flush with the box do not count; no such edge: 1)."""
    def ramp(n, start_inside, end_inside):
        k = np.arange(n, dtype=np.float64)
        d = np.full(n, np.inf)
        if start_inside:
            d = np.minimum(d, k + 0.5)
        if end_inside:
            d = np.minimum(d, n - k - 0.5)
        return d
    dy = ramp(t.height, t.top > 0, t.bottom < height)
    dx = ramp(t.width, t.left > 0, t.right < width)
    d = np.minimum(dy[:, None], dx[None, :])
    d[np.isinf(d)] = 1.0
    return d
