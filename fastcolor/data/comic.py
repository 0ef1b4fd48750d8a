"""The comic composition (``fastcolor data build --composition comic``, the default):
one training sample is one panel of a comic page, the way the pipeline sees a panel that
``fastcolor.panels.find_panels`` cut out of a page and letterboxed into the model's square.

A sample of side ``size`` is a window onto a page. What the window shows (every draw
comes from the ``rng`` argument, so a seed gives the same panels):

- **layout** (``LAYOUT_SHARES``): ``grid`` (60%): the whole panel, its black border 1 to
  ``size / 48`` pixels wide, a 0 to ``size / 64`` pixel paper margin around it (the
  panel finder's pad) and on a quarter of the sides up to ``size / 10`` more; panels are
  square-ish or 0.55-1.8 tall/wide, the short side centered as the pipeline's letterbox
  does, the rest of the window white paper or, half the time per side, a gutter of
  ``size / 40``-``size / 10`` pixels and the neighbouring panel's border and contents
  (its own background, maybe a piece of a drawing); ``partial`` (15%): the same with 1-3
  sides of the panel running out of the window (a tile of a long panel, a panel bleeding
  off the page); ``full`` (25%): a crop inside a panel or borderless art, the background
  running to every edge. So the outer pixels are not always paper: no frame to learn.
- **background** (``comic_background_color``): white in 40% of the panels (pure white
  mostly, else an even off-white), a pale tint in 30%, a flat color in 30%.
- **drawings**: 1-6 (``COUNT_WEIGHTS``), each scaled log-uniformly to 0.18-``SCALE_HI[n]``
  of the panel's inner side, mirrored half the time, placed anywhere with up to 40% of
  it past the panel's border (cropped there); later drawings cover earlier ones, in
  color and in line art.
- **line weight** per panel (``LINE_WEIGHTS``): thin (anti-aliased edges pulled in),
  normal, thick (edges pushed out) or heavy (a 3 x 3 dilation); **hard lines** (30%):
  every ink alpha thresholded at 0.5, as in a 1-bit scan.
- **hatching** (25%) and **screentone-like dots** (20%): a pattern of thin parallel (or
  crossed) lines / a dot grid in one region: an ellipse or box, a band of the
  background, or the area of a drawing (shading).
- **speech balloons** (35%: one, 10% of all panels two): white ellipses with a tail,
  outlined, with rows of scribbled "text" strokes inside, over the drawings, cropped by
  the panel border. A balloon is never background; its paper is white.

What it returns is a ``panels.Panel`` with the arrays and conventions of the emoji
composition (``panels`` module doc): ``line`` holds all the ink (drawings' line groups,
panel borders, balloon outlines and text, hatching and dots); ``background`` is the
target panel's paper inside its border that no drawing or balloon covers (coverage
< 0.5) and that is not ink (ink >= 0.5 is never background); gutters, page margins and
neighbouring panels are not background. ``flags`` says what the panel holds (``FLAG_*``
bits).

Drawings: ``Drawing`` objects whose ``color`` is the fill without the line art
(``render.render_emoji(..., fill=True)``), so lines can be thinned and thickened over
the right colors; drawings whose ``color`` has the lines painted in work too (thinning
then leaves their black under the pulled-in edges).
"""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

from .. import outline as outline_mod
from .panels import Panel, _premultiplied
from .render import Drawing

LAYOUT_SHARES = {"grid": 0.60, "partial": 0.15, "full": 0.25}
COUNT_WEIGHTS = (0.22, 0.22, 0.18, 0.14, 0.12, 0.12)      # 1..6 drawings
SCALE_LO = 0.18
SCALE_HI = {1: 1.2, 2: 0.85, 3: 0.7, 4: 0.6, 5: 0.55, 6: 0.5}
MAX_OVERHANG = 0.4
LINE_WEIGHTS = {"thin": 0.25, "normal": 0.4, "thick": 0.25, "heavy": 0.1}
WHITE_SHARE, TINT_SHARE = 0.4, 0.3                         # the rest: flat colors
HARD_LINES = 0.3
HATCHING, TONE = 0.25, 0.20
BALLOON_ONE, BALLOON_TWO = 0.25, 0.10
NEIGHBOURS = 0.5          # share of grid panels with neighbours (then each side: 1/2)

FLAG_BORDER = 1           # some of the panel border is in the window
FLAG_GUTTER = 2           # paper outside the border (margin / gutter) is in the window
FLAG_NEIGHBOUR = 4        # a neighbouring panel shows beyond a gutter
FLAG_BALLOON = 8
FLAG_HATCHING = 16
FLAG_TONE = 32
FLAG_WHITE = 64           # white (or off-white) panel background
FLAG_HARD = 128           # hard (thresholded) lines
FLAG_FULL = 256           # no border at all: art or background to every edge
FLAG_TINT = 512           # pale tint background
FLAGS = {"border": FLAG_BORDER, "gutter": FLAG_GUTTER, "neighbour": FLAG_NEIGHBOUR,
         "balloon": FLAG_BALLOON, "hatching": FLAG_HATCHING, "tone": FLAG_TONE,
         "white": FLAG_WHITE, "hard": FLAG_HARD, "full": FLAG_FULL, "tint": FLAG_TINT}

_SS = 4                   # supersampling of shapes drawn with OpenCV (anti-aliasing)


def drawing_count(rng: np.random.Generator, available: int) -> int:
    """How many drawings the next panel gets: 1-6 by ``COUNT_WEIGHTS``, at most
    ``available``."""
    k = int(rng.choice(len(COUNT_WEIGHTS), p=COUNT_WEIGHTS)) + 1
    return max(1, min(k, available))


def comic_background_color(rng: np.random.Generator) -> tuple[tuple[int, int, int], str]:
    """(RGB, kind): ``white`` (40%: pure white 60% of the time, else an even off-white,
    each channel 238-255), ``tint`` (30%: saturation 0.04-0.22, value 0.9-1.0) or ``flat`` (30%:
    saturation 0.15-0.75, value 0.5-1.0)."""
    u = rng.random()
    if u < WHITE_SHARE:
        if rng.random() < 0.6:
            return (255, 255, 255), "white"
        v = int(rng.integers(240, 254))
        return tuple(int(np.clip(v + d, 0, 255)) for d in rng.integers(-2, 3, 3)), "white"
    h = rng.random()
    if u < WHITE_SHARE + TINT_SHARE:
        s, v = rng.uniform(0.04, 0.22), rng.uniform(0.9, 1.0)
        kind = "tint"
    else:
        s, v = rng.uniform(0.15, 0.75), rng.uniform(0.5, 1.0)
        kind = "flat"
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v)), kind


def _pick(rng: np.random.Generator, shares: dict) -> str:
    keys = list(shares)
    return keys[int(rng.choice(len(keys), p=np.asarray([shares[k] for k in keys])))]


def weigh_lines(line: np.ndarray, weight: str) -> np.ndarray:
    """Line alpha (float, 0..1) made thin / thick / heavy (``normal`` unchanged): thin
    pulls the anti-aliased edges in (a line whose core is solid stays), thick pushes them
    out, heavy dilates by a 3 x 3 ellipse first."""
    if weight == "thin":
        return np.clip((line - 0.3) / 0.7, 0, 1)
    if weight == "normal":
        return line
    if weight == "heavy":
        line = cv2.dilate(line, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    return np.clip(line / 0.5, 0, 1)


def _shape_alpha(size: int, draw) -> np.ndarray:
    """Alpha (float32 ``(size, size)``) of shapes ``draw(canvas, scale)`` paints with
    OpenCV on a ``_SS`` times larger uint8 canvas (value 255), area-averaged down."""
    big = np.zeros((size * _SS, size * _SS), np.uint8)
    draw(big, _SS)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _clip_box(box, size):
    y0, y1, x0, x1 = box
    return max(y0, 0), min(y1, size), max(x0, 0), min(x1, size)


class _Canvas:
    """The window being composed: fill colors ``rgb`` (float 0..1, before ink), ink alpha,
    and the coverage of the target panel's inside by drawings and balloons."""

    def __init__(self, size: int):
        self.size = size
        self.rgb = np.ones((size, size, 3), np.float32)
        self.ink = np.zeros((size, size), np.float32)
        self.cover = np.zeros((size, size), np.float32)

    def add_ink(self, alpha: np.ndarray, clip=None) -> None:
        if clip is not None:
            alpha = alpha * clip
        self.ink += alpha * (1 - self.ink)

    def fill_box(self, box, rgb) -> None:
        y0, y1, x0, x1 = _clip_box(box, self.size)
        if y1 > y0 and x1 > x0:
            self.rgb[y0:y1, x0:x1] = np.asarray(rgb, np.float32) / 255

    def border(self, outer, width: int) -> None:
        """The ink ring between ``outer`` and ``outer`` shrunk by ``width``."""
        ring = np.zeros((self.size, self.size), np.float32)
        y0, y1, x0, x1 = _clip_box(outer, self.size)
        if y1 <= y0 or x1 <= x0:
            return
        ring[y0:y1, x0:x1] = 1
        iy0, iy1, ix0, ix1 = _clip_box((outer[0] + width, outer[1] - width,
                                        outer[2] + width, outer[3] - width), self.size)
        if iy1 > iy0 and ix1 > ix0:
            ring[iy0:iy1, ix0:ix1] = 0
        self.add_ink(ring)

    def place(self, drawing: Drawing, side: int, mirror: bool, inner, rng, weight: str,
              track_cover: bool) -> bool:
        """Composite ``drawing`` (longer side ``side``) at a random position in the box
        ``inner`` (up to ``MAX_OVERHANG`` of it outside, cropped to ``inner`` and the
        window). Returns whether any of it landed."""
        prem, line = _premultiplied(drawing, side, mirror)
        line = weigh_lines(line, weight)
        dh, dw = line.shape
        iy0, iy1, ix0, ix1 = inner
        oy, ox = int(MAX_OVERHANG * dh), int(MAX_OVERHANG * dw)
        py = int(rng.integers(iy0 - oy, max(iy0 - oy, iy1 - dh + oy) + 1))
        px = int(rng.integers(ix0 - ox, max(ix0 - ox, ix1 - dw + ox) + 1))
        cy0, cy1, cx0, cx1 = _clip_box((max(py, iy0), min(py + dh, iy1),
                                        max(px, ix0), min(px + dw, ix1)), self.size)
        if cy1 <= cy0 or cx1 <= cx0:
            return False
        p = prem[cy0 - py:cy1 - py, cx0 - px:cx1 - px]
        la = line[cy0 - py:cy1 - py, cx0 - px:cx1 - px]
        a = p[..., 3]
        r = (slice(cy0, cy1), slice(cx0, cx1))
        self.rgb[r] = self.rgb[r] * (1 - a[..., None]) + p[..., :3]
        self.ink[r] = self.ink[r] * (1 - a) + la * (1 - self.ink[r] * (1 - a))
        if track_cover:
            cov = np.maximum(a, la)
            self.cover[r] = self.cover[r] * (1 - cov) + cov
        return True


def _inner_of(outer, bw):
    return outer[0] + bw, outer[1] - bw, outer[2] + bw, outer[3] - bw


def _layout(rng, size, layout):
    """The target panel's outer box (border included; may run out of the window), the
    border width, and per side (top, bottom, left, right) whether the side is cut
    (outside the window) -> (outer, bw, cut)."""
    bw = int(rng.integers(1, max(1, round(size / 48)) + 1))
    if layout == "full":
        m = bw + 2
        return (-m, size + m, -m, size + m), bw, (True,) * 4
    pad = int(rng.integers(0, max(1, size // 64) + 1))
    extra = [int(rng.integers(1, max(2, size // 10) + 1)) if rng.random() < 0.25 else 0
             for _ in range(4)]
    aspect = rng.uniform(0.85, 1.15) if rng.random() < 0.5 else \
        math.exp(rng.uniform(math.log(0.55), math.log(1.8)))           # height / width
    avail_h = size - 2 * pad - extra[0] - extra[1]
    avail_w = size - 2 * pad - extra[2] - extra[3]
    h = min(avail_h, int(round(avail_w * aspect)))
    w = min(avail_w, int(round(h / aspect)))
    h, w = max(h, size // 3), max(w, size // 3)
    top = pad + extra[0] + (avail_h - h) // 2
    left = pad + extra[2] + (avail_w - w) // 2
    outer = [top, top + h, left, left + w]
    cut = [False] * 4
    if layout == "partial":
        sides = rng.choice(4, size=int(rng.integers(1, 4)), replace=False)
        for s in sides:
            cut[s] = True
            outer[s] = -(bw + 2) if s in (0, 2) else size + bw + 2
    return tuple(outer), bw, tuple(cut)


def _neighbours(canvas: _Canvas, rng, outer, cut, drawings, weight) -> bool:
    """Per uncut side, half the time: a gutter, then a neighbouring panel's border and
    contents to the window's edge. Returns whether any shows."""
    size, shown = canvas.size, False
    for s in range(4):
        if cut[s] or rng.random() >= 0.5:
            continue
        g = int(rng.integers(max(2, size // 40), max(3, size // 10) + 1))
        far = size + 8
        y0, y1, x0, x1 = outer
        box = {0: (-far, y0 - g, x0, x1), 1: (y1 + g, size + far, x0, x1),
               2: (y0, y1, -far, x0 - g), 3: (y0, y1, x1 + g, size + far)}[s]
        # the neighbour spans the same rows/columns or is offset (a staggered grid)
        if rng.random() < 0.4:
            shift = int(rng.integers(-size // 4, size // 4 + 1))
            box = (box[0] + shift, box[1] + shift, box[2], box[3]) if s >= 2 else \
                (box[0], box[1], box[2] + shift, box[3] + shift)
        vy0, vy1, vx0, vx1 = _clip_box(box, size)
        if vy1 <= vy0 or vx1 <= vx0:
            continue
        bw = int(rng.integers(1, max(1, round(size / 48)) + 1))
        inner = _inner_of(box, bw)
        canvas.fill_box(inner, comic_background_color(rng)[0])
        if drawings and rng.random() < 0.5:
            d = drawings[int(rng.integers(len(drawings)))]
            side = int(rng.uniform(0.3, 0.8) * size)
            canvas.place(d, max(4, side), bool(rng.random() < 0.5),
                         _clip_box(inner, size), rng, weight, track_cover=False)
        canvas.border(box, bw)
        shown = True
    return shown


def _region(canvas: _Canvas, rng, inner_vis) -> np.ndarray:
    """Where a hatching / tone pattern goes: an ellipse or box in the panel (1/2), a band
    of the panel's uncovered paper (1/4) or the area the drawings cover (1/4)."""
    size = canvas.size
    y0, y1, x0, x1 = inner_vis
    box = np.zeros((size, size), np.float32)
    box[y0:y1, x0:x1] = 1
    u = rng.random()
    if u < 0.5:
        cy, cx = rng.uniform(y0, y1), rng.uniform(x0, x1)
        ry, rx = rng.uniform(0.1, 0.4) * (y1 - y0), rng.uniform(0.1, 0.4) * (x1 - x0)
        if rng.random() < 0.5:
            def draw(c, k):
                cv2.ellipse(c, (int(cx * k), int(cy * k)), (int(rx * k), int(ry * k)),
                            float(rng.uniform(0, 180)), 0, 360, 255, -1)
        else:
            def draw(c, k):
                cv2.rectangle(c, (int((cx - rx) * k), int((cy - ry) * k)),
                              (int((cx + rx) * k), int((cy + ry) * k)), 255, -1)
        return _shape_alpha(size, draw) * box
    if u < 0.75:
        band = np.zeros((size, size), np.float32)
        lo = int(rng.uniform(y0, (y0 + y1) / 2))
        band[lo:lo + int(rng.uniform(0.2, 0.6) * (y1 - y0))] = 1
        if rng.random() < 0.5:
            band = band[::-1].copy()
        return band * box * (canvas.cover < 0.5)
    return box * (canvas.cover >= 0.5)


def _pattern(size: int, rng, kind: str) -> np.ndarray:
    """A full-window ink pattern: ``hatching`` (parallel lines, a third of the time
    crossed) or ``tone`` (a dot grid, every other row shifted half a step)."""
    if kind == "hatching":
        spacing = rng.uniform(2.5, 6.0)
        angles = [rng.uniform(0, math.pi)]
        if rng.random() < 1 / 3:
            angles.append(angles[0] + rng.uniform(math.pi / 4, math.pi / 2))
        width = int(rng.integers(2, 5))            # at _SS: 0.5-1 px

        def draw(c, k):
            n = int(2 * size / spacing) + 4
            for a in angles:
                dx, dy = math.cos(a), math.sin(a)
                for i in range(-n, n + 1):
                    ox = size / 2 + i * spacing * -dy
                    oy = size / 2 + i * spacing * dx
                    p0 = (int((ox - 2 * size * dx) * k), int((oy - 2 * size * dy) * k))
                    p1 = (int((ox + 2 * size * dx) * k), int((oy + 2 * size * dy) * k))
                    cv2.line(c, p0, p1, 255, width)
        return _shape_alpha(size, draw)
    spacing = rng.uniform(2.5, 5.0)
    radius = rng.uniform(0.3, 0.45) * spacing

    def draw(c, k):
        r = max(1, int(radius * k))
        for j, y in enumerate(np.arange(0, size + spacing, spacing)):
            off = spacing / 2 if j % 2 else 0
            for x in np.arange(-off, size + spacing, spacing):
                cv2.circle(c, (int(x * k), int(y * k)), r, 255, -1)
    return _shape_alpha(size, draw)


def _balloon(canvas: _Canvas, rng, inner_vis, line_width: float) -> None:
    """A white speech balloon with a tail, outlined, scribbled text inside, clipped to the
    panel's visible inside (see module doc)."""
    size = canvas.size
    y0, y1, x0, x1 = inner_vis
    ih, iw = y1 - y0, x1 - x0
    rx = rng.uniform(0.14, 0.32) * iw
    ry = rx * rng.uniform(0.45, 0.8)
    cx = rng.uniform(x0 + 0.5 * rx, x1 - 0.5 * rx)
    cy = rng.uniform(y0 + 0.4 * ry, y0 + max(0.5 * ih, 0.4 * ry + 1))
    ang = rng.uniform(0.25, 0.75) * math.pi                           # the tail points down
    base = (cx + 0.6 * rx * math.cos(ang), cy + 0.6 * ry * math.sin(ang))
    tip = (cx + 1.6 * rx * math.cos(ang), cy + 1.7 * ry * math.sin(ang))
    half = rng.uniform(0.12, 0.25) * rx
    tail = np.array([[base[0] - half, base[1]], [base[0] + half, base[1]], tip])
    lw = max(_SS, int(round(line_width * _SS)))            # at least 1 px

    def shape(c, k, grow):
        """The balloon at scale ``k``, grown by ``grow`` px (``grow`` < 0: shrunk by
        ``-grow``): the tail's triangle offset like the ellipse (its edges drawn
        ``2 |grow|`` thick in paper or in nothing before the ellipse fills its base
        again), so the outline, outside minus inside, runs around the tail and stays
        closed where the tail meets the ellipse."""
        pts = (tail * k).astype(np.int32)
        cv2.fillPoly(c, [pts], 255)
        edge = max(1, int(round(2 * abs(grow))))
        cv2.polylines(c, [pts], True, 255 if grow > 0 else 0, edge)     # dilate / erode
        cv2.ellipse(c, (int(round(cx * k)), int(round(cy * k))),
                    (int(round(rx * k + grow)), int(round(ry * k + grow))), 0, 0, 360, 255, -1)
    outside = _shape_alpha(size, lambda c, k: shape(c, k, lw / 2))
    inside = _shape_alpha(size, lambda c, k: shape(c, k, -lw / 2))
    # text: rows of scribbles inside the ellipse
    rows = int(rng.integers(1, 4))
    text_h = 1.6 * ry / (rows + 1)
    stroke = max(2, int(round(rng.uniform(0.6, 1.0) * _SS)))

    def text(c, k):
        for j in range(rows):
            ty = cy - 0.55 * ry + (j + 1) * 1.1 * ry / (rows + 1)
            half_w = 0.75 * rx * math.sqrt(max(0.0, 1 - ((ty - cy) / ry) ** 2))
            if half_w < 2:
                continue
            xs = np.arange(cx - half_w, cx + half_w, max(0.5, text_h * 0.35))
            gaps = rng.random(len(xs)) < 0.15                      # word breaks
            ys = ty + rng.uniform(-0.35, 0.35, len(xs)) * text_h
            run = []
            for x, y, gap in zip(xs, ys, gaps):
                if gap and len(run) > 1:
                    cv2.polylines(c, [np.array(run, np.int32)], False, 255, stroke)
                    run = []
                run.append((int(x * k), int(y * k)))
            if len(run) > 1:
                cv2.polylines(c, [np.array(run, np.int32)], False, 255, stroke)
    scribble = _shape_alpha(size, text) * inside
    clip = np.zeros((size, size), np.float32)
    clip[y0:y1, x0:x1] = 1
    outside, inside = outside * clip, inside * clip
    canvas.rgb = canvas.rgb * (1 - outside[..., None]) + outside[..., None]   # white paper
    canvas.ink = canvas.ink * (1 - outside) + (outside - inside)
    canvas.add_ink(scribble)
    canvas.cover = canvas.cover * (1 - outside) + outside


def compose_comic_panel(drawings: list[Drawing], rng: np.random.Generator, size: int,
                        bg_color: tuple[int, int, int] | None = None,
                        extract: bool = True, layout: str | None = None,
                        neighbour_drawings: list[Drawing] | None = None) -> Panel:
    """One comic training panel of side ``size`` from 1-6 ``drawings`` (module doc).
    ``layout`` forces one of ``LAYOUT_SHARES``; ``neighbour_drawings`` are what
    neighbouring panels may show a piece of (default: ``drawings``)."""
    n = len(drawings)
    if not 1 <= n <= len(COUNT_WEIGHTS):
        raise ValueError(f"a comic panel holds 1 to {len(COUNT_WEIGHTS)} drawings, got {n}")
    if size < 32:
        raise ValueError(f"comic panel size must be at least 32, got {size}")
    layout = layout or _pick(rng, LAYOUT_SHARES)
    if layout not in LAYOUT_SHARES:
        raise ValueError(f"layout must be one of {tuple(LAYOUT_SHARES)}, got {layout!r}")
    flags = 0
    if bg_color is None:
        bg_color, kind = comic_background_color(rng)
        flags |= {"white": FLAG_WHITE, "tint": FLAG_TINT}.get(kind, 0)
    elif min(bg_color) >= 238:
        flags |= FLAG_WHITE
    weight = _pick(rng, LINE_WEIGHTS)
    hard = rng.random() < HARD_LINES
    canvas = _Canvas(size)
    outer, bw, cut = _layout(rng, size, layout)
    inner = _inner_of(outer, bw)
    inner_vis = _clip_box(inner, size)
    if layout == "grid" and rng.random() < NEIGHBOURS:
        if _neighbours(canvas, rng, outer, cut, neighbour_drawings or drawings, weight):
            flags |= FLAG_NEIGHBOUR
    canvas.fill_box(inner, bg_color)
    panel_side = min(inner_vis[1] - inner_vis[0], inner_vis[3] - inner_vis[2])
    hi = SCALE_HI[n]
    for d in drawings:
        frac = math.exp(rng.uniform(math.log(SCALE_LO), math.log(hi)))
        canvas.place(d, max(4, int(round(frac * panel_side))), bool(rng.random() < 0.5),
                     inner_vis, rng, weight, track_cover=True)
    clip = np.zeros((size, size), np.float32)
    clip[inner_vis[0]:inner_vis[1], inner_vis[2]:inner_vis[3]] = 1
    for kind, share, flag in (("hatching", HATCHING, FLAG_HATCHING), ("tone", TONE, FLAG_TONE)):
        if rng.random() < share:
            canvas.add_ink(_pattern(size, rng, kind) * _region(canvas, rng, inner_vis), clip)
            flags |= flag
    u = rng.random()
    balloons = 2 if u < BALLOON_TWO else 1 if u < BALLOON_TWO + BALLOON_ONE else 0
    line_width = {"thin": 0.8, "normal": 1.0, "thick": 1.5, "heavy": 2.0}[weight] * size / 128
    for _ in range(balloons):
        _balloon(canvas, rng, inner_vis, line_width)
    if balloons:
        flags |= FLAG_BALLOON
    if not all(cut):
        canvas.border(outer, bw)
        flags |= FLAG_BORDER
        vis = _clip_box(outer, size)
        if vis != (0, size, 0, size):
            flags |= FLAG_GUTTER
    else:
        flags |= FLAG_FULL
    ink = np.clip(canvas.ink, 0, 1)
    if hard:
        ink = (ink >= 0.5).astype(np.float32)
        flags |= FLAG_HARD
    rgb = canvas.rgb * (1 - ink[..., None])
    color = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    line_u8 = np.clip(np.rint((1 - ink) * 255), 0, 255).astype(np.uint8)
    background = (clip > 0) & (canvas.cover < 0.5) & (ink < 0.5)
    extracted = outline_mod.extract(color, line_art=False) if extract else None
    return Panel(color=color, line=line_u8, extracted=extracted, background=background,
                 bg_color=tuple(int(v) for v in bg_color),
                 emoji=tuple(d.hexcode for d in drawings), flags=flags)
