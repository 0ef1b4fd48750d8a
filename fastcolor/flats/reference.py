"""Flat regions of a line drawing, the reference (NumPy + OpenCV): the truth that the
C++ fast path (``fastcolor._C.flat_regions``) equals label for label.

The steps, each a function below (``docs/design.md``, "Flats", states them as the
contract both paths follow):

1. ``ink``: :func:`fastcolor.flats.ink.find_ink`.
2. :func:`close_gaps`: the ink is thinned to an 8-connected skeleton (Zhang-Suen);
   at each skeleton end point ``e`` (one skeleton neighbour) the stroke's half thickness
   ``h`` is the largest ``k`` whose chessboard ring around ``e`` is all ink, capped at
   ``gap``; the reach is ``R = gap + 2h + 3`` (thinning leaves the end point about ``h``
   short of the stroke's tip, which is itself ``h`` from the middle). The ink pixels
   reachable from ``e`` through ink (8-connected) in at most ``2R + 2`` steps are ``e``'s
   own stroke, and the stroke points from their centroid ``c`` towards ``e``: ``d = e - c``
   (exactly, in integers: ``d = n e - sum(own)``); the own pixels with
   ``(o - e) . d >= 0`` are its tip. When an own pixel lies farther than ``2H + 2`` from
   ``e`` within 60 degrees ahead of ``d`` (``H``: the half thickness capped at ``2R + 2``
   instead of ``gap``), the stroke goes on past ``e`` (thinning broke the skeleton where
   the line's thickness changes, as hatching that thins from 2 px to 1 does) and ``e``
   closes nothing: closing there cut every strip of such hatching off its region. The nearest (to ``e``) other ink pixel ``p`` that is
   within the reach (``|p - e|^2 <= R^2``), ahead of the stroke (``(p - e) . d > 0`` and
   ``4 ((p - e) . d)^2 >= |p - e|^2 |d|^2``: within 60 degrees; any direction when
   ``d = 0``) and at most ``gap + 1`` from a tip pixel (``|p - o|^2 <= (gap + 1)^2``),
   ties first in raster order, gets a straight 8-connected
   segment ``e -> p`` (Bresenham), drawn into a copy: every search sees the original
   ink. So a line broken by up to ``gap`` pixels is closed where it ends, the ends of
   parallel hatching strokes are not tied to each other, and a narrow region between
   two lines that do not end there is never cut (closing by dilation would cut it).
3. :func:`label_paper`: the pixels that are neither ink nor segment ("paper") form
   4-connected regions, numbered 1.. in raster order of their first pixel.
4. :func:`trap`: the fills grow under the lines: in rounds, every unlabelled pixel
   with a 4-neighbour labelled in an earlier round takes the smallest such label, so
   colors meet under the middle of each line and no halo is left beside anti-aliasing.
5. :func:`merge_small`: a region with fewer than ``min_area`` paper pixels (specks in
   hatching, noise, the cells between the letters of a balloon) is merged into the
   neighbour it shares the most 4-adjacent pixel pairs with (ties: smaller label);
   regions are taken by (paper area, label) and skipped once they have grown to
   ``min_area``.
6. :func:`renumber`: labels ``0..n-1`` in raster order of first pixel.

Every pixel ends in exactly one region and every region is 4-connected.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

__all__ = ["thin", "skeleton_ends", "close_gaps", "label_paper", "trap", "merge_small",
           "renumber", "flat_regions_reference", "bresenham"]


def thin(ink: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of ``ink`` (bool ``(H, W)``; outside the image is paper)
    -> the 8-connected skeleton, bool ``(H, W)``."""
    img = np.pad(ink.astype(np.uint8), 1)
    core = img[1:-1, 1:-1]
    while True:
        changed = False
        for step in (0, 1):
            p2, p3, p4 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:]
            p5, p6, p7 = img[2:, 2:], img[2:, 1:-1], img[2:, :-2]
            p8, p9 = img[1:-1, :-2], img[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            b = sum(r.astype(np.int32) for r in ring[:8])
            a = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(np.int32) for i in range(8))
            if step == 0:
                side = ((p2 & p4 & p6) == 0) & ((p4 & p6 & p8) == 0)
            else:
                side = ((p2 & p4 & p8) == 0) & ((p2 & p6 & p8) == 0)
            delete = (core == 1) & (b >= 2) & (b <= 6) & (a == 1) & side
            if delete.any():
                core[delete] = 0
                changed = True
        if not changed:
            return core.astype(bool)


def skeleton_ends(skeleton: np.ndarray) -> np.ndarray:
    """End points of a skeleton (pixels with exactly one 8-neighbour in it):
    ``int64 (N, 2)`` rows ``(y, x)`` in raster order."""
    s = np.pad(skeleton.astype(np.uint8), 1)
    n = sum(s[1 + dy:s.shape[0] - 1 + dy, 1 + dx:s.shape[1] - 1 + dx].astype(np.int32)
            for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
    return np.argwhere(skeleton & (n == 1))


def bresenham(y0: int, x0: int, y1: int, x1: int) -> list[tuple[int, int]]:
    """The 8-connected straight segment from ``(y0, x0)`` to ``(y1, x1)``, both
    included (the classic integer algorithm; the C++ path draws the same pixels)."""
    dx, sx = abs(x1 - x0), 1 if x0 < x1 else -1
    dy, sy = -abs(y1 - y0), 1 if y0 < y1 else -1
    err = dx + dy
    out = []
    while True:
        out.append((y0, x0))
        if x0 == x1 and y0 == y1:
            return out
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def _half_thickness(ink: np.ndarray, y: int, x: int, cap: int) -> int:
    h, w = ink.shape
    for k in range(1, cap + 1):
        y0, y1, x0, x1 = y - k, y + k, x - k, x + k
        if y0 < 0 or x0 < 0 or y1 >= h or x1 >= w:
            return k - 1
        box = ink[y0:y1 + 1, x0:x1 + 1]
        if not (box[0].all() and box[-1].all() and box[:, 0].all() and box[:, -1].all()):
            return k - 1
    return cap


def _own_stroke(ink: np.ndarray, y: int, x: int, depth: int) -> set:
    h, w = ink.shape
    seen = {(y, x)}
    queue = deque([(y, x, 0)])
    while queue:
        cy, cx, d = queue.popleft()
        if d == depth:
            continue
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = cy + dy, cx + dx
                if 0 <= ny < h and 0 <= nx < w and ink[ny, nx] and (ny, nx) not in seen:
                    seen.add((ny, nx))
                    queue.append((ny, nx, d + 1))
    return seen


def _stroke_goes_on(own_yx: np.ndarray, ahead: np.ndarray, y: int, x: int, dy: int,
                    dx: int, half: int) -> bool:
    """Whether e = (y, x) only ends its skeleton, not its stroke: an own pixel farther than
    ``2 half + 2`` from e lies ahead within 60 degrees of d = (dy, dx) (thinning breaks the
    skeleton of a line whose thickness changes, e.g. hatching that thins from 2 px to 1;
    the ink itself goes on, so there is no gap to close). A real end's ink ahead is its
    tip, within about ``half`` of e (``half``: its uncapped half thickness)."""
    if not (dy or dx):
        return False
    vy, vx = own_yx[:, 0] - y, own_yx[:, 1] - x
    far = (ahead > 0) & (vy * vy + vx * vx > (2 * half + 2) ** 2)
    dd = dy * dy + dx * dx
    for py, px, dot in zip(vy[far].tolist(), vx[far].tolist(), ahead[far].tolist()):
        if 4 * dot * dot >= (py * py + px * px) * dd:    # exact: Python integers
            return True
    return False


def close_gaps(ink: np.ndarray, gap: int) -> np.ndarray:
    """``ink`` (bool ``(H, W)``) with the closing segments of step 2 added."""
    closed = ink.copy()
    if gap <= 0 or not ink.any():
        return closed
    h, w = ink.shape
    limit = (gap + 1) ** 2
    for y, x in skeleton_ends(thin(ink)).tolist():
        reach = gap + 2 * _half_thickness(ink, y, x, gap) + 3
        own = _own_stroke(ink, y, x, 2 * reach + 2)
        half = _half_thickness(ink, y, x, 2 * reach + 2)
        own_yx = np.array(sorted(own), np.int64)
        dy = len(own) * y - int(own_yx[:, 0].sum())      # the stroke's direction, exact
        dx = len(own) * x - int(own_yx[:, 1].sum())
        ahead = (own_yx[:, 0] - y) * dy + (own_yx[:, 1] - x) * dx
        tip = own_yx[ahead >= 0]
        if _stroke_goes_on(own_yx, ahead, y, x, dy, dx, half):
            continue
        y0, y1 = max(0, y - reach), min(h - 1, y + reach)
        x0, x1 = max(0, x - reach), min(w - 1, x + reach)
        best = None
        for py, px in np.argwhere(ink[y0:y1 + 1, x0:x1 + 1]).tolist():
            py, px = py + y0, px + x0
            vy, vx = py - y, px - x
            d2 = vy * vy + vx * vx
            if d2 > reach * reach or (py, px) in own or (best is not None and d2 >= best[0]):
                continue
            dot = vy * dy + vx * dx
            if (dy or dx) and (dot <= 0 or 4 * dot * dot < d2 * (dy * dy + dx * dx)):
                continue
            if ((tip[:, 0] - py) ** 2 + (tip[:, 1] - px) ** 2).min() > limit:
                continue
            best = (d2, py, px)
        if best is not None:
            for sy, sx in bresenham(y, x, best[1], best[2]):
                closed[sy, sx] = True
    return closed


def renumber(labels: np.ndarray) -> np.ndarray:
    """Labels renamed ``0..n-1`` in raster order of each label's first pixel (int32)."""
    flat = labels.ravel()
    values, first = np.unique(flat, return_index=True)
    order = np.argsort(first, kind="stable")
    new = np.empty(len(values), np.int32)
    new[order] = np.arange(len(values), dtype=np.int32)
    return new[np.searchsorted(values, flat)].reshape(labels.shape)


def label_paper(closed: np.ndarray) -> np.ndarray:
    """4-connected regions of ``~closed``: int32 ``(H, W)``, ``closed`` pixels 0, regions
    ``1..n`` in raster order of their first pixel."""
    n, labels = cv2.connectedComponents((~closed).astype(np.uint8), connectivity=4,
                                        ltype=cv2.CV_32S)
    if n <= 1:
        return np.zeros(closed.shape, np.int32)
    values, first = np.unique(labels.ravel(), return_index=True)
    first, values = first[values > 0], values[values > 0]
    new = np.zeros(n, np.int32)
    new[values[np.argsort(first, kind="stable")]] = np.arange(1, len(values) + 1, dtype=np.int32)
    return new[labels]


def trap(labels: np.ndarray) -> np.ndarray:
    """Step 4 on a map from :func:`label_paper` (0 = unlabelled); a map with no label
    at all becomes one region (label 1)."""
    lab = labels.copy()
    if not (lab > 0).any():
        return np.ones_like(lab)
    big = np.iinfo(np.int32).max
    while True:
        todo = lab == 0
        if not todo.any():
            return lab
        known = np.pad(np.where(lab > 0, lab, big), 1, constant_values=big)
        near = np.minimum(np.minimum(known[:-2, 1:-1], known[2:, 1:-1]),
                          np.minimum(known[1:-1, :-2], known[1:-1, 2:]))
        grow = todo & (near < big)
        lab[grow] = near[grow]


def _adjacency(lab: np.ndarray) -> dict:
    pairs = []
    for a, b in ((lab[:, :-1], lab[:, 1:]), (lab[:-1, :], lab[1:, :])):
        diff = a != b
        pairs.append(np.stack([np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])], 1))
    pairs = np.concatenate(pairs).astype(np.int64)
    adj: dict = {}
    if len(pairs):
        keys, counts = np.unique(pairs[:, 0] * (1 << 32) + pairs[:, 1], return_counts=True)
        for key, c in zip(keys.tolist(), counts.tolist()):
            a, b = key >> 32, key & 0xFFFFFFFF
            adj.setdefault(a, {})[b] = c
            adj.setdefault(b, {})[a] = c
    return adj


def merge_small(lab: np.ndarray, paper: np.ndarray, min_area: int) -> np.ndarray:
    """Step 5 on a fully labelled map (labels ``1..n``); ``paper`` marks the pixels that
    count towards a region's area."""
    n = int(lab.max())
    area = np.bincount(lab[paper], minlength=n + 1).astype(np.int64)
    small = [r for r in range(1, n + 1) if area[r] < min_area]
    if not small:
        return lab
    adj = _adjacency(lab)
    parent = np.arange(n + 1, dtype=np.int64)
    for r in sorted(small, key=lambda r: (area[r], r)):
        if parent[r] != r or area[r] >= min_area or not adj.get(r):
            continue
        target = min(adj[r].items(), key=lambda kv: (-kv[1], kv[0]))[0]
        for x, c in adj.pop(r).items():
            del adj[x][r]
            if x != target:
                adj[target][x] = adj[target].get(x, 0) + c
                adj[x][target] = adj[x].get(target, 0) + c
        area[target] += area[r]
        parent[r] = target
    for r in range(1, n + 1):       # parents point to labels merged later: follow them
        root = r
        while parent[root] != root:
            root = parent[root]
        parent[r] = root
    return parent[lab].astype(np.int32)


def flat_regions_reference(gray: np.ndarray, gap: int, min_area: int,
                           threshold: int) -> np.ndarray:
    """Region labels ``int32 (H, W)`` (``0..n-1``) of the line art's 8-bit gray (uint8,
    0 = ink) with ink ``gray < threshold``; see the module doc for the steps."""
    ink = gray < threshold
    closed = close_gaps(ink, gap)
    labels = trap(label_paper(closed))
    labels = merge_small(labels, ~closed, min_area)
    return renumber(labels)
