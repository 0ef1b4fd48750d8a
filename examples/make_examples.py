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


EXAMPLES = {"panel_house.png": draw_house, "panel_faces.png": draw_faces}


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, draw in EXAMPLES.items():
        path = out_dir / name
        cv2.imwrite(str(path), draw(), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"wrote {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
