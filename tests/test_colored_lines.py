"""Line art drawn in colored ink: found as line art (not a color page), colored like any
line art, and its lines drawn in their own color in the image, the layers and the
studio's recolors."""

import cv2
import numpy as np
import pytest

from fastcolor.flats import compose
from fastcolor.layers import layer_arrays
from fastcolor.outline import extract_with_info, ink_colors
from fastcolor.pipeline import Pipeline
from fastcolor.studio.store import StoredResult

BLUE = (40, 90, 210)


def drawing(ink=BLUE):
    """Closed shapes in anti-aliased colored lines on white."""
    gray = np.full((96, 128), 255, np.uint8)
    cv2.rectangle(gray, (4, 4), (123, 91), 0, 3, cv2.LINE_AA)
    cv2.circle(gray, (45, 48), 24, 0, 2, cv2.LINE_AA)
    cv2.ellipse(gray, (92, 50), (20, 30), 10, 0, 360, 0, 2, cv2.LINE_AA)
    strength = (255 - gray).astype(np.float32)[..., None] / 255
    return (255 * (1 - strength) + np.float32(ink) * strength).round().astype(np.uint8), gray


@pytest.fixture(scope="module")
def pipe():
    return Pipeline.random(seed=0)


def test_compose_with_ink_colors():
    flats = np.array([[[200, 100, 50], [200, 100, 50], [10, 20, 30]]], np.uint8)
    gray = np.array([[255, 0, 128]], np.uint8)
    black = compose(flats, gray)
    np.testing.assert_array_equal(compose(flats, gray, np.zeros_like(flats)), black)
    ink = np.full_like(flats, 0)
    ink[..., 2] = 255                                    # blue ink
    out = compose(flats, gray, ink)
    assert tuple(out[0, 0]) == (200, 100, 50)            # paper: the flat
    assert tuple(out[0, 1]) == (0, 0, 255)               # full ink: the ink
    expect = (flats[0, 2].astype(int) * 128 + np.array([0, 0, 255]) * 127 + 127) // 255
    assert tuple(out[0, 2]) == tuple(expect)             # half: both, by coverage


def test_ink_colors_unblend_the_lines():
    rgb, _ = drawing()
    outline, info = extract_with_info(rgb)
    assert info["colored_lines"]
    ink = ink_colors(rgb, outline)
    core = outline < 40
    assert np.abs(ink[core].astype(int) - BLUE).max() <= 40
    # over white flats the composite gives the drawing back
    again = compose(np.full_like(rgb, 255), outline, ink)
    assert np.abs(again.astype(int) - rgb).mean() < 3


def test_pipeline_draws_the_lines_in_their_color(pipe, tmp_path):
    rgb, gray = drawing()
    r = pipe(rgb, seed=0)
    assert r.line_color is not None and r.extras["outline"]["colored_lines"]
    core = gray < 30
    blue_ish = (r.image[core][:, 2].astype(int) - r.image[core][:, 0]) > 100
    assert blue_ish.mean() > 0.9
    # the layers: a colored lines layer; its composite is the image
    lines = layer_arrays(r)["lines"]
    assert np.abs(lines[core][:, :3].astype(int) - BLUE).max() <= 40
    r.save(tmp_path / "page.psd")
    # the studio's recolor keeps them
    stored = StoredResult.from_result(r)
    y, x = 48, 45
    again = stored.recolor([(x, y)], [(255, 255, 0)])
    assert tuple(again.image[y, x]) == (255, 255, 0)
    assert (again.image[core][:, 2].astype(int) - again.image[core][:, 0] > 100).mean() > 0.9
    assert stored.to_result().line_color is r.line_color


def test_black_line_art_has_no_line_color(pipe):
    _, gray = drawing()
    r = pipe(gray, seed=0)
    assert r.line_color is None
    np.testing.assert_array_equal(r.image, compose(r.flats, r.outline))


def test_series_keeps_the_line_color(pipe):
    rgb, gray = drawing()
    pages = pipe.colorize_series([rgb, rgb], seed=0)
    core = gray < 30
    for r in pages:
        assert r.line_color is not None
        assert ((r.image[core][:, 2].astype(int) - r.image[core][:, 0]) > 100).mean() > 0.9
        np.testing.assert_array_equal(r.image, compose(r.flats, r.outline, r.line_color))
