"""Series consistency: which regions of one page are the same regions of another.

A drawing moves, scales, turns a little and is partly hidden between panels. Pages are
compared as *figures*, not region by region, because the regions themselves change: a
region of the reference may be cut by an occluder, merged with a neighbour where a thin
line does not survive a smaller scale, or leak into the page background where the line
art does not close.

1. **figures.** The drawn pixels of a page (its ink and every region that does not touch
   the page border) are grouped: pixels within ``GROUP_REACH`` of the page's shorter
   side of each other are one figure (one drawing, or drawings that touch). A figure's
   features are its *edges*: the outline of its ink (a thin line is all outline; a dark
   fill gives its contour, as a line drawn around it would), or, for a page known only
   by its region labels, the pixels where the label changes.
2. **registration.** Each figure of the page is registered to each figure of the
   reference by a similarity transform (rotation, scale, translation) that maximizes a
   symmetric truncated chamfer agreement of the edges: the share of the reference's
   edge pixels that land within ``tau`` of a page edge and the share of the page's that
   land within ``tau`` of a reference edge (their harmonic mean). Hypotheses: the
   figures' centroids aligned at scales around ``sqrt`` of their area ratio and turns
   of -30..30 degrees, and single regions aligned (a large page region on each of the
   reference regions most like it in shape, log Hu moments 1-2); the best few are
   refined by iterative closest points (pairs within ``tau`` both ways, least-squares
   similarity, ``tau`` shrinking). Occlusion only lowers the agreement of every
   hypothesis alike, so the visible part still decides. The refined candidates are
   judged by the *oriented* agreement (edge pixels count only where both edges run the
   same way, within ``ORIENT_TOL``: a small drawing's dense lines lie within ``tau`` of
   almost any other drawing's); a figure whose best is below ``MIN_SCORE`` has no
   counterpart.
3. **transfer.** Under that transform every region of the page figure looks at the
   reference pixels that land on its non-ink pixels. When at least ``min_overlap`` of
   them are colored drawing (neither the reference's paper nor its ink) it takes their
   color: exactly the color of the reference region covering most of it when that is
   the color there (within ``SAME_COLOR``), otherwise their per-channel median (a
   region whose counterpart the reference's lines did not close, so that it has no
   region of its own there). Failing that, a region at least ``INK_FILL`` on reference
   ink is a dark fill the reference drew as solid ink and takes the ink's color.
   ``match_regions`` does the same with labels only: each region takes the reference
   region that covers at least ``min_overlap`` of it.

Regions left without a color have no counterpart: the model colors them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import InvalidInputError

__all__ = ["PageRegions", "Reference", "describe", "match_regions", "prepare_reference",
           "reference_colors", "register", "series_hints", "transfer_colors"]

MIN_AREA = 8            # regions smaller than this are never matched (too few pixels)
GROUP_REACH = 0.03      # drawn pixels this close (share of the shorter side) are one figure
MIN_FIGURE = 32         # figures with fewer drawn pixels are not registered
MIN_SCORE = 0.3         # the least oriented edge agreement (0..1) of a registration kept
ORIENT_TOL = np.radians(30)                        # edges that run the same way
ANGLES = np.radians(np.arange(-30, 31, 5))         # hypotheses' turns
SCALES = (0.7, 0.85, 1.0, 1.18, 1.4)               # ... times sqrt(area ratio)
SCALE_RANGE = (0.25, 4.0)                          # figures' scale ratios considered
COARSE_POINTS, FINE_POINTS = 200, 600              # edge pixels sampled per figure
REFINE = 3              # hypotheses refined by ICP per page figure
REFINE_SHARE = 0.7      # ... those within this share of the best coarse agreement
ICP_STEPS = 7


@dataclass
class Figure:
    """One figure of a page: drawn pixels within ``GROUP_REACH`` of each other."""

    box: tuple                 # (y0, y1, x0, x1) of its drawn pixels
    mask: np.ndarray           # bool, the drawn pixels inside ``box``
    area: float                # drawn pixels
    centroid: np.ndarray       # (x, y)
    regions: np.ndarray        # int64: the inner regions mostly inside it (>= MIN_AREA)
    points: np.ndarray         # float64 (k, 2): its edge pixels (x, y)
    angle: np.ndarray          # float64 (k,): the direction across the edge there (mod pi)
    origin: np.ndarray         # (x, y) of ``dist``'s first pixel
    dist: np.ndarray           # float32: distance to its nearest edge pixel (box + margin)
    nearest: np.ndarray        # int32: index into ``points`` of that edge pixel

    def lookup(self, p: np.ndarray):
        """Page points ``(..., 2)`` -> (distance to the nearest edge pixel, inf outside
        the field; index of that pixel)."""
        x = np.rint(p[..., 0] - self.origin[0]).astype(np.int64)
        y = np.rint(p[..., 1] - self.origin[1]).astype(np.int64)
        h, w = self.dist.shape
        ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        i = np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1)
        return np.where(ok, self.dist.ravel()[i], np.inf), self.nearest.ravel()[i]

    @property
    def size(self) -> float:
        return float(np.sqrt(self.area))


@dataclass
class PageRegions:
    """A page's regions (``n``) and figures (``m``)."""

    labels: np.ndarray         # int32 (H, W)
    area: np.ndarray           # float64 (n,)
    centroid: np.ndarray       # float64 (n, 2): (x, y)
    border: np.ndarray         # bool (n,): touches the page border (background)
    component: np.ndarray      # int64 (n,): the figure a region lies in, -1 none
    hu: np.ndarray             # float64 (n, 2): -sign * log10 |Hu 1, 2|
    figures: list = field(default_factory=list)
    drawn: np.ndarray | None = None   # bool (H, W): ink and inner regions


def _check_labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInputError(f"region labels must be a non-empty integer (H, W) array, got "
                                f"{labels.dtype} {labels.shape}")
    if labels.min() < 0:
        raise InvalidInputError("region labels must be >= 0")
    return labels.astype(np.int32, copy=False)


def _check_mask(mask, shape, name: str) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != shape or mask.dtype != bool:
        raise InvalidInputError(f"{name} must be a bool {shape} array, got {mask.dtype} "
                                f"{mask.shape}")
    return mask


def _edges(labels: np.ndarray, ink: np.ndarray | None) -> np.ndarray:
    """Edge pixels: the outline of the ink (a 1-2 px line is all outline), or without
    ink the pixels next to another label."""
    if ink is not None:
        inner = cv2.erode(ink.astype(np.uint8), np.ones((3, 3), np.uint8))
        return ink & (inner == 0)
    e = np.zeros(labels.shape, bool)
    d = labels[:, 1:] != labels[:, :-1]
    e[:, 1:] |= d
    e[:, :-1] |= d
    d = labels[1:] != labels[:-1]
    e[1:] |= d
    e[:-1] |= d
    return e


def _figure(labels, edges, area, border, box, mask, margin) -> Figure:
    H, W = labels.shape
    y0, y1, x0, x1 = box
    a = float(mask.sum())
    my, mx = np.nonzero(mask)
    centroid = np.array([mx.mean() + x0, my.mean() + y0])
    inside = np.bincount(labels[y0:y1, x0:x1][mask], minlength=len(area))
    regions = np.flatnonzero((2 * inside > area) & ~border & (area >= MIN_AREA))
    fy0, fy1 = max(0, y0 - margin), min(H, y1 + margin)
    fx0, fx1 = max(0, x0 - margin), min(W, x1 + margin)
    e = np.zeros((fy1 - fy0, fx1 - fx0), bool)
    e[y0 - fy0:y1 - fy0, x0 - fx0:x1 - fx0] = edges[y0:y1, x0:x1] & mask
    ey, ex = np.nonzero(e)
    points = np.stack([ex + fx0, ey + fy0], 1).astype(np.float64)
    angle = _orientation(e)[ey, ex] if len(ey) else np.zeros(0)
    if len(ey):
        dist, near = cv2.distanceTransformWithLabels(
            np.where(e, 0, 255).astype(np.uint8), cv2.DIST_L2, 5,
            labelType=cv2.DIST_LABEL_PIXEL)
        near = near - 1                # labels count the edge pixels in raster order
    else:
        dist = np.full(e.shape, np.inf, np.float32)
        near = np.zeros(e.shape, np.int32)
    return Figure((y0, y1, x0, x1), mask, a, centroid, regions, points, angle,
                  np.array([fx0, fy0], np.float64), dist, near)


def _orientation(edges: np.ndarray) -> np.ndarray:
    """Per pixel the direction (radians, modulo pi) across the edges near it: the
    dominant gradient direction of the blurred edge mask (a structure tensor), the same
    on both sides of a line and along its middle."""
    e = cv2.GaussianBlur(edges.astype(np.float32), (0, 0), 1.0)
    gx, gy = cv2.Sobel(e, cv2.CV_32F, 1, 0), cv2.Sobel(e, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cv2.GaussianBlur(v, (0, 0), 1.5) for v in (gx * gx, gy * gy, gx * gy))
    return 0.5 * np.arctan2(2 * jxy, jxx - jyy)


def describe(labels, ink=None) -> PageRegions:
    """The regions of ``labels`` (int ``(H, W)``, ``0..n-1``) and the page's figures
    (``ink``: bool ``(H, W)``, the line art's ink; None: edges from the labels)."""
    from scipy.ndimage import find_objects
    labels = _check_labels(labels)
    H, W = labels.shape
    ink = _check_mask(ink, labels.shape, "ink")
    n = int(labels.max()) + 1
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    ys, xs = np.divmod(np.arange(H * W), W)
    cx = np.bincount(flat, weights=xs, minlength=n) / np.maximum(area, 1)
    cy = np.bincount(flat, weights=ys, minlength=n) / np.maximum(area, 1)
    border = np.zeros(n, bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        border[edge] = True
    hu = np.zeros((n, 2))
    for i, sl in enumerate(find_objects(labels + 1)):
        if sl is None or border[i] or area[i] < MIN_AREA:
            continue
        h = cv2.HuMoments(cv2.moments((labels[sl] == i).astype(np.uint8), True))[:2, 0]
        hu[i] = -np.sign(h) * np.log10(np.maximum(np.abs(h), 1e-30))
    drawn = ~border[labels]
    if ink is not None:
        drawn |= ink
    edges = _edges(labels, ink)
    r = max(2, round(GROUP_REACH * min(H, W)))
    near = cv2.dilate(drawn.astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    count, group, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
    component = np.full(n, -1, np.int64)
    figures = []
    margin = max(8, round(0.06 * min(H, W)))
    for g in range(1, count):
        x, y, w, h = (int(v) for v in stats[g, :4])
        box = (y, y + h, x, x + w)
        mask = (group[y:y + h, x:x + w] == g) & drawn[y:y + h, x:x + w]
        if mask.sum() < MIN_FIGURE:
            continue
        fig = _figure(labels, edges, area, border, box, mask, margin)
        component[fig.regions] = len(figures)
        figures.append(fig)
    return PageRegions(labels, area, np.stack([cx, cy], 1), border, component, hu,
                       figures, drawn)


# ---------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------

def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2 x 3) taking points ``src`` ``(k, 2)`` to ``dst``."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    den = max(float((a ** 2).sum()), 1e-9)
    p = float((a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]).sum()) / den
    q = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / den
    R = np.array([[p, -q], [q, p]])
    return np.hstack([R, (md - R @ ms)[:, None]])


def _sample(points: np.ndarray, k: int) -> np.ndarray:
    if len(points) <= k:
        return points
    return points[np.linspace(0, len(points) - 1, k).astype(np.int64)]


def _agreement(H: np.ndarray, page: Figure, ref: Figure, tau: float, k: int,
               oriented: bool = False) -> np.ndarray:
    """Per hypothesis (rows ``(a, b, tx, ty)`` of ``H``: the similarity
    ``x' = a x - b y + tx, y' = b x + a y + ty`` from reference to page) the harmonic
    mean of the shares of reference and page edge pixels (``k`` sampled of each) within
    ``tau`` page pixels of an edge of the other (weights ``1 - (d / tau)^2``);
    ``oriented``: only where the two edges also run the same way (within
    ``ORIENT_TOL``), so a drawing's dense lines do not agree with any other by chance."""
    iq = _sample(np.arange(len(ref.points)), k)
    ip = _sample(np.arange(len(page.points)), k)
    q, p = ref.points[iq], page.points[ip]
    a, b, tx, ty = (H[:, i:i + 1] for i in range(4))
    fx = a * q[:, 0] - b * q[:, 1] + tx
    fy = b * q[:, 0] + a * q[:, 1] + ty
    d, near = page.lookup(np.stack([fx, fy], -1))
    w = np.clip(1 - (d / tau) ** 2, 0, 1)
    turn = np.arctan2(b, a)
    if oriented:
        w *= _same_way(ref.angle[iq] + turn, page.angle[near])
    fwd = w.mean(1)
    s2 = a * a + b * b
    dx, dy = p[:, 0] - tx, p[:, 1] - ty
    d, near = ref.lookup(np.stack([(a * dx + b * dy) / s2, (a * dy - b * dx) / s2], -1))
    w = np.clip(1 - (d * np.sqrt(s2) / tau) ** 2, 0, 1)
    if oriented:
        w *= _same_way(page.angle[ip] - turn, ref.angle[near])
    bwd = w.mean(1)
    return 2 * fwd * bwd / np.maximum(fwd + bwd, 1e-9)


def _same_way(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Directions modulo pi within ``ORIENT_TOL`` of each other."""
    return np.abs((a - b + np.pi / 2) % np.pi - np.pi / 2) < ORIENT_TOL


def _matrix(h: np.ndarray) -> np.ndarray:
    a, b, tx, ty = h
    return np.array([[a, -b, tx], [b, a, ty]])


def _refine(M: np.ndarray, page: Figure, ref: Figure, tau0: float, tau1: float) -> np.ndarray:
    """Iterative closest points: pairs (reference edge pixel, page edge pixel) within
    ``tau`` both ways, the least-squares similarity of the pairs; ``tau`` from
    ``tau0`` down to ``tau1``."""
    q = _sample(ref.points, FINE_POINTS)
    p = _sample(page.points, FINE_POINTS)
    reach = 1 + np.abs(q).max()
    step = 0
    while step < ICP_STEPS:
        tau = tau0 + (tau1 - tau0) * step / max(ICP_STEPS - 1, 1)
        R, t = M[:, :2], M[:, 2]
        scale = np.sqrt(abs(np.linalg.det(R)))
        d1, k1 = page.lookup(q @ R.T + t)
        d2, k2 = ref.lookup((p - t) @ np.linalg.inv(R).T)
        a, b = d1 < tau, d2 * scale < tau
        if a.sum() + b.sum() < 3:
            break
        new = _similarity(np.concatenate([q[a], ref.points[k2[b]]]),
                          np.concatenate([page.points[k1[a]], p[b]]))
        if not SCALE_RANGE[0] <= np.sqrt(abs(np.linalg.det(new[:, :2]))) <= SCALE_RANGE[1]:
            break
        moved = np.abs(new - M).max() * reach      # the most any pixel moved
        M = new
        # settled: on to the last, tightest step (done when that one settles too)
        step = ICP_STEPS - 1 + (step == ICP_STEPS - 1) if moved < 0.05 else step + 1
    return M


def _hypotheses(ref: PageRegions, page: PageRegions, fr: Figure, fp: Figure) -> np.ndarray:
    """Candidate similarities taking ``fr`` onto ``fp``: rows ``(a, b, tx, ty)``."""
    s0 = np.sqrt(fp.area / fr.area)
    anchors = [(fr.centroid, fp.centroid, s0 * f, ANGLES) for f in SCALES]
    mine, theirs = fp.regions, fr.regions
    big = mine[np.argsort(-page.area[mine], kind="stable")[:5]]
    if len(big) and len(theirs):
        shape = np.abs(page.hu[big][:, None] - ref.hu[theirs][None]).mean(2)
        near = np.argsort(shape, axis=1, kind="stable")[:, :3]
        for i, b in enumerate(big):
            for a in theirs[near[i]]:
                s = np.sqrt(page.area[b] / ref.area[a])
                if 0.5 < s / s0 < 2:
                    anchors.append((ref.centroid[a], page.centroid[b], s, ANGLES[::2]))
    out = []
    for src, dst, s, angles in anchors:
        a, b = s * np.cos(angles), s * np.sin(angles)
        out.append(np.stack([a, b, dst[0] - a * src[0] + b * src[1],
                             dst[1] - b * src[0] - a * src[1]], 1))
    return np.concatenate(out)


def register(ref: PageRegions, page: PageRegions, figure: int, *,
             min_score: float = MIN_SCORE):
    """The reference figure and similarity transform (2 x 3, reference -> page) that
    best brings a reference figure onto the page's figure ``figure``: ``(reference
    figure, M, agreement)``, or None when no agreement reaches ``min_score``."""
    fp = page.figures[figure]
    if len(fp.points) < 3:
        return None
    tau1 = max(2.0, 0.03 * fp.size)
    tau0 = 2 * tau1
    found = []
    for j, fr in enumerate(ref.figures):
        s0 = np.sqrt(fp.area / fr.area)
        if len(fr.points) < 3 or not SCALE_RANGE[0] <= s0 <= SCALE_RANGE[1]:
            continue
        H = _hypotheses(ref, page, fr, fp)
        score = _agreement(H, fp, fr, tau0, COARSE_POINTS)
        for h in np.argsort(-score, kind="stable")[:REFINE]:
            found.append((score[h], j, _matrix(H[h])))
    found.sort(key=lambda f: -f[0])
    best = None
    for score, j, M in found[:REFINE]:
        if score < REFINE_SHARE * found[0][0]:
            break
        M = _refine(M, fp, ref.figures[j], tau0, tau1)
        h = np.array([[M[0, 0], M[1, 0], M[0, 2], M[1, 2]]])
        s = float(_agreement(h, fp, ref.figures[j], tau1 + 0.5, FINE_POINTS, True)[0])
        if best is None or s > best[2]:
            best = (j, M, s)
    if best is None or best[2] < min_score:
        return None
    return best


def _warp(src: np.ndarray, M: np.ndarray, box: tuple, fill) -> np.ndarray:
    """``src`` warped by ``M`` (reference -> page), only the page's ``box``."""
    y0, y1, x0, x1 = box
    T = M.copy()
    T[:, 2] -= (x0, y0)
    return cv2.warpAffine(src, T, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def _votes(page_lab: np.ndarray, src: np.ndarray, n: int, m: int):
    """Per page region (``0..n-1``) the source label (``0..m-1``) most of its pixels
    carry and that label's share of them."""
    key = page_lab.astype(np.int64) * m + src
    counts = np.bincount(key, minlength=n * m).reshape(n, m)
    best = counts.argmax(1)
    return best, counts[np.arange(n), best], counts.sum(1)


def _check_args(min_overlap, min_score):
    if isinstance(min_overlap, bool) or not isinstance(min_overlap, (int, float)) \
            or not 0 < min_overlap <= 1:
        raise InvalidInputError(f"min_overlap must be in (0, 1], got {min_overlap!r}")
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) \
            or not 0 < min_score <= 1:
        raise InvalidInputError(f"min_score must be in (0, 1], got {min_score!r}")


def match_regions(ref_labels, labels, *, min_overlap: float = 0.5,
                  min_score: float = MIN_SCORE) -> np.ndarray:
    """For every region of ``labels`` the reference region (of ``ref_labels``) that is
    the same region of the drawing, or -1: int64 ``(n,)``. Either may be a
    ``PageRegions`` (``describe``, with the ink when known). See the module doc."""
    _check_args(min_overlap, min_score)
    ref = ref_labels if isinstance(ref_labels, PageRegions) else describe(ref_labels)
    page = labels if isinstance(labels, PageRegions) else describe(labels)
    n, n_ref = len(page.area), len(ref.area)
    out = np.full(n, -1, np.int64)
    ok_ref = ~ref.border & (ref.area >= MIN_AREA)
    for k, fig in enumerate(page.figures):
        found = register(ref, page, k, min_score=min_score)
        if found is None or not len(fig.regions):
            continue
        j, M, _ = found
        keep = np.zeros(n_ref + 1, bool)
        keep[ref.figures[j].regions] = True
        src = np.where(keep[ref.labels] & ok_ref[ref.labels], ref.labels, n_ref)
        warped = _warp(src.astype(np.float32), M, fig.box, float(n_ref)).astype(np.int64)
        y0, y1, x0, x1 = fig.box
        lab = page.labels[y0:y1, x0:x1]
        mine = np.zeros(n, bool)
        mine[fig.regions] = True
        sel = mine[lab]
        best, votes, total = _votes(lab[sel], warped[sel], n, n_ref + 1)
        good = mine & (best < n_ref) & (votes >= min_overlap * page.area)
        out[good] = best[good]
    return out


INK_GRAY = 0.35       # reference_colors: ink is darker than this (BT.601 gray in [0, 1]) ...
INK_CHROMA = 30       # ... and nearly neutral (max - min channel below this, 8-bit)
MIN_INK_SHARE = 0.002  # below this share of dark neutral pixels: outline.extract instead
PAPER_DIFF = 24       # a reference pixel this far (max channel) from its paper is drawing
INK_FILL = 0.6        # transfer: a region at least this much on reference ink (and
                      # not enough on its colors) is a dark fill the reference inked
MEDIAN_SAMPLES = 20000  # transfer: pixels per figure its medians are taken over (at most)
SAME_COLOR = 12       # transfer: a region's pixels' median this close to the reference
                      # region's color takes that color exactly


def reference_ink(rgb: np.ndarray) -> np.ndarray | None:
    """The ink of a colored page drawn with dark lines: bool ``(H, W)`` dark, nearly
    neutral pixels (dark fills such as brown or navy are colors, not ink); None when
    the page has almost none (no inked lines: extract its edges instead)."""
    c = rgb.astype(np.int32)
    gray = (299 * c[..., 0] + 587 * c[..., 1] + 114 * c[..., 2]) / 1000.0
    ink = (gray < INK_GRAY * 255) & (c.max(2) - c.min(2) < INK_CHROMA)
    return ink if ink.mean() >= MIN_INK_SHARE else None


def _reference_regions(colored, gap, min_area):
    """A colored page -> (rgb uint8, labels, ink): its regions from its inked lines
    (:func:`reference_ink`), or from an edge outline when it has none."""
    from . import outline as outline_mod
    from .flats import find_ink, find_regions
    from .imageio import load_image, to_rgb01, to_uint8
    arr = load_image(colored)
    rgb = arr if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3 \
        else to_uint8(to_rgb01(arr))
    ink = reference_ink(rgb)
    gray = outline_mod.extract(rgb, line_art=False) if ink is None \
        else np.where(ink, 0, 255).astype(np.uint8)
    labels = find_regions(gray, gap=gap, min_area=min_area)
    return rgb, labels, find_ink(gray)


def reference_colors(colored, *, gap=None, min_area=None):
    """A colored page -> ``(labels int32 (H, W), colors uint8 (n, 3))``: its regions
    (``find_regions`` on its inked lines, :func:`reference_ink`: an edge outline,
    ``fastcolor.outline.extract``, would double every line, so small regions vanish; a
    page without inked lines falls back to it) and the per-channel median color of the
    page inside each (over its paper pixels: ink left out where the region has any
    other)."""
    rgb, labels, ink = _reference_regions(colored, gap, min_area)
    return labels, region_medians(labels, rgb, ink)


@dataclass
class Reference:
    """A colored page prepared for :func:`transfer_colors`."""

    rgb: np.ndarray            # uint8 (H, W, 3)
    regions: PageRegions       # its regions and figures (edges from its ink)
    colors: np.ndarray         # uint8 (n, 3): per region the median color
    ink: np.ndarray            # bool (H, W): its ink
    drawing: np.ndarray        # bool (H, W): ink, inner regions, or not the paper's color

    @classmethod
    def from_page(cls, rgb: np.ndarray, labels: np.ndarray, ink: np.ndarray) -> "Reference":
        """A colored page whose regions and ink are known (a page colored already)."""
        rgb = np.asarray(rgb)
        labels = _check_labels(labels)
        if rgb.shape != labels.shape + (3,) or rgb.dtype != np.uint8:
            raise InvalidInputError(f"reference colors must be uint8 {labels.shape + (3,)}, "
                                    f"got {rgb.dtype} {rgb.shape}")
        ink = _check_mask(ink, labels.shape, "ink")
        regions = describe(labels, ink)
        paper_px = regions.border[labels] & ~ink
        paper = np.median(rgb[paper_px], axis=0) if paper_px.any() else np.full(3, 255.0)
        differs = np.abs(rgb.astype(np.int32) - paper.astype(np.int32)).max(2) > PAPER_DIFF
        return cls(rgb, regions, region_medians(labels, rgb, ink), ink, regions.drawn | differs)


def prepare_reference(colored, *, gap=None, min_area=None) -> Reference:
    """A colored page (path, PIL, numpy RGB) -> :class:`Reference`: its regions as
    :func:`reference_colors` finds them, its figures and the pixels that are drawing."""
    rgb, labels, ink = _reference_regions(colored, gap, min_area)
    return Reference.from_page(rgb, labels, ink)


def transfer_colors(reference: Reference, page, ink=None, *, min_overlap: float = 0.5,
                    min_score: float = MIN_SCORE):
    """The reference's colors on a page's regions: ``(colors uint8 (n, 3), source int64
    (n,))``. ``page``: region labels or a ``PageRegions`` (``describe(labels, ink)``);
    ``ink``: the page's ink (its pixels vote for no region). Every figure of the page is
    registered to the reference (:func:`register`); a region of it whose non-ink pixels
    land at least ``min_overlap`` on reference drawing takes the color found there (see
    the module doc) and ``source`` the reference region covering most of it; the others
    keep ``source`` -1 (and color 0)."""
    from .flats.colors import grouped_median
    _check_args(min_overlap, min_score)
    if not isinstance(reference, Reference):
        raise InvalidInputError("reference must be a series.Reference (prepare_reference)")
    if not isinstance(page, PageRegions):
        labels = _check_labels(page)
        page = describe(labels, _check_mask(ink, labels.shape, "ink"))
    ink = _check_mask(ink, page.labels.shape, "ink")
    n = len(page.area)
    ref = reference.regions
    n_ref = len(ref.area)
    colors = np.zeros((n, 3), np.uint8)
    source = np.full(n, -1, np.int64)
    # per reference pixel: its region where it is colored drawing, n_ref where it is
    # paper, n_ref + 1 where it is ink (a line, or a dark fill drawn as solid ink)
    src = np.where(reference.ink, n_ref + 1,
                   np.where(reference.drawing, ref.labels, n_ref)).astype(np.float32)
    for k, fig in enumerate(page.figures):
        if not len(fig.regions):
            continue
        found = register(ref, page, k, min_score=min_score)
        if found is None:
            continue
        j, M, _ = found
        y0, y1, x0, x1 = fig.box
        lab = page.labels[y0:y1, x0:x1]
        mine = np.zeros(n, bool)
        mine[fig.regions] = True
        sel = mine[lab] if ink is None else mine[lab] & ~ink[y0:y1, x0:x1]
        code = _warp(src, M, fig.box, float(n_ref)).astype(np.int64)[sel]
        rgb = _warp(reference.rgb, M, fig.box, (0, 0, 0))[sel].astype(np.int32)
        lab = lab[sel].astype(np.int64)
        paper = np.bincount(lab, minlength=n)
        colored, inked = code < n_ref, code == n_ref + 1
        best, _, total = _votes(lab[colored], code[colored], n, n_ref)
        by_color = (paper > 0) & (total >= min_overlap * paper)
        by_ink = (paper > 0) & ~by_color & (np.bincount(lab[inked], minlength=n)
                                            >= INK_FILL * paper)
        good = mine & (by_color | by_ink)
        use = (colored & by_color[lab]) | (inked & by_ink[lab])
        lu, cu = lab[use], rgb[use]
        step = max(1, -(-len(lu) // MEDIAN_SAMPLES))  # a flat color's median survives striding
        lu, cu = lu[::step], cu[::step]
        good &= np.bincount(lu, minlength=n) > 0
        if not good.any():
            continue
        med = np.stack([grouped_median(lu, cu[:, c].astype(np.float64), n)
                        for c in range(3)], 1)
        med = np.clip(np.rint(med), 0, 255).astype(np.int32)
        exact = by_color & (np.abs(reference.colors[best].astype(np.int32) - med).max(1)
                            <= SAME_COLOR)
        colors[good] = np.where(exact[good, None], reference.colors[best[good]], med[good])
        source[good] = best[good]
    return colors, source


def region_medians(labels: np.ndarray, rgb: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """uint8 ``(n, 3)``: per region the per-channel median of ``rgb`` over its non-ink
    pixels (all its pixels when it has none)."""
    from .flats.colors import grouped_median
    n = int(labels.max()) + 1
    lab = labels.ravel().astype(np.int64)
    paper = ~ink.ravel()
    has = np.bincount(lab[paper], minlength=n) > 0
    use = paper | ~has[lab]
    px = rgb.reshape(-1, 3)[use].astype(np.float64)
    return np.stack([grouped_median(lab[use], px[:, c], n) for c in range(3)],
                    1).astype(np.uint8)


def series_hints(labels: np.ndarray, match: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """A page-sized RGBA stroke layer ``(H, W, 4)``: one opaque pixel inside every
    matched region (its pixel nearest its centroid), the matched reference color."""
    labels = _check_labels(labels)
    H, W = labels.shape
    strokes = np.zeros((H, W, 4), np.uint8)
    regions = np.flatnonzero(match >= 0)
    if not len(regions):
        return strokes
    flat = labels.ravel()
    n = len(match)
    ys, xs = np.divmod(np.arange(H * W), W)
    area = np.bincount(flat, minlength=n).astype(np.float64)
    cx = np.bincount(flat, weights=xs, minlength=n) / np.maximum(area, 1)
    cy = np.bincount(flat, weights=ys, minlength=n) / np.maximum(area, 1)
    d = (xs - cx[flat]) ** 2 + (ys - cy[flat]) ** 2
    order = np.lexsort((d, flat))
    first = order[np.r_[True, flat[order][1:] != flat[order][:-1]]]
    pixel = np.full(n, -1, np.int64)
    pixel[flat[first]] = first
    py, px = np.divmod(pixel[regions], W)
    strokes[py, px, :3] = colors[match[regions]]
    strokes[py, px, 3] = 255
    return strokes
