"""Tests of fastcolor.outline: line-art detection, extraction, to_ink, shipped examples."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fastcolor.errors import InvalidImageError, InvalidInputError
from fastcolor.imageio import load_image, to_gray01, to_uint8
from fastcolor.outline import extract, extract_with_info, is_line_art, to_ink

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

BG = (170, 200, 230)  # light blue background, gray ~0.76
RED = (200, 100, 100)  # gray 0.5094
GREEN = (100, 150, 104)  # gray 0.5090: same luminance as RED to 8 bits


def line_drawing() -> np.ndarray:
    """A clean gray uint8 line drawing: anti-aliased black lines, thickness 2, on white."""
    img = np.full((120, 160), 255, dtype=np.uint8)
    cv2.rectangle(img, (4, 4), (155, 115), 0, 2, cv2.LINE_AA)
    cv2.line(img, (20, 100), (140, 30), 0, 2, cv2.LINE_AA)
    cv2.circle(img, (60, 50), 25, 0, 2, cv2.LINE_AA)
    cv2.ellipse(img, (110, 80), (30, 15), 20, 0, 360, 0, 2, cv2.LINE_AA)
    return img


def flat_colored() -> np.ndarray:
    """Flat colors: a red and a green square of equal luminance side by side (no line
    between them), a black outline around both, on a light blue background."""
    img = np.empty((100, 140, 3), dtype=np.uint8)
    img[:] = BG
    img[20:80, 20:70] = RED
    img[20:80, 70:120] = GREEN
    cv2.rectangle(img, (18, 18), (121, 81), (0, 0, 0), 2)
    return img


# ---------------------------------------------------------------------------
# line art passes through
# ---------------------------------------------------------------------------


def test_line_drawing_passes_through_bit_for_bit() -> None:
    img = line_drawing()
    assert len(np.unique(img)) > 10  # really anti-aliased
    assert is_line_art(img)
    out = extract(img)
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(out, img)


def test_line_drawing_from_file_and_pil(tmp_path: Path) -> None:
    img = line_drawing()
    path = tmp_path / "lines.png"
    Image.fromarray(img).save(path)
    np.testing.assert_array_equal(extract(path), img)
    np.testing.assert_array_equal(extract(Image.fromarray(img)), img)
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    assert is_line_art(rgb)
    np.testing.assert_array_equal(extract(rgb), img)


@pytest.mark.parametrize("name", ["panel_house.png", "panel_faces.png"])
def test_shipped_examples_are_line_art(name: str) -> None:
    path = EXAMPLES / name
    assert path.stat().st_size < 30_000
    img = load_image(path)
    assert img.dtype == np.uint8 and img.ndim == 2
    assert is_line_art(path)
    np.testing.assert_array_equal(extract(path), img)


def test_line_art_flag() -> None:
    colored = flat_colored()
    forced = extract(colored, line_art=True)
    np.testing.assert_array_equal(forced, to_uint8(to_gray01(colored)))
    img = line_drawing()
    extracted = extract(img, line_art=False)
    assert set(np.unique(extracted)) <= {0, 255}
    assert np.all(extracted[img < 60] == 0)  # every line core is ink


# ---------------------------------------------------------------------------
# is_line_art says no
# ---------------------------------------------------------------------------


def test_not_line_art() -> None:
    assert not is_line_art(flat_colored())
    shaded = line_drawing()
    shaded[30:90, 30:130] = np.minimum(shaded[30:90, 30:130], 128)  # gray fill
    assert not is_line_art(shaded)
    screentone = np.full((96, 96), 255, dtype=np.uint8)
    screentone[::4, ::4] = 0
    screentone = cv2.GaussianBlur(screentone, (5, 5), 1.0)  # a gray dot screen
    assert not is_line_art(screentone)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    photo = cv2.GaussianBlur(noise, (9, 9), 3)
    assert not is_line_art(photo)
    assert not is_line_art(np.zeros((32, 32), dtype=np.uint8))  # all ink: no paper
    tinted = np.repeat(line_drawing()[:, :, None], 3, axis=2)
    tinted[50, 50] = (255, 0, 0)  # one colored pixel is enough
    assert not is_line_art(tinted)


# ---------------------------------------------------------------------------
# extraction
# ---------------------------------------------------------------------------


def test_flat_colored_outline() -> None:
    img = flat_colored()
    out = extract(img)
    assert out.dtype == np.uint8 and out.shape == img.shape[:2]
    assert set(np.unique(out)) == {0, 255}
    ink = out == 0
    # the black outline is ink
    black = np.all(img == 0, axis=2)
    assert black.any() and np.all(ink[black])
    # the boundary between the two equal-luminance colors (columns 69|70) is found
    assert abs(to_gray01(img)[50, 40] - to_gray01(img)[50, 100]) < 1 / 255
    assert np.all(ink[25:75, 68:72].any(axis=1))
    # flat interiors have no ink
    assert not ink[25:75, 25:64].any()  # red
    assert not ink[25:75, 76:115].any()  # green
    assert not ink[88:, :].any() and not ink[:, 128:].any()  # background


def test_dark_regions_are_ink() -> None:
    img = np.full((40, 40, 3), 230, dtype=np.uint8)
    img[10:30, 10:30] = (20, 20, 60)  # dark navy fill: gray < 0.35
    ink = extract(img) == 0
    assert np.all(ink[10:30, 10:30])
    assert not ink[:6].any()
    lighter = extract(img, dark_threshold=0.05) == 0
    assert not lighter[15:25, 15:25].any()  # interior no longer dark; edges still found
    assert lighter[10:30, 8:12].any()


def test_rgba_composites_on_white() -> None:
    lines = line_drawing()
    rgba = np.zeros(lines.shape + (4,), dtype=np.uint8)
    rgba[:, :, 3] = 255 - lines  # black ink, transparent paper
    assert is_line_art(rgba)
    np.testing.assert_array_equal(extract(rgba), lines)

    colored = np.zeros((100, 140, 4), dtype=np.uint8)
    colored[:, :, :3] = flat_colored()
    colored[:, :, 3] = 0
    colored[20:80, 20:120, 3] = 255  # the squares opaque, background transparent
    out = extract(colored)
    assert not (out[:10] == 0).any()  # transparent -> white paper, no ink
    assert (out[25:75, 68:72] == 0).any(axis=1).all()  # the red|green boundary


def test_16bit_gray_matches_8bit() -> None:
    gray8 = cv2.cvtColor(flat_colored(), cv2.COLOR_RGB2GRAY)
    cv2.circle(gray8, (100, 50), 10, 90, -1)
    gray16 = gray8.astype(np.uint16) * 257
    assert not is_line_art(gray8)
    (out8, info8), (out16, info16) = extract_with_info(gray8), extract_with_info(gray16)
    assert info8["source"] == info16["source"] == "shaded"      # its gray tones are kept
    np.testing.assert_array_equal(out16, out8)
    lines = line_drawing()
    np.testing.assert_array_equal(extract(lines.astype(np.uint16) * 257), lines)


def test_float_input_matches_uint8() -> None:
    img = flat_colored()
    np.testing.assert_array_equal(extract(img.astype(np.float32) / 255), extract(img))


def test_extract_validates() -> None:
    img = flat_colored()
    with pytest.raises(InvalidInputError):
        extract(img, canny_low=200, canny_high=100)
    with pytest.raises(InvalidInputError):
        extract(img, canny_low=-1)
    with pytest.raises(InvalidInputError):
        extract(img, dark_threshold=1.5)
    with pytest.raises(InvalidInputError):
        extract(img, line_art="yes")
    with pytest.raises(InvalidInputError):
        extract(img, line_art=1)
    with pytest.raises(InvalidImageError):
        extract(np.zeros((0, 4), dtype=np.uint8))
    with pytest.raises(InvalidImageError):
        is_line_art(np.zeros((4, 4), dtype=np.int64))


# ---------------------------------------------------------------------------
# to_ink
# ---------------------------------------------------------------------------


def test_to_ink() -> None:
    outline = np.array([[0, 255], [51, 255]], dtype=np.uint8)
    ink = to_ink(outline)
    assert ink.dtype == np.float32 and ink.shape == (2, 2)
    np.testing.assert_allclose(ink, [[1.0, 0.0], [0.8, 0.0]], atol=1e-7)
    assert ink[0, 0] == 1.0 and ink[0, 1] == 0.0
    ext = extract(flat_colored())
    np.testing.assert_array_equal(to_ink(ext), (ext == 0).astype(np.float32))
    with pytest.raises(InvalidInputError):
        to_ink(outline.astype(np.float32))
    with pytest.raises(InvalidInputError):
        to_ink(np.zeros((2, 2, 3), dtype=np.uint8))
    with pytest.raises(InvalidInputError):
        to_ink([[0, 255]])


# ---------------------------------------------------------------------------
# real paper: scans, pencil, white-on-black (synthetic, made here)
# ---------------------------------------------------------------------------


def scan_of(img: np.ndarray, paper: int = 226, noise: float = 6.0, jpeg: int = 60,
            tint=(1.0, 0.97, 0.88)) -> np.ndarray:
    """A scan of a gray line drawing: toned, yellowed paper, sensor noise, JPEG."""
    rng = np.random.default_rng(0)
    gray = img.astype(np.float32) / 255 * paper
    rgb = gray[..., None] * np.asarray(tint, np.float32)[None, None]
    rgb += rng.normal(0, noise, rgb.shape)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def test_noisy_yellowed_scan_is_line_art_on_clean_paper() -> None:
    img = line_drawing()
    out, info = extract_with_info(scan_of(img))
    assert info["source"] == "line_art" and info["stretched"] and not info["inverted"]
    far = cv2.erode((img == 255).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert (out[far] == 255).mean() > 0.995          # the paper is clean white
    assert (out[img == 0] < 80).all()                 # the lines are dark


def test_light_pencil_is_one_stroke_not_two_edges() -> None:
    img = np.full((80, 120), 250, np.uint8)
    cv2.line(img, (10, 40), (110, 40), 165, 3)        # a light pencil stroke, 3 px
    cv2.circle(img, (60, 40), 25, 175, 2)
    out, info = extract_with_info(img)
    assert info["source"] == "line_art"
    column = out[:, 30] < 128                         # across the stroke: one run of ink
    runs = np.count_nonzero(np.diff(column.astype(np.int8)) == 1)
    assert runs == 1 and column[39:42].all()


def test_shaded_scan_keeps_one_stroke_per_line_and_its_tones() -> None:
    """A scanned page with a gray fill (shading) and soft lines: its gray is the outline,
    not Canny's edges (two thin lines along each soft line, a ring colored between)."""
    img = line_drawing()
    img[60:100, 90:140] = np.minimum(img[60:100, 90:140], 110)  # a gray shadow
    soft = cv2.GaussianBlur(img, (0, 0), 1.2)
    soft = np.clip(soft.astype(np.float32) * 0.9 + 10, 0, 255).astype(np.uint8)   # toned paper
    out, info = extract_with_info(scan_of(soft))
    assert info["source"] == "shaded" and info["stretched"]
    column = out[:, 30] < 128                          # across the frame's top: one run
    runs = np.count_nonzero(np.diff(column[:20].astype(np.int8)) == 1)
    assert runs == 1
    tone = np.median(out[70:90, 100:130])                # the shadow stays a mid gray
    assert 60 < tone < 200
    far = cv2.erode((img == 255).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert (out[far] >= 240).mean() > 0.99             # the paper is clean


@pytest.mark.parametrize("ink", [(40, 90, 210), (90, 50, 30), (200, 40, 40)])
def test_line_art_in_colored_ink_is_line_art(ink) -> None:
    """Blue, brown or red lines on white: one stroke per line (Canny found both edges of
    each line: a doubled outline with a ring between)."""
    strength = (255 - line_drawing()).astype(np.float32)[..., None] / 255
    img = (255 * (1 - strength) + np.float32(ink) * strength).astype(np.uint8)
    out, info = extract_with_info(img)
    assert info["source"] == "line_art" and info["colored_lines"]
    column = out[:, 30] < 128                         # across the top of the frame: one run
    assert np.count_nonzero(np.diff(column[:20].astype(np.int8)) == 1) == 1
    assert (out[line_drawing() == 255] >= 250).mean() > 0.99      # the paper stays white


def test_colored_fills_with_colored_lines_are_a_color_page() -> None:
    img = np.full((100, 140, 3), 255, np.uint8)
    cv2.rectangle(img, (18, 18), (121, 81), (40, 90, 210), 2)
    img[30:70, 30:70] = RED                            # a colored area: not only lines
    out, info = extract_with_info(img)
    assert info["source"] == "extracted" and not info["colored_lines"]


def test_white_on_black_is_inverted() -> None:
    img = 255 - line_drawing()
    out, info = extract_with_info(img)
    assert info["inverted"] and info["source"] == "line_art"
    np.testing.assert_array_equal(out, line_drawing())


def test_colored_page_is_still_extracted() -> None:
    out, info = extract_with_info(flat_colored())
    assert info["source"] == "extracted" and set(np.unique(out)) == {0, 255}
