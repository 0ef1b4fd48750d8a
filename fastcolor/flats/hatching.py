"""Hatching: the thin strips between hatch strokes take the color of what they shade.

Hatching (and hair strands, speed lines, cross-hatched shadows) cuts a surface into many
thin regions where its strokes run from outline to outline. Each is a closed region of
the line art, so the flats color each one from the polished colors under it: the
polisher darkens and blotches them where the ink is dense, and a hatched roof or shadow
comes out as stripes of several colors. A colorist colors the surface once and lets the
hatching shade it.

:func:`sliver_hosts` finds those strips and the region each one shades:

1. a **sliver** is a region none of whose paper pixels is farther than ``max_half_width``
   (Euclidean) from ink: a strip at most ``2 * max_half_width`` px wide;
2. regions touch where their labels meet (the regions are trapped under the lines, so
   neighbours across a line share a border); a **patch** is a group of slivers that
   touch, and only patches of at least ``min_patch`` slivers count as hatching (a lone
   thin region, an eye or a stripe of a costume, keeps its own color);
3. each sliver of a patch is **hosted** by the non-sliver neighbour it shares the longest
   border with, borders under thin lines first (ink within 1 px of paper: the hatch
   strokes, not the thicker outline of the hatched shape with the sky beyond it), then
   all; a sliver that touches only slivers takes the host of
   the patch's sliver it shares the longest such border with (repeated until nothing
   changes); a patch that touches no other region keeps its colors.

The flats (``Pipeline`` step 6b) then give each hosted sliver its host's color when the
detector put both on the same side (figure or background); the regions themselves stay as drawn, and ``region_hosts`` on the
result lets the studio recolor a region with its strips (a strip clicked alone is
colored alone). Cost: two erosions of the page and a pass over the horizontal and
vertical label borders.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["MAX_HALF_WIDTH", "MIN_PATCH", "sliver_hosts"]

MAX_HALF_WIDTH = 2.5
MIN_PATCH = 3


def _borders(labels: np.ndarray, n: int, thin: np.ndarray, keep: np.ndarray):
    """Pairs of regions that meet (4-adjacent pixels with different labels), at least one
    of them with ``keep``: ``(a, b, length, thin_length)``, each unordered pair once with
    ``a < b``; length: pixel pairs, thin_length: those where ``thin`` (bool ``(H, W)``)
    holds at both pixels."""
    keys, thins = [], []
    for u, v, tu, tv in ((labels[:, :-1], labels[:, 1:], thin[:, :-1], thin[:, 1:]),
                         (labels[:-1], labels[1:], thin[:-1], thin[1:])):
        diff = u != v
        a, b = u[diff], v[diff]
        wanted = keep[a] | keep[b]
        a, b = a[wanted].astype(np.int64), b[wanted].astype(np.int64)
        keys.append(np.minimum(a, b) * n + np.maximum(a, b))
        thins.append((tu[diff] & tv[diff])[wanted])
    keys, thins = np.concatenate(keys), np.concatenate(thins)
    empty = np.zeros(0, np.int64)
    if not len(keys):
        return empty, empty, empty, empty
    pairs, inverse, length = np.unique(keys, return_inverse=True, return_counts=True)
    thin_length = np.bincount(inverse, weights=thins, minlength=len(pairs)).astype(np.int64)
    return pairs // n, pairs % n, length, thin_length


def _labels_present(labels: np.ndarray, mask: np.ndarray, cross: np.ndarray,
                    n: int) -> np.ndarray:
    """bool ``(n,)``: the labels of the pixels of ``mask`` (uint8 0/1), read on its edge
    (mask pixels with a 4-neighbour outside it or at the page's border)."""
    edge = mask.astype(bool) & ~cv2.erode(mask, cross, borderType=cv2.BORDER_CONSTANT,
                                          borderValue=0).astype(bool)
    return np.bincount(labels[edge], minlength=n) > 0


def _longest(best: np.ndarray, which: np.ndarray, allowed: np.ndarray, a: np.ndarray,
              b: np.ndarray, length: np.ndarray) -> None:
    """For each region ``r`` with ``which[r]``, set ``best[r]`` to its ``allowed``
    neighbour with the longest border (``length`` > 0; ties: the smaller label); regions
    without one are left as they are."""
    s = np.concatenate([a, b])
    t = np.concatenate([b, a])
    ln = np.concatenate([length, length])
    sel = which[s] & allowed[t] & (ln > 0)
    if not sel.any():
        return
    s, t, ln = s[sel], t[sel], ln[sel]
    order = np.lexsort((t, -ln, s))              # per region: longest, then smallest label
    s, t = s[order], t[order]
    first = np.r_[True, s[1:] != s[:-1]]
    best[s[first]] = t[first]


def sliver_hosts(labels: np.ndarray, ink: np.ndarray, *,
                 max_half_width: float = MAX_HALF_WIDTH,
                 min_patch: int = MIN_PATCH) -> np.ndarray:
    """For regions ``labels`` (int32 ``(H, W)``, ``0..n-1``, trapped: every pixel in one
    region) cut by ``ink`` (bool ``(H, W)``): int64 ``(n,)``, each region's host (itself
    unless it is a hosted sliver of a hatching patch; see the module doc)."""
    n = int(labels.max()) + 1
    hosts = np.arange(n, dtype=np.int64)
    if n < min_patch + 1 or not ink.any():
        return hosts
    paper = ~ink
    # paper farther than max_half_width from every ink pixel: the paper eroded by the disc
    # of that radius (the same pixels as a Euclidean distance transform > r, cheaper)
    r = int(np.floor(max_half_width))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (yy * yy + xx * xx <= max_half_width ** 2).astype(np.uint8)
    deep = cv2.erode(paper.astype(np.uint8), disc, borderType=cv2.BORDER_CONSTANT,
                     borderValue=1)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    # a region holds deep (or paper) pixels iff it holds some on their edge: count the
    # edges only (a few % of the page; every pixel costs at 4096 x 4096)
    thick = _labels_present(labels, deep, cross, n)
    sliver = ~thick & _labels_present(labels, paper.astype(np.uint8), cross, n)
    if sliver.sum() < min_patch:
        return hosts
    # a border under a thin line (hatching: the strips' own strokes) hosts before one
    # under a thick outline (the outline of the hatched shape, with another region beyond):
    # thin = paper, or ink with paper among its 4 neighbours (within 1 px of paper)
    thin = ~cv2.erode(ink.astype(np.uint8), cross, borderType=cv2.BORDER_CONSTANT,
                      borderValue=1).astype(bool)
    a, b, length, thin_length = _borders(labels, n, thin, sliver)
    # patches: connected groups of slivers (union-find over sliver-sliver borders)
    parent = np.arange(n)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    both = sliver[a] & sliver[b]
    for i, j in zip(a[both].tolist(), b[both].tolist()):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    root = np.array([find(i) for i in range(n)])
    hatch = sliver & (np.bincount(root[sliver], minlength=n)[root] >= min_patch)
    if not hatch.any():
        return hosts
    best = np.full(n, -1, np.int64)
    # 1. across a thin line: the non-sliver neighbour with the longest thin border
    _longest(best, hatch, ~sliver, a, b, thin_length)
    # 2. slivers touching only slivers there: the host of the neighbour sliver with the
    #    longest thin border, repeated while it spreads
    inner = hatch[a] & hatch[b] & (thin_length > 0)
    for _ in range(n):
        todo = hatch & (best < 0)
        if not todo.any():
            break
        found = np.full(n, -1, np.int64)
        _longest(found, todo, best >= 0, a[inner], b[inner], thin_length[inner])
        got = todo & (found >= 0)
        if not got.any():
            break
        best[got] = best[found[got]]
    # 3. the rest (strips cut off by thick lines only): the longest border of any kind
    _longest(best, hatch & (best < 0), ~sliver, a, b, length)
    hosted = hatch & (best >= 0)
    hosts[hosted] = best[hosted]
    return hosts
