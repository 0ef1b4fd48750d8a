"""Series consistency: which regions of one page are the same regions of another.

A drawing moves, scales, turns a little and is partly hidden between panels. Regions
(``fastcolor.flats.find_regions`` labels) are matched in two passes:

1. **descriptors + Hungarian.** Regions touching the page border are the background and
   are not matched. The others fall into *components*: connected groups of adjacent
   regions (one drawing, or drawings that overlap). Each region is described by its
   area relative to its component, its centroid relative to the component's centroid
   and size (``sqrt(area)``), its shape (log Hu moments 1-2: invariant to translation,
   scale and rotation) and its place in the adjacency graph (how many neighbours, the
   relative area of its largest neighbour). The cost of a pair is a weighted sum of the
   differences; ``scipy.optimize.linear_sum_assignment`` picks the cheapest one-to-one
   assignment and pairs costing more than ``max_cost`` stay unmatched.
2. **registration + overlap.** For each component of the page, the reference component
   with the most matched area, and a similarity transform (rotation, scale,
   translation: ``cv2.estimateAffinePartial2D`` with RANSAC on the matched centroids)
   from that reference component to it. The reference labels are warped by that
   transform; every region of the page takes the reference region that covers most of
   it, when that covers at least ``min_overlap`` of the region. A region cut in two by
   an occluder finds its counterpart for both pieces; a region of an occluder (outside
   the warped reference) finds none. Components without a transform keep pass 1.

Regions left with ``-1`` have no counterpart: the model colors them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import InvalidInputError

__all__ = ["PageRegions", "describe", "match_regions", "reference_colors", "series_hints"]

MIN_AREA = 8            # regions smaller than this are never matched (too few pixels)
GROUP_REACH = 0.03      # regions this close (share of the shorter side) are one component


@dataclass
class PageRegions:
    """The descriptors of a page's regions (``n`` regions, ``m`` components)."""

    labels: np.ndarray         # int32 (H, W)
    area: np.ndarray           # float64 (n,)
    centroid: np.ndarray       # float64 (n, 2): (x, y)
    border: np.ndarray         # bool (n,): touches the page border (background)
    component: np.ndarray      # int64 (n,): component id, -1 for border regions
    comp_area: np.ndarray      # float64 (m,)
    comp_centroid: np.ndarray  # float64 (m, 2)
    hu: np.ndarray             # float64 (n, 2): -sign * log10 |Hu 1, 2|
    degree: np.ndarray         # float64 (n,): neighbours in the component
    big_neighbour: np.ndarray  # float64 (n,): largest neighbour's area / the region's

    @property
    def rel_area(self) -> np.ndarray:
        a = np.where(self.component >= 0, self.comp_area[np.maximum(self.component, 0)], 1.0)
        return self.area / np.maximum(a, 1.0)

    @property
    def rel_pos(self) -> np.ndarray:
        c = np.maximum(self.component, 0)
        scale = np.sqrt(np.maximum(self.comp_area[c], 1.0))[:, None] if len(c) else 1.0
        return (self.centroid - self.comp_centroid[c]) / scale

    def candidates(self) -> np.ndarray:
        return np.flatnonzero(~self.border & (self.area >= MIN_AREA))


def _check_labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInputError(f"region labels must be a non-empty integer (H, W) array, got "
                                f"{labels.dtype} {labels.shape}")
    if labels.min() < 0:
        raise InvalidInputError("region labels must be >= 0")
    return labels.astype(np.int32, copy=False)


def _adjacency(labels: np.ndarray, n: int):
    """Unique 4-adjacent label pairs ``(a, b)`` with ``a < b`` and their pixel counts."""
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])):
        diff = a != b
        lo, hi = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
        pairs.append(lo.astype(np.int64) * n + hi)
    keys, counts = np.unique(np.concatenate(pairs), return_counts=True)
    return keys // n, keys % n, counts


def describe(labels) -> PageRegions:
    """The descriptors of every region of ``labels`` (int ``(H, W)``, ``0..n-1``)."""
    from scipy.ndimage import find_objects
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    labels = _check_labels(labels)
    H, W = labels.shape
    n = int(labels.max()) + 1
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    ys, xs = np.divmod(np.arange(H * W), W)
    cx = np.bincount(flat, weights=xs, minlength=n) / np.maximum(area, 1)
    cy = np.bincount(flat, weights=ys, minlength=n) / np.maximum(area, 1)
    border = np.zeros(n, bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        border[edge] = True
    a, b, _ = _adjacency(labels, n)
    inner = ~border[a] & ~border[b]
    a, b = a[inner], b[inner]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    if GROUP_REACH > 0:        # parts of one drawing apart by a little paper: one group
        r = max(2, round(GROUP_REACH * min(H, W)))
        near = cv2.dilate((~border)[labels].astype(np.uint8),
                          cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        _, grp = cv2.connectedComponents(near, connectivity=8)
        g = np.zeros(n, np.int64)
        g[flat] = grp.ravel()              # any pixel's group: a region lies in one
        comp = g
    comp = np.where(border, -1, comp)
    ids, comp = np.unique(comp, return_inverse=True)
    comp = comp - (1 if len(ids) and ids[0] == -1 else 0)
    comp = np.where(border, -1, comp)
    m = int(comp.max()) + 1 if len(comp) and comp.max() >= 0 else 0
    inside = comp >= 0
    comp_area = np.bincount(comp[inside], weights=area[inside], minlength=m)
    comp_centroid = np.stack([
        np.bincount(comp[inside], weights=(area * c)[inside], minlength=m)
        for c in (cx, cy)], 1) / np.maximum(comp_area, 1)[:, None]
    hu = np.zeros((n, 2))
    for i, sl in enumerate(find_objects(labels + 1)):
        if sl is None or border[i]:
            continue
        h = cv2.HuMoments(cv2.moments((labels[sl] == i).astype(np.uint8), True))[:2, 0]
        hu[i] = -np.sign(h) * np.log10(np.maximum(np.abs(h), 1e-30))
    degree = np.bincount(np.concatenate([a, b]), minlength=n).astype(np.float64)
    big = np.zeros(n)
    if len(a):
        np.maximum.at(big, a, area[b])
        np.maximum.at(big, b, area[a])
    return PageRegions(labels, area, np.stack([cx, cy], 1), border, comp, comp_area,
                       comp_centroid, hu, degree, big / np.maximum(area, 1))


def _descriptor_cost(ref: PageRegions, page: PageRegions, ri: np.ndarray, pi: np.ndarray,
                     weights=(1.0, 2.0, 1.0, 0.15, 0.3)) -> np.ndarray:
    """Cost ``(len(ri), len(pi))`` of pairing reference regions ``ri`` with ``pi``."""
    wa, wp, wh, wd, wn = weights
    la, lb = np.log(ref.rel_area[ri]), np.log(page.rel_area[pi])
    cost = wa * np.abs(la[:, None] - lb[None])
    cost += wp * np.linalg.norm(ref.rel_pos[ri][:, None] - page.rel_pos[pi][None], axis=2)
    cost += wh * np.abs(ref.hu[ri][:, None] - page.hu[pi][None]).mean(axis=2)
    cost += wd * np.abs(ref.degree[ri][:, None] - page.degree[pi][None])
    nb_a, nb_b = np.log1p(ref.big_neighbour[ri]), np.log1p(page.big_neighbour[pi])
    cost += wn * np.abs(nb_a[:, None] - nb_b[None])
    return cost


def _hungarian(ref: PageRegions, page: PageRegions, max_cost: float) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment
    out = np.full(len(page.area), -1, np.int64)
    ri, pi = ref.candidates(), page.candidates()
    if not len(ri) or not len(pi):
        return out
    cost = _descriptor_cost(ref, page, ri, pi)
    rows, cols = linear_sum_assignment(np.minimum(cost, max_cost * 2))
    ok = cost[rows, cols] <= max_cost
    out[pi[cols[ok]]] = ri[rows[ok]]
    return out


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2 x 3) taking points ``src`` ``(k, 2)`` to ``dst``."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    den = max(float((a ** 2).sum()), 1e-9)
    p = float((a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]).sum()) / den
    q = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / den
    R = np.array([[p, -q], [q, p]])
    return np.hstack([R, (md - R @ ms)[:, None]])


def _transform(ref: PageRegions, page: PageRegions, match: np.ndarray, comp: int,
               top: int = 10, per: int = 3):
    """The similarity transform (2 x 3) from a reference component to page component
    ``comp`` that brings the most region area of the component onto reference regions
    of a consistent size (hypotheses: pairs of candidate correspondences, the
    candidates being each of the ``top`` largest regions' ``per`` nearest reference
    regions in shape, and the Hungarian matches), refined on its inliers; or None."""
    mine = np.flatnonzero((page.component == comp) & (page.area >= MIN_AREA))
    ri = ref.candidates()
    if len(mine) < 2 or len(ri) < 2:
        return None
    big = mine[np.argsort(-page.area[mine], kind="stable")[:top]]
    shape = np.abs(page.hu[big][:, None] - ref.hu[ri][None]).mean(2)
    near = np.argsort(shape, axis=1, kind="stable")[:, :per]
    pa = [ri[near[k, j]] for k in range(len(big)) for j in range(near.shape[1])]
    pb = [big[k] for k in range(len(big)) for j in range(near.shape[1])]
    hm = mine[match[mine] >= 0]
    pa, pb = np.array(pa + list(match[hm]), np.int64), np.array(pb + list(hm), np.int64)
    i, j = np.triu_indices(len(pa), 1)
    ok = (pa[i] != pa[j]) & (pb[i] != pb[j]) & (ref.component[pa[i]] == ref.component[pa[j]])
    i, j = i[ok], j[ok]
    if not len(i):
        return None
    va = ref.centroid[pa[j]] - ref.centroid[pa[i]]
    vb = page.centroid[pb[j]] - page.centroid[pb[i]]
    la, lb = np.hypot(*va.T), np.hypot(*vb.T)
    scale = lb / np.maximum(la, 1e-9)
    angle = np.arctan2(vb[:, 1], vb[:, 0]) - np.arctan2(va[:, 1], va[:, 0])
    angle = (angle + np.pi) % (2 * np.pi) - np.pi
    ok = (la > 3) & (scale > 0.3) & (scale < 3.0) & (np.abs(angle) < np.radians(40))
    i, j, scale, angle = i[ok], j[ok], scale[ok], angle[ok]
    if not len(i):
        return None
    c, s_ = scale * np.cos(angle), scale * np.sin(angle)
    R = np.stack([np.stack([c, -s_], 1), np.stack([s_, c], 1)], 1)          # (h, 2, 2)
    t = page.centroid[pb[i]] - np.einsum("hij,hj->hi", R, ref.centroid[pa[i]])
    cand_r = ri                                             # (n_r,)
    pts = np.einsum("hij,nj->hni", R, ref.centroid[cand_r]) + t[:, None]   # (h, n_r, 2)
    dist = np.linalg.norm(pts[:, :, None] - page.centroid[mine][None, None], axis=3)
    tol = np.maximum(2.0, 0.35 * np.sqrt(page.area[mine]))[None, None]
    size = np.abs(np.log(page.area[mine][None, None] /
                         (scale[:, None, None] ** 2 * ref.area[cand_r][None, :, None])))
    same_comp = ref.component[cand_r][None, :, None] == ref.component[pa[i]][:, None, None]
    fit = (dist < tol) & (size < 0.7) & same_comp                       # (h, n_r, n_t)
    score = (fit.any(1) * page.area[mine][None]).sum(1)
    best = int(np.argmax(score))
    if fit[best].any(0).sum() < 3 and score[best] < 0.5 * page.area[mine].sum():
        # few whole regions agree (an occluder cuts them): the hypothesis under which
        # the component's pixels fall on single reference regions most consistently
        top_h = np.argsort(-score, kind="stable")[:OVERLAP_HYPOTHESES]
        purity = _overlap_purity(ref, page, mine, R[top_h], t[top_h],
                                 ref.component[pa[i[top_h]]])
        k = int(np.argmax(purity))
        if purity[k] < MIN_PURITY:
            return None
        best = int(top_h[k])
    hit = fit[best]
    ia = np.argmax(np.where(hit, -dist[best], -np.inf), axis=0)         # per page region
    cols = np.flatnonzero(hit.any(0))
    M = _similarity(ref.centroid[cand_r[ia[cols]]], page.centroid[mine[cols]]) \
        if len(cols) >= 2 else np.hstack([R[best], t[best][:, None]])
    return int(ref.component[pa[i[best]]]), M


OVERLAP_HYPOTHESES = 48  # _transform: hypotheses checked pixel by pixel when few regions agree
MIN_PURITY = 0.4         # ... and the share of sampled pixels that must agree


def _overlap_purity(ref: PageRegions, page: PageRegions, mine: np.ndarray, R: np.ndarray,
                    t: np.ndarray, src_comp: np.ndarray, samples: int = 600) -> np.ndarray:
    """Per hypothesis ``(R (h, 2, 2), t (h, 2))``: the share of (up to ``samples``)
    pixels of the page regions ``mine`` that, mapped back into the reference, land in
    the reference region most of their own region's pixels land in (a region of
    ``src_comp``, the hypothesis' component, of at least ``MIN_AREA``)."""
    inside = np.zeros(len(page.area), bool)
    inside[mine] = True
    ys, xs = np.nonzero(inside[page.labels])
    if not len(xs):
        return np.zeros(len(R))
    step = max(1, len(xs) // samples)
    ys, xs = ys[::step], xs[::step]
    pl = page.labels[ys, xs].astype(np.int64)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    inv = np.linalg.inv(R)                                             # (h, 2, 2)
    q = np.einsum("hij,hnj->hni", inv, pts[None] - t[:, None])         # (h, n, 2)
    qx, qy = np.rint(q[..., 0]).astype(np.int64), np.rint(q[..., 1]).astype(np.int64)
    H, W = ref.labels.shape
    ok = (qx >= 0) & (qx < W) & (qy >= 0) & (qy < H)
    rl = ref.labels[np.clip(qy, 0, H - 1), np.clip(qx, 0, W - 1)].astype(np.int64)
    ok &= (ref.component[rl] == src_comp[:, None]) & (ref.area[rl] >= MIN_AREA)
    n_ref = len(ref.area)
    out = np.zeros(len(R))
    for h in range(len(R)):
        if not ok[h].any():
            continue
        keys, counts = np.unique(pl[ok[h]] * n_ref + rl[h][ok[h]], return_counts=True)
        best = np.zeros(len(page.area))
        np.maximum.at(best, keys // n_ref, counts)
        out[h] = best.sum() / len(pl)
    return out


def match_regions(ref_labels, labels, *, max_cost: float = 1.5,
                  min_overlap: float = 0.5) -> np.ndarray:
    """For every region of ``labels`` the reference region (of ``ref_labels``) that is
    the same region of the drawing, or -1: int64 ``(n,)``. See the module doc."""
    if isinstance(max_cost, bool) or not isinstance(max_cost, (int, float)) or max_cost <= 0:
        raise InvalidInputError(f"max_cost must be a number > 0, got {max_cost!r}")
    if not 0 < min_overlap <= 1:
        raise InvalidInputError(f"min_overlap must be in (0, 1], got {min_overlap!r}")
    ref = ref_labels if isinstance(ref_labels, PageRegions) else describe(ref_labels)
    page = labels if isinstance(labels, PageRegions) else describe(labels)
    match = _hungarian(ref, page, max_cost)
    out = match.copy()
    H, W = page.labels.shape
    n_ref = len(ref.area)
    for comp in range(len(page.comp_area)):
        found = _transform(ref, page, match, comp)
        if found is None:
            continue
        src_comp, M = found
        keep = (ref.component == src_comp) & (ref.area >= MIN_AREA)
        src = np.where(keep[ref.labels], ref.labels, n_ref).astype(np.float32)
        warped = cv2.warpAffine(src, M, (W, H), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=float(n_ref))
        warped = warped.astype(np.int64)
        members = np.flatnonzero(page.component == comp)
        inside = (page.component >= 0)[page.labels] & (page.component == comp)[page.labels]
        lab = page.labels[inside].astype(np.int64)
        key = lab * (n_ref + 1) + warped[inside]
        keys, counts = np.unique(key, return_counts=True)
        region, source = keys // (n_ref + 1), keys % (n_ref + 1)
        order = np.lexsort((-counts, region))
        region, source, counts = region[order], source[order], counts[order]
        first = np.r_[True, region[1:] != region[:-1]]
        best = np.full(len(page.area), -1, np.int64)
        share = np.zeros(len(page.area))
        best[region[first]] = source[first]
        share[region[first]] = counts[first] / page.area[region[first]]
        good = (best >= 0) & (best < n_ref) & (share >= min_overlap)
        out[members] = np.where(good[members], best[members], -1)
    out[page.area < MIN_AREA] = -1
    return out


INK_GRAY = 0.35       # reference_colors: ink is darker than this (BT.601 gray in [0, 1]) ...
INK_CHROMA = 30       # ... and nearly neutral (max - min channel below this, 8-bit)
MIN_INK_SHARE = 0.002  # below this share of dark neutral pixels: outline.extract instead


def reference_ink(rgb: np.ndarray) -> np.ndarray | None:
    """The ink of a colored page drawn with dark lines: bool ``(H, W)`` dark, nearly
    neutral pixels (dark fills such as brown or navy are colors, not ink); None when
    the page has almost none (no inked lines: extract its edges instead)."""
    c = rgb.astype(np.int32)
    gray = (299 * c[..., 0] + 587 * c[..., 1] + 114 * c[..., 2]) / 1000.0
    ink = (gray < INK_GRAY * 255) & (c.max(2) - c.min(2) < INK_CHROMA)
    return ink if ink.mean() >= MIN_INK_SHARE else None


def reference_colors(colored, *, gap=None, min_area=None):
    """A colored page -> ``(labels int32 (H, W), colors uint8 (n, 3))``: its regions
    (``find_regions`` on its inked lines, :func:`reference_ink`: an edge outline,
    ``fastcolor.outline.extract``, would double every line, so small regions vanish; a
    page without inked lines falls back to it) and the per-channel median color of the
    page inside each (over its paper pixels: ink left out where the region has any
    other)."""
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
    return labels, region_medians(labels, rgb, find_ink(gray))


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
