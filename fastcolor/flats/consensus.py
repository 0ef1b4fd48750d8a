"""Paper unless most samples paint it (pipeline step 6c).

One sample of the low-res colorizer paints every region some color, and where the
model is unsure (the white of an eye, teeth, a balloon it does not recognise, the paper
inside a drawing) the color is a guess: wrong, it is the thing a colorist repaints
first, and most of a comic figure's area is white paper in the truth. Step 6c lets
``consensus`` samples of the same page vote: a figure region of the returned sample
keeps its color only when a strict majority of the voters paint it (its flat color
farther than ``PAPER_DISTANCE`` CIEDE2000 from white); otherwise it becomes white
paper. Regions most voters paint keep the returned sample's own color, so the colors
stay one sample's (coherent), not an average.

The voters are the page's samples with their own regions (6a may cut a region along
one sample's detector mask and not another's): a region's vote is the mean, over its
pixels, of the share of voters painting the region under each pixel.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

__all__ = ["PAPER_DISTANCE", "painted_regions", "paint_votes"]

PAPER_DISTANCE = 8.0
_WHITE_LAB = (100.0, 0.0, 0.0)


def painted_regions(palette: np.ndarray) -> np.ndarray:
    """bool ``(n,)``: the regions of a uint8 ``(n, 3)`` palette painted, i.e. farther than
    ``PAPER_DISTANCE`` CIEDE2000 from white paper."""
    from ..evaluate import ciede2000, rgb_to_lab
    lab = rgb_to_lab(np.asarray(palette, np.uint8))
    return ciede2000(lab, np.broadcast_to(np.asarray(_WHITE_LAB), lab.shape)) > PAPER_DISTANCE


def paint_votes(labels: np.ndarray, voters: list) -> np.ndarray:
    """The share of ``voters`` that paint each region of ``labels``.

    labels: int32 ``(H, W)``, regions ``0..n-1``. voters: ``[(labels_k, painted_k), ...]``,
    each voter's regions (int ``(H, W)``, the same page) and bool ``(n_k,)`` which of them
    it paints. Returns float64 ``(n,)`` in [0, 1]: exact shares where a voter has the same
    regions, else each region's mean over its pixels."""
    if not voters:
        raise InvalidInputError("paint_votes needs at least one voter")
    n = int(labels.max()) + 1
    shares = np.zeros(n, np.float64)
    count = None                                   # painting voters per pixel (uint8)
    for lab_k, painted in voters:
        painted = np.asarray(painted, bool)
        if lab_k.shape != labels.shape:
            raise InvalidInputError(f"a voter's regions are {lab_k.shape}, the page {labels.shape}")
        if lab_k is labels or (len(painted) == n and np.array_equal(lab_k, labels)):
            shares += painted
            continue
        if count is None:
            count = np.zeros(labels.shape, np.uint8)
        count += painted[lab_k]
    if count is not None:
        area = np.bincount(labels.ravel(), minlength=n)
        shares += np.bincount(labels.ravel(), weights=count.ravel(), minlength=n) / \
            np.maximum(area, 1)
    return shares / len(voters)
