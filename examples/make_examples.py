"""Draw the example comic line-art images shipped in ``examples/``.

Deterministic (numpy + OpenCV only, no external data): black anti-aliased lines
(thickness 2, ``cv2.LINE_AA``) on white, saved as 8-bit gray PNGs. The drawings are
the project's own and are released under CC0.

Usage: ``python examples/make_examples.py [OUTPUT_DIR]`` (default: this folder).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

INK = 0
PAPER = 255
T = 2  # line thickness
AA = cv2.LINE_AA


def _canvas(height: int, width: int) -> np.ndarray:
    return np.full((height, width), PAPER, dtype=np.uint8)


def _line(img, p, q):
    cv2.line(img, p, q, INK, T, AA)


def _poly(img, points, closed=True):
    cv2.polylines(img, [np.array(points, dtype=np.int32)], closed, INK, T, AA)


def _circle(img, center, radius):
    cv2.circle(img, center, radius, INK, T, AA)


def _ellipse(img, center, axes, angle=0, start=0, end=360):
    cv2.ellipse(img, center, axes, angle, start, end, INK, T, AA)


def draw_house() -> np.ndarray:
    """A bordered comic panel, 288x384 (HxW): house, door, windows, tree, sun, cloud."""
    img = _canvas(288, 384)
    cv2.rectangle(img, (6, 6), (377, 281), INK, 3, AA)  # panel border

    _line(img, (6, 236), (377, 236))  # ground
    for x in range(20, 370, 38):  # grass tufts
        _line(img, (x, 236), (x + 4, 228))
        _line(img, (x + 4, 228), (x + 8, 236))

    # house: walls, roof, chimney, door, knob, windows with crossbars
    _poly(img, [(120, 236), (120, 150), (250, 150), (250, 236)], closed=False)
    _poly(img, [(108, 152), (185, 92), (262, 152)], closed=False)
    _line(img, (108, 152), (262, 152))
    _poly(img, [(220, 121), (220, 92), (238, 92), (238, 135)], closed=False)
    cv2.rectangle(img, (168, 186), (202, 236), INK, T, AA)
    _circle(img, (195, 212), 3)
    for x0 in (134, 214):
        cv2.rectangle(img, (x0, 168), (x0 + 26, 194), INK, T, AA)
        _line(img, (x0 + 13, 168), (x0 + 13, 194))
        _line(img, (x0, 181), (x0 + 26, 181))

    # tree: trunk and a leafy crown of overlapping arcs
    _poly(img, [(300, 236), (304, 180)], closed=False)
    _poly(img, [(322, 236), (318, 180)], closed=False)
    _ellipse(img, (311, 150), (40, 36), 0, 110, 430)
    _ellipse(img, (296, 154), (14, 12), 0, 200, 340)
    _ellipse(img, (326, 146), (12, 10), 0, 200, 340)

    # sun with rays
    _circle(img, (60, 58), 22)
    for k in range(10):
        a = 2 * np.pi * k / 10
        p = (int(60 + 29 * np.cos(a)), int(58 + 29 * np.sin(a)))
        q = (int(60 + 40 * np.cos(a)), int(58 + 40 * np.sin(a)))
        _line(img, p, q)

    # cloud: a row of bumps over a flat bottom
    _ellipse(img, (262, 52), (20, 16), 0, 100, 270)
    _ellipse(img, (288, 40), (22, 20), 0, 180, 360)
    _ellipse(img, (318, 46), (18, 16), 0, 200, 360)
    _ellipse(img, (332, 56), (12, 10), 0, 270, 450)
    _line(img, (258, 68), (332, 66))
    return img


def draw_faces() -> np.ndarray:
    """A bordered panel, 320x320: a cat looking at a striped ball."""
    img = _canvas(320, 320)
    cv2.rectangle(img, (5, 5), (314, 314), INK, 3, AA)
    _line(img, (5, 270), (314, 270))  # floor

    # cat: head, ears, eyes, nose, mouth, whiskers
    _circle(img, (110, 130), 58)
    _poly(img, [(66, 95), (62, 42), (100, 74)], closed=False)
    _poly(img, [(120, 73), (156, 42), (156, 96)], closed=False)
    for cx in (88, 132):
        _ellipse(img, (cx, 120), (9, 13))
        _line(img, (cx, 112), (cx, 128))
    _poly(img, [(104, 146), (116, 146), (110, 153)])
    _ellipse(img, (103, 156), (7, 6), 0, 0, 180)
    _ellipse(img, (117, 156), (7, 6), 0, 0, 180)
    for dy in (-6, 2, 10):
        _line(img, (76, 150), (36, 150 + dy))
        _line(img, (144, 150), (184, 150 + dy))

    # body and tail
    _ellipse(img, (110, 228), (52, 42), 0, 200, 340)
    _line(img, (62, 214), (62, 270))
    _line(img, (158, 214), (158, 270))
    _line(img, (92, 240), (92, 270))
    _line(img, (128, 240), (128, 270))
    tail = [(158 + 2 * k, int(262 - 3.2 * k - 10 * np.sin(k / 5.0))) for k in range(0, 19)]
    _poly(img, tail, closed=False)

    # ball with stripes, its shadow and motion lines
    _circle(img, (245, 225), 38)
    _ellipse(img, (245, 225), (38, 14), 30, 0, 360)
    _ellipse(img, (245, 225), (14, 38), 30, 0, 360)
    _line(img, (215, 282), (275, 282))
    for y in (205, 225, 245):
        _line(img, (290, y), (304, y))

    # speech balloon
    _ellipse(img, (236, 60), (58, 30))
    _poly(img, [(206, 84), (186, 104), (218, 88)], closed=False)
    cv2.putText(img, "Mew?", (205, 70), cv2.FONT_HERSHEY_SIMPLEX, 0.8, INK, T, AA)
    return img


def _face(img, cx: int, cy: int, r: int, rng) -> None:
    """A manga-style head: face outline, filled black hair with a parting, eyes with
    highlights, nose, mouth, neck and collar; line widths vary like an inked page."""
    cv2.ellipse(img, (cx, cy), (r, int(r * 1.15)), 0, 0, 360, INK, 3, AA)          # face
    hair = np.array([(cx - r - 6, cy + 10), (cx - r - 4, cy - r // 2), (cx - r // 2, cy - r - 14),
                     (cx + r // 3, cy - r - 16), (cx + r + 6, cy - r // 3), (cx + r + 8, cy + 14),
                     (cx + r // 2, cy - r // 3), (cx, cy - r // 2), (cx - r // 2, cy - r // 4)],
                    np.int32)
    cv2.fillPoly(img, [hair], INK, AA)                                               # black fill
    cv2.line(img, (cx - 4, cy - r - 12), (cx + 10, cy - r // 2), PAPER, 2, AA)      # highlight
    for ex in (cx - r // 2 + 4, cx + r // 2 - 4):
        cv2.ellipse(img, (ex, cy + 8), (9, 13), 0, 0, 360, INK, 2, AA)
        cv2.circle(img, (ex + 1, cy + 10), 5, INK, -1, AA)
        cv2.circle(img, (ex + 3, cy + 6), 2, PAPER, -1, AA)
        cv2.line(img, (ex - 12, cy - 12), (ex + 10, cy - 14), INK, 3, AA)          # brows
    cv2.line(img, (cx, cy + 20), (cx - 4, cy + 34), INK, 2, AA)                     # nose
    cv2.ellipse(img, (cx, cy + 50), (14, 6), 0, 10, 170, INK, 2, AA)                # mouth
    cv2.line(img, (cx - r // 3, cy + int(r * 1.1)), (cx - r // 3, cy + int(r * 1.5)), INK, 3, AA)
    cv2.line(img, (cx + r // 3, cy + int(r * 1.1)), (cx + r // 3, cy + int(r * 1.5)), INK, 3, AA)
    cv2.ellipse(img, (cx, cy + int(r * 2.1)), (int(r * 1.6), int(r * 0.7)), 0, 180, 360, INK, 3, AA)
    cv2.line(img, (cx - r // 3, cy + int(r * 1.5)), (cx, cy + int(r * 1.8)), INK, 2, AA)   # collar
    cv2.line(img, (cx + r // 3, cy + int(r * 1.5)), (cx, cy + int(r * 1.8)), INK, 2, AA)


def _balloon(img, cx: int, cy: int, ax: int, ay: int, tail, rng) -> None:
    """A speech balloon with its tail and scribbled 'text' lines inside."""
    cv2.ellipse(img, (cx, cy), (ax, ay), 0, 0, 360, INK, 2, AA)
    cv2.fillPoly(img, [np.array([(cx - 12, cy + ay - 4), tail, (cx + 10, cy + ay - 4)], np.int32)],
                 PAPER, AA)
    cv2.polylines(img, [np.array([(cx - 12, cy + ay - 2), tail, (cx + 10, cy + ay - 2)], np.int32)],
                  False, INK, 2, AA)
    for row in range(-ay // 2 + 6, ay // 2 - 2, 14):
        half = int(ax * 0.75 * np.sqrt(max(0.0, 1 - (row / ay) ** 2)))
        x = cx - half
        while x < cx + half - 8:
            w = int(rng.integers(6, 14))
            pts = [(x + k, cy + row + int(3 * np.sin(k * 1.3 + x))) for k in range(0, w, 2)]
            cv2.polylines(img, [np.array(pts, np.int32)], False, INK, 1, AA)
            x += w + 4


def draw_page() -> np.ndarray:
    """A manga-style page, 1400x1000 (HxW): four panels with paper gutters, two
    characters with filled black hair, speech balloons with scribbled text, a house
    with hatched shadows, a street of buildings, a broken line (a 3-px gap) and motion
    lines; line widths from 1 to 4 px. The art is clipped to its panels."""
    rng = np.random.default_rng(7)
    img = _canvas(1400, 1000)
    panels = [(40, 40, 960, 420), (40, 450, 470, 960), (500, 450, 960, 960), (40, 990, 960, 1360)]

    # panel 1: a street: buildings with windows, a hatched shadow, the sky with birds
    x = 60
    while x < 900:
        w, h = int(rng.integers(90, 160)), int(rng.integers(140, 300))
        cv2.rectangle(img, (x, 420 - h), (x + w, 420), INK, 2, AA)
        for wy in range(420 - h + 20, 400, 40):
            for wx in range(x + 15, x + w - 25, 35):
                cv2.rectangle(img, (wx, wy), (wx + 18, wy + 22), INK, 1, AA)
        x += w + int(rng.integers(10, 30))
    for k in range(0, 300, 9):                                         # hatched shadow
        cv2.line(img, (640 + k // 3, 340), (640 + k // 3 + 40, 418), INK, 1, AA)
    for bx, by in ((200, 90), (240, 110), (700, 80)):                  # birds
        cv2.ellipse(img, (bx, by), (12, 6), 0, 180, 360, INK, 2, AA)
        cv2.ellipse(img, (bx + 24, by), (12, 6), 0, 180, 360, INK, 2, AA)

    # panel 2: a character and a balloon
    _face(img, 230, 700, 80, rng)
    _balloon(img, 330, 530, 110, 55, (300, 620), rng)

    # panel 3: a second character, motion lines, a ball with a broken outline
    _face(img, 760, 720, 70, rng)
    cv2.circle(img, (590, 860), 40, INK, 3, AA)
    img[856:860, 626:636] = PAPER                                      # a 3-px gap in it
    cv2.line(img, (555, 860), (625, 860), INK, 2, AA)
    for y in (830, 860, 890):
        cv2.line(img, (520, y), (545, y), INK, 1, AA)
    _balloon(img, 800, 530, 120, 50, (780, 610), rng)

    # panel 4: a house on a hill under a cloud, with a hatched roof
    cv2.ellipse(img, (500, 1400), (700, 200), 0, 180, 360, INK, 3, AA)  # the hill
    roof = np.array([(380, 1130), (500, 1050), (620, 1130)], np.int32)
    cv2.polylines(img, [roof], True, INK, 3, AA)
    cv2.rectangle(img, (400, 1130), (600, 1240), INK, 3, AA)
    cv2.rectangle(img, (480, 1170), (520, 1240), INK, 2, AA)
    for k in range(400, 600, 8):                                      # cross-hatched roof
        cv2.line(img, (k, 1128), (k + 30, 1100), INK, 1, AA)
    cv2.rectangle(img, (420, 1150), (460, 1190), INK, 2, AA)
    cv2.rectangle(img, (540, 1150), (580, 1190), INK, 2, AA)
    for cx, cy, ax, ay in ((760, 1060, 60, 30), (820, 1050, 55, 35), (870, 1068, 45, 25)):
        cv2.ellipse(img, (cx, cy), (ax, ay), 0, 180, 360, INK, 2, AA)
    cv2.line(img, (700, 1068), (915, 1068), INK, 2, AA)

    page = _canvas(1400, 1000)                   # the art stays inside its panels
    for x0, y0, x1, y1 in panels:
        page[y0:y1, x0:x1] = img[y0:y1, x0:x1]
        cv2.rectangle(page, (x0, y0), (x1, y1), INK, 4, AA)
    return page


EXAMPLES = {"panel_house.png": draw_house, "panel_faces.png": draw_faces,
            "page_manga.png": draw_page}


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, draw in EXAMPLES.items():
        path = out_dir / name
        cv2.imwrite(str(path), draw(), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"wrote {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
