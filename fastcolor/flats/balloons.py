"""Speech balloons stay white (pipeline step 6b).

A colorist leaves a speech balloon the paper's white under its lettering; the model,
which sees a balloon as one more closed shape, paints it whatever color its sample
has there (a yellow or pink balloon is the first thing a colorist repaints). A region
is a **balloon** when its closed shape holds a line of lettering:

- its size: at least 24 px each way and ``MIN_AREA_SHARE`` of the page, at most
  ``MAX_AREA_SHARE``; not a rectangle (its area at most ``MAX_BOX_FILL`` of its box: a
  sign or a caption box keeps the model's color) and convex but for a tail (area at
  least ``MIN_SOLIDITY`` of its convex hull);
- no drawn shape inside it: the paper of other regions it encloses (eyes, windows) is
  at most ``MAX_ENCLOSED`` of its filled area;
- lettering inside: the ink components it encloses that do not touch its outline, a
  component lying inside another's box (a pupil in its eye) left out, at least 3, none
  taller than ``MAX_LETTER_HEIGHT`` of the region, not mostly dots (a screentone is a grid
  of dots of at most 4 px), and ``MIN_LINE`` of them side by side on one line (vertical
  centers within 0.6 of their median height, gaps at most 1.5 heights) spanning at
  least ``MIN_LINE_SPAN`` of the region's width.

Where the ink mask shows no lettering, it is looked for again in the page's gray
(``gray``): any pixel ``LETTER_CONTRAST`` gray levels darker than the region's paper
(not first: on clean art that also takes the anti-aliasing between close letters and
joins them). On a blurred scan the lettering is gray, and the ink threshold, set by the
page's dark lines, keeps only the cores of its strokes: dots and slivers with no line
between them (a scan's balloons were missed as screentone). The same contrast turns a
scan's hatching back into whole strokes that touch the outline around them.

Faces (eyes and a mouth: no line of four), buildings (windows enclose paper), screentone
patches and signs are not balloons; nothing is on 831 OpenMoji drawings at 400 px. Only
clean, closed balloons count: a balloon whose outline does not close is part of the
region around it and keeps the color the flats give it.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_AREA_SHARE = 0.0005
MAX_AREA_SHARE = 0.35
MIN_SIDE = 24
MAX_BOX_FILL = 0.9
MIN_SOLIDITY = 0.8
MAX_ENCLOSED = 0.05
MAX_LETTER_HEIGHT = 0.3
MIN_LINE = 4
MIN_LINE_SPAN = 0.4
LETTER_CONTRAST = 30


def find_balloons(labels: np.ndarray, ink: np.ndarray, gray: np.ndarray | None = None
                  ) -> np.ndarray:
    """The speech balloons among the regions of ``labels`` (int32 ``(H, W)``, ``0..n-1``,
    from ``fastcolor.flats.find_regions``; ``ink``: bool ``(H, W)``, the line art's ink;
    ``gray``: its uint8 ``(H, W)``, 0 = ink, where lettering is looked for (None: in
    ``ink`` only)): bool ``(n,)``: each balloon and the regions it encloses (the paper
    inside its letters)."""
    from scipy import ndimage
    H, W = labels.shape
    n = int(labels.max()) + 1 if labels.size else 0
    found = np.zeros(n, bool)
    area = np.bincount(labels.ravel(), minlength=n)
    lo, hi = max(MIN_SIDE * MIN_SIDE, MIN_AREA_SHARE * H * W), MAX_AREA_SHARE * H * W
    for r, box in enumerate(ndimage.find_objects(labels + 1)):
        if box is None or not lo <= area[r] <= hi:
            continue
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        if h < MIN_SIDE or w < MIN_SIDE or area[r] > MAX_BOX_FILL * h * w:
            continue
        region = labels[box] == r
        filled = _filled_convex(region)
        if filled is None or np.count_nonzero(filled) > MAX_BOX_FILL * h * w:
            continue                          # not convex, or a rectangle once filled
        here = ink[box]
        if _holds_lettering(region, filled, here, here, h, w) or (
                gray is not None and _holds_lettering(
                    region, filled, here, _faint_marks(region, here, gray[box]), h, w)):
            found[r] = True
            found[np.unique(labels[box][filled & ~region])] = True   # inside the letters
    return found


def _faint_marks(region: np.ndarray, ink: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """The ink, and every pixel ``LETTER_CONTRAST`` darker than the region's paper."""
    paper = region & ~ink
    level = float(np.median(gray[paper])) if paper.any() else 255.0
    return ink | (gray < level - LETTER_CONTRAST)


def _filled_convex(region: np.ndarray) -> np.ndarray | None:
    """``region`` (bool, cropped to its box) with its holes filled, or None when it is not
    convex but for a tail (its outer contour's area under ``MIN_SOLIDITY`` of its hull)."""
    contours, _ = cv2.findContours(region.view(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    outer = max(contours, key=cv2.contourArea)
    hull = cv2.contourArea(cv2.convexHull(outer))
    if hull <= 0 or cv2.contourArea(outer) < MIN_SOLIDITY * hull:
        return None
    filled = np.zeros(region.shape, np.uint8)
    cv2.drawContours(filled, [outer], 0, 1, cv2.FILLED)
    return filled.view(bool) | region


def _holds_lettering(region: np.ndarray, filled: np.ndarray, ink: np.ndarray,
                     marks: np.ndarray, h: int, w: int) -> bool:
    """The tests of the module doc for one convex region cropped to its box (``region``
    bool, ``filled``: with its holes filled; ``ink``: the line art's ink there, ``marks``:
    where lettering is looked for)."""
    if np.count_nonzero(filled & ~region & ~ink) > MAX_ENCLOSED * np.count_nonzero(filled):
        return False
    letters = _letters(filled, marks & filled)
    if len(letters) < 3 or max(c[3] for c in letters) > MAX_LETTER_HEIGHT * h:
        return False
    dots = sum(c[3] <= 4 and c[2] - c[1] <= 4 and abs(c[3] - (c[2] - c[1])) <= 1
               for c in letters)
    if 2 * dots > len(letters):
        return False
    return _has_line(letters, MIN_LINE_SPAN * w)


def _letters(filled: np.ndarray, ink: np.ndarray) -> list[tuple[float, int, int, int]]:
    """``(center y, left, right, height)`` of the ink components inside ``filled`` that do
    not touch its outline, without those inside another's box."""
    count, comps, stats, _ = cv2.connectedComponentsWithStats(ink.view(np.uint8), connectivity=8)
    edge = filled & ~cv2.erode(filled.view(np.uint8), np.ones((3, 3), np.uint8),
                               borderValue=0).view(bool)
    touching = np.zeros(count, bool)
    touching[comps[edge]] = True
    found = [(y + h / 2, x, x + w, h) for k, (x, y, w, h, _) in enumerate(stats)
             if k and not touching[k]]
    return [c for c in found if not any(
        o is not c and o[1] <= c[1] and c[2] <= o[2] and o[3] >= c[3]
        and abs(o[0] - c[0]) <= (o[3] - c[3]) / 2 for o in found)]


def _has_line(letters, span: float) -> bool:
    """``MIN_LINE`` letters on one line, gaps at most 1.5 heights, spanning ``span`` px."""
    height = float(np.median([c[3] for c in letters]))
    for seed in letters:
        line = sorted((c for c in letters if abs(c[0] - seed[0]) <= max(2.0, 0.6 * height)),
                      key=lambda c: c[1])
        run, right = [line[0]], line[0][2]
        for c in line[1:]:
            if c[1] - right > 1.5 * height + 1:
                run, right = [c], c[2]
                continue
            run.append(c)
            right = max(right, c[2])
            if len(run) >= MIN_LINE and right - run[0][1] >= span:
                return True
    return False
