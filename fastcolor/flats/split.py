"""Cut a region the background detector sees as part background, part figure.

Line art that does not close (a figure whose outline opens onto the panel, strokes that
stop short of each other by more than the gap closing reaches) makes one region of the
figure's inside and the panel's background. Colored as one region it takes the
background color whole, and the figure disappears into the background. The detector
sees the two apart, but its mask is coarse and ragged: cutting along it would leave
ragged edges no colorist would keep. So the cut is made where the *region* is narrow:
at the openings through which it leaks, and the detector only decides which side of
each opening is background.

``split_by_background(labels, ink, pieces, threshold, min_area, keep=None)``:

1. candidates: regions of at least ``max(MIN_AREA_FACTOR * min_area, MIN_PANEL_SHARE *
   its panel's area)`` pixels with between ``MIN_SHARE`` and ``1 - MIN_SHARE`` of their
   sampled pixels (``colors.region_samples``) above the threshold; regions in ``keep``
   (those a hint stroke colored) never are;
2. necks: the region eroded by a disk (radius: the ``NECK_FRACTIONS`` of its panel's
   shorter side, at least 3 px, narrowest first) falls apart into cores at its narrow
   places; cores smaller than a quarter of the disk's radius squared are dropped; every
   pixel of the region joins its nearest core (Euclidean), so the cuts are short and
   straight across the openings;
3. sides: a part is sure figure when the detector's mean probability over it is below
   ``threshold * (1 - SURE)``, sure background above ``threshold + (1 - threshold) *
   SURE``; at the first radius that gives a sure figure part and a sure background part
   the region is cut, the sure figure parts on one side, all others on the other: the background side's largest
   4-connected piece keeps the region's label, every other piece (background or figure)
   gets a new label ``n, n + 1, ...`` (region by region; within a region in raster order
   of the piece's first pixel). A region without a neck, or whose parts all fall on one
   side, stays whole.

Returns the new labels (the input itself when nothing is cut; a copy otherwise).
"""

from __future__ import annotations

import cv2
import numpy as np

from .colors import region_samples

__all__ = ["SURE", "MIN_SHARE", "MIN_AREA_FACTOR", "MIN_PANEL_SHARE", "NECK_FRACTIONS",
           "split_by_background"]

MIN_SHARE = 0.15          # each side at least this share of the region's samples
MIN_AREA_FACTOR = 16      # a region cut is at least this many times min_area ...
MIN_PANEL_SHARE = 0.01    # ... and this share of its panel's area
SURE = 0.5                # a part is sure figure / sure background this far past the
                          # threshold (towards 0 / 1), as a share of the way there
NECK_FRACTIONS = (1 / 40, 1 / 20, 1 / 10)   # neck radii tried, narrowest first: shares
                                           # of the panel's shorter side


def _candidates(labels, ink, pieces, threshold, min_area, keep) -> list:
    """Step 1: per piece, the labels of the candidate regions in its box."""
    n = int(labels.max()) + 1
    regions, (prob,), inside = region_samples(labels, ink, [(b, [p]) for b, p in pieces])
    total = np.bincount(regions[inside], minlength=n)
    above = np.bincount(regions[inside], weights=(prob[inside] > threshold).astype(float),
                        minlength=n)
    share = above / np.maximum(total, 1)
    cut = (total > 0) & (share >= MIN_SHARE) & (share <= 1 - MIN_SHARE)
    if keep is not None and len(keep):
        cut[np.asarray(keep, np.int64)] = False
    if not cut.any():                    # the common case: no page-sized pass below
        return [np.zeros(0, np.int64) for _ in pieces]
    area = np.bincount(labels.ravel(), minlength=n)
    floor = np.full(n, MIN_AREA_FACTOR * min_area, np.int64)
    present = []
    for box, _ in pieces:                # the largest panel a region lies in sets its floor
        sub = labels[box.slice]
        ids = np.unique(sub[cut[sub]])
        floor[ids] = np.maximum(floor[ids], int(MIN_PANEL_SHARE * box.area))
        present.append(ids)
    cut &= area >= floor
    return [ids[cut[ids]] for ids in present]


def _pieces(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    count, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    return count, lab, stats[:, cv2.CC_STAT_AREA]


def _depth(region: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Euclidean distance of each paper pixel of ``region`` to the nearest pixel that is
    not (ink, another region, or outside the crop): the region's paper eroded by a disk
    of radius ``r`` is ``depth > r``, for every ``r`` at the cost of one transform."""
    padded = np.pad((region & paper).astype(np.uint8), 1)
    return cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]


def _parts(region: np.ndarray, depth: np.ndarray, radius: int) -> tuple[int, np.ndarray]:
    """Step 2: ``(count, parts)``, parts int32 of ``region``'s shape, 0 outside the region
    and ``1..count`` the part of each region pixel (count 1: no neck). The necks are those
    of the region's paper (``depth``, :func:`_depth`: its ink pixels, which the regions
    share out, would fill the openings); every pixel of the region, ink included, joins
    a part."""
    core = (depth > radius).astype(np.uint8)
    count, lab, stats, _ = cv2.connectedComponentsWithStats(core, connectivity=8)
    big = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= max(1, (radius * radius) // 4)) + 1
    if len(big) < 2:
        return 1, region.astype(np.int32)
    from scipy import ndimage          # here: importing it costs 0.3 s at every start
    seeds = np.zeros(region.shape, np.int32)
    for k, c in enumerate(big, 1):
        seeds[lab == c] = k
    _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    parts = np.where(region, seeds[iy, ix], 0).astype(np.int32)
    return len(big), parts


def _background_side(region, paper, field, radii, threshold):
    """Steps 2-3: the background side (bool, ``region``'s shape) at the narrowest necks
    that separate background from figure, or None."""
    from scipy import ndimage
    depth = _depth(region, paper)
    for radius in radii:
        count, parts = _parts(region, depth, radius)
        if count < 2:
            continue
        mean = np.asarray(ndimage.mean(field, parts, np.arange(1, count + 1)))
        figure = mean < threshold * (1 - SURE)               # sure figure
        if figure.any() and (mean > threshold + (1 - threshold) * SURE).any():
            return np.isin(parts, np.flatnonzero(~figure) + 1)
    return None


def split_by_background(labels: np.ndarray, ink: np.ndarray, pieces: list, threshold: float,
                        min_area: int, keep=None) -> np.ndarray:
    """See the module doc. labels: int32 ``(H, W)``; ink: bool ``(H, W)``; pieces:
    ``[(box, probability), ...]``, the detector's probability float32 ``(h, w)`` at the
    model's scale over each panel box."""
    candidates = _candidates(labels, ink, pieces, threshold, min_area, keep)
    out = None
    next_label = int(labels.max()) + 1
    for (box, prob), here in zip(pieces, candidates):
        if not len(here):
            continue
        sub = labels[box.slice]
        short = min(box.height, box.width)
        radii = sorted({max(3, round(f * short)) for f in NECK_FRACTIONS})
        field = cv2.resize(prob, (box.width, box.height), interpolation=cv2.INTER_LINEAR)
        for r in here:
            region = sub == r
            rows, cols = np.nonzero(region)
            top, left, bottom, right = rows.min(), cols.min(), rows.max() + 1, cols.max() + 1
            reg = region[top:bottom, left:right]
            bg = _background_side(reg, ~ink[box.top + top:box.top + bottom,
                                            box.left + left:box.left + right],
                                  field[top:bottom, left:right], radii, threshold)
            if bg is None:
                continue
            fg = reg & ~bg
            if out is None:
                out = labels.copy()
            view = out[box.top + top:box.top + bottom, box.left + left:box.left + right]
            count, lab, area = _pieces(bg)
            biggest = int(np.argmax(area[1:])) + 1
            new = [lab == k for k in range(1, count) if k != biggest]
            count, lab, _ = _pieces(fg)
            new += [lab == k for k in range(1, count)]
            new.sort(key=lambda m: np.flatnonzero(m.ravel())[0])
            for m in new:
                view[m] = next_label
                next_label += 1
    return labels if out is None else out
