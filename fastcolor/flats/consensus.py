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
pixels, of the share of voters painting the region under each pixel; exact counts per
region where a voter has the page's own regions. ``PaintVotes`` takes the voters one at
a time: its memory is one 8-bit map of the page, whatever their number.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

__all__ = ["PAPER_DISTANCE", "MAX_VOTERS", "PaintVotes", "painted_regions", "paint_votes"]

PAPER_DISTANCE = 8.0
MAX_VOTERS = 255                  # painting voters per pixel are counted in 8 bits
_WHITE_LAB = (100.0, 0.0, 0.0)
_ROWS = 512                       # rows per chunk when reading the votes per pixel


def painted_regions(palette: np.ndarray) -> np.ndarray:
    """bool ``(n,)``: the regions of a uint8 ``(n, 3)`` palette painted, i.e. farther than
    ``PAPER_DISTANCE`` CIEDE2000 from white paper."""
    from ..evaluate import ciede2000, rgb_to_lab
    lab = rgb_to_lab(np.asarray(palette, np.uint8))
    return ciede2000(lab, np.broadcast_to(np.asarray(_WHITE_LAB), lab.shape)) > PAPER_DISTANCE


class PaintVotes:
    """The votes of a page's samples. ``regions``: the page's own regions, int ``(H, W)``
    ``0..n-1`` (the labels most voters share)."""

    def __init__(self, regions: np.ndarray):
        self.regions = regions
        self.exact = np.zeros(int(regions.max()) + 1, np.int64)   # per region of `regions`
        self.pixels = None                        # uint8 (H, W): the other voters, per pixel
        self.voters = 0

    def _same(self, labels: np.ndarray) -> bool:
        return labels is self.regions or (labels.shape == self.regions.shape and
                                          np.array_equal(labels, self.regions))

    def add(self, labels: np.ndarray, painted: np.ndarray) -> None:
        """One voter: its regions (int ``(H, W)``) and which of them it paints (bool)."""
        painted = np.asarray(painted, bool)
        if labels.shape != self.regions.shape:
            raise InvalidInputError(f"a voter's regions are {labels.shape}, the page "
                                    f"{self.regions.shape}")
        if len(painted) != int(labels.max()) + 1:
            raise InvalidInputError(f"a voter paints {len(painted)} regions of "
                                    f"{int(labels.max()) + 1}")
        if self.voters >= MAX_VOTERS:
            raise InvalidInputError(f"at most {MAX_VOTERS} voters")
        self.voters += 1
        if self._same(labels):
            self.exact += painted
            return
        if self.pixels is None:
            self.pixels = np.zeros(labels.shape, np.uint8)
        self.pixels += painted[labels]

    def shares(self, labels: np.ndarray) -> np.ndarray:
        """float64 ``(n,)`` in [0, 1]: the share of the voters painting each region of
        ``labels`` (int ``(H, W)``, ``0..n-1``)."""
        if not self.voters:
            raise InvalidInputError("no voters: add at least one")
        n = int(labels.max()) + 1
        if self.pixels is None and self._same(labels):
            return self.exact / self.voters
        total = np.zeros(n, np.float64)
        area = np.zeros(n, np.float64)
        for top in range(0, labels.shape[0], _ROWS):      # bounded memory on big pages
            lab = labels[top:top + _ROWS].ravel()
            count = self.exact[self.regions[top:top + _ROWS].ravel()].astype(np.float64)
            if self.pixels is not None:
                count += self.pixels[top:top + _ROWS].ravel()
            total += np.bincount(lab, weights=count, minlength=n)
            area += np.bincount(lab, minlength=n)
        return total / np.maximum(area, 1) / self.voters


def paint_votes(labels: np.ndarray, voters: list) -> np.ndarray:
    """The share of ``voters`` (``[(labels_k, painted_k), ...]``: each voter's regions of
    the same page and bool which of them it paints) that paint each region of ``labels``;
    float64 ``(n,)`` in [0, 1] (``PaintVotes`` with ``labels`` as the page's regions)."""
    if not voters:
        raise InvalidInputError("paint_votes needs at least one voter")
    votes = PaintVotes(labels)
    for lab_k, painted in voters:
        votes.add(lab_k, painted)
    return votes.shares(labels)
