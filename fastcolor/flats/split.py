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

A panel whose shorter side is ``k = short // WORK_SIDE >= 2`` times ``WORK_SIDE`` does
steps 2-3 on each candidate shrunk ``k`` times (``k x k`` blocks: region where any pixel
is, paper where most are; radii and the detector's field shrunk alike) and scales the cut
back up: the same cut to a few pixels at a fraction of the cost (an A4 page's).

Returns the new labels (the input itself when nothing is cut; a copy otherwise).
"""

from __future__ import annotations

import cv2
import numpy as np

from .colors import region_samples

__all__ = ["SURE", "MIN_SHARE", "MIN_AREA_FACTOR", "MIN_PANEL_SHARE", "NECK_FRACTIONS",
           "WORK_SIDE", "split_by_background"]

MIN_SHARE = 0.02          # each side at least this share of the region's samples (a
                          # figure leaking through an open contour into a panel's whole
                          # background is a few % of it: 0.15 left those whole; chosen on
                          # data/mixed128's validation panels, not the eval's sets)
MIN_AREA_FACTOR = 16      # a region cut is at least this many times min_area ...
MIN_PANEL_SHARE = 0.01    # ... and this share of its panel's area
SURE = 0.5                # a part is sure figure / sure background this far past the
                          # threshold (towards 0 / 1), as a share of the way there
NECK_FRACTIONS = (1 / 40, 1 / 20, 1 / 10)   # neck radii tried, narrowest first: shares
                                           # of the panel's shorter side
WORK_SIDE = 256           # a panel whose shorter side is k >= 2 times this finds its necks
                          # on its regions shrunk k times (k x k blocks; the cut made there
                          # is scaled back up): the radii are k times larger too, and the
                          # detector's field is coarser than either


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
    """Step 2: ``(count, nearest)``, nearest int32 of ``region``'s shape: ``1..count`` the
    part each pixel of the crop joins (count 1: no neck, all 1); the region's pixels, ink
    included, are its parts. The necks are those of the region's paper (``depth``,
    :func:`_depth`: its ink pixels, which the regions share out, would fill the openings)."""
    core = (depth > radius).astype(np.uint8)
    count, lab, stats, _ = cv2.connectedComponentsWithStats(core, connectivity=8)
    big = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= max(1, (radius * radius) // 4)) + 1
    if len(big) < 2:
        return 1, np.ones(region.shape, np.int32)
    from scipy import ndimage          # here: importing it costs 0.3 s at every start
    seeds = np.zeros(region.shape, np.int32)
    for k, c in enumerate(big, 1):
        seeds[lab == c] = k
    _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    return len(big), seeds[iy, ix]


def _background_side(region, paper, field, radii, threshold):
    """Steps 2-3: the background side (bool, ``region``'s shape: every pixel of the crop
    that joins a part not sure figure) at the narrowest necks that separate background
    from figure, or None."""
    from scipy import ndimage
    depth = _depth(region, paper)
    for radius in radii:
        count, nearest = _parts(region, depth, radius)
        if count < 2:
            continue
        parts = np.where(region, nearest, 0)
        mean = np.asarray(ndimage.mean(field, parts, np.arange(1, count + 1)))
        figure = mean < threshold * (1 - SURE)               # sure figure
        if figure.any() and (mean > threshold + (1 - threshold) * SURE).any():
            return np.isin(nearest, np.flatnonzero(~figure) + 1)
    return None


def _shrink(image: np.ndarray, k: int) -> np.ndarray:
    """The mean of each ``k x k`` block of a 2-D array (edge blocks padded with edge
    values), float32."""
    h, w = image.shape
    H, W = -(-h // k) * k, -(-w // k) * k
    padded = np.pad(image.astype(np.float32), ((0, H - h), (0, W - w)), mode="edge")
    return padded.reshape(H // k, k, W // k, k).mean(axis=(1, 3))


def _background_side_shrunk(region, paper, field, radii, threshold, k):
    """:func:`_background_side` on ``region`` shrunk ``k`` times (a block is region where
    any of it is, paper where most of it is region paper; the radii divided by ``k``),
    the side scaled back up to ``region``'s shape, or None."""
    h, w = region.shape
    small = _shrink(region, k) > 0
    small_paper = _shrink(region & paper, k) > 0.5
    side = _background_side(small, small_paper, _shrink(field, k),
                            sorted({max(1, round(r / k)) for r in radii}), threshold)
    if side is None:
        return None
    return np.repeat(np.repeat(side, k, axis=0), k, axis=1)[:h, :w]


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
        from scipy import ndimage      # here, as in _parts: only pages with a candidate
        sub = labels[box.slice]
        short = min(box.height, box.width)
        radii = sorted({max(3, round(f * short)) for f in NECK_FRACTIONS})
        shrink = max(1, short // WORK_SIDE)
        field = cv2.resize(prob, (box.width, box.height), interpolation=cv2.INTER_LINEAR)
        boxes = ndimage.find_objects(sub + 1)          # each label's bounding slices
        for r in here:
            rows, cols = boxes[r]
            top, left, bottom, right = rows.start, cols.start, rows.stop, cols.stop
            reg = sub[rows, cols] == r
            paper = ~ink[box.top + top:box.top + bottom, box.left + left:box.left + right]
            if shrink == 1:
                bg = _background_side(reg, paper, field[rows, cols], radii, threshold)
            else:
                bg = _background_side_shrunk(reg, paper, field[rows, cols], radii,
                                             threshold, shrink)
            if bg is None:
                continue
            bg &= reg
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
