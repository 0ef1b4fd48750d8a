"""Tests of fastcolor.panels: panels found on synthetic pages drawn here with OpenCV
(anti-aliased lines), the shipped example page, and the tiles and blend weights of
boxes far from square."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastcolor.errors import InvalidInputError
from fastcolor.flats import line_art_gray
from fastcolor.panels import (Box, blend_weights, default_min_gutter, find_panels,
                              paper_level_of, tile_box)

AA = cv2.LINE_AA
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def canvas(h, w, paper=255):
    return np.full((h, w), paper, np.uint8)


def art(img, x0, y0, x1, y1, rng, ink=0):
    """Some line art inside the rectangle (x0, y0)-(x1, y1): circles, lines, a filled
    blob, all clipped to it."""
    sub = img[y0:y1, x0:x1]
    h, w = sub.shape
    for _ in range(6):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(sub, c, int(rng.integers(5, max(6, min(h, w) // 3))), ink, 2, AA)
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(sub, p, q, ink, int(rng.integers(1, 4)), AA)
    cv2.ellipse(sub, (w // 2, h // 2), (max(1, w // 8), max(1, h // 8)), 0, 0, 360, ink, -1, AA)


def bordered(img, rects, rng, thickness=3, ink=0):
    """Bordered panels with art: rects are (x0, y0, x1, y1), the border drawn on them."""
    for x0, y0, x1, y1 in rects:
        art(img, x0 + 6, y0 + 6, x1 - 6, y1 - 6, rng, ink)
        cv2.rectangle(img, (x0, y0), (x1, y1), ink, thickness, AA)
    return img


def check(panels, shape):
    """The invariants of every page: at least one panel, inside the page, no overlaps."""
    h, w = shape
    assert panels and all(isinstance(b, Box) for b in panels)
    cover = np.zeros(shape, np.int32)
    for b in panels:
        assert 0 <= b.top < b.bottom <= h and 0 <= b.left < b.right <= w, b
        cover[b.slice] += 1
    assert cover.max() == 1, "panels overlap"


def near(box, rect, tol=6):
    """``box`` hugs the rectangle (x0, y0, x1, y1) drawn as a border (both ends drawn:
    cv2 includes x1, y1), every edge within ``tol`` px, and contains it."""
    x0, y0, x1, y1 = rect
    ok = (box.top <= y0 and box.left <= x0 and box.bottom > y1 and box.right > x1)
    return ok and max(y0 - box.top, x0 - box.left, box.bottom - 1 - y1,
                      box.right - 1 - x1) <= tol


def assert_boxes(panels, rects, tol=6):
    assert len(panels) == len(rects), (panels, rects)
    for b, r in zip(panels, rects):
        assert near(b, r, tol), (b, r)


# -- bordered pages -----------------------------------------------------------------

def test_grid_2x2_bordered():
    rects = [(30, 30, 390, 290), (410, 30, 770, 290), (30, 310, 390, 570), (410, 310, 770, 570)]
    page = bordered(canvas(600, 800), rects, np.random.default_rng(0))
    panels = find_panels(page)
    check(panels, page.shape)
    assert_boxes(panels, rects)


def three_row_rects():
    return [[(20, 20, 780, 200)],
            [(20, 220, 300, 420), (320, 220, 780, 420)],
            [(20, 440, 150, 680), (170, 440, 600, 680), (620, 440, 780, 680)]]


def test_three_rows_of_1_2_3_unequal_panels_in_reading_order():
    rows = three_row_rects()
    page = bordered(canvas(700, 800), [r for row in rows for r in row],
                    np.random.default_rng(1))
    panels = find_panels(page)
    check(panels, page.shape)
    assert_boxes(panels, [r for row in rows for r in row])
    # right to left (manga): rows still top to bottom, each row reversed
    rtl = find_panels(page, rtl=True)
    assert_boxes(rtl, [r for row in rows for r in reversed(row)])


def test_reading_order_tall_panel_beside_two_stacked():
    # no gutter crosses the whole page horizontally: the left column first, then the
    # right column top to bottom (rtl: the right column first)
    rects = [(20, 20, 380, 780), (400, 20, 780, 390), (400, 410, 780, 780)]
    page = bordered(canvas(800, 800), rects, np.random.default_rng(2))
    assert_boxes(find_panels(page), rects)
    assert_boxes(find_panels(page, rtl=True), [rects[1], rects[2], rects[0]])


def test_examples_page_manga_is_its_four_bordered_panels():
    gray = line_art_gray(EXAMPLES / "page_manga.png")
    assert gray.shape == (1400, 1000)
    panels = find_panels(gray)
    check(panels, gray.shape)
    # make_examples.draw_page: cv2.rectangle(..., 4 px, AA) on these corners
    rects = [(40, 40, 960, 420), (40, 450, 470, 960), (500, 450, 960, 960),
             (40, 990, 960, 1360)]
    assert_boxes(panels, rects, tol=6)
    for b in panels:  # the box's edge is the border's outer edge plus the 2 px pad
        sub = gray[b.slice] < paper_level_of(gray)
        rows, cols = np.flatnonzero(sub.any(1)), np.flatnonzero(sub.any(0))
        assert rows[0] == cols[0] == 2 and rows[-1] == b.height - 3 and cols[-1] == b.width - 3


def test_thin_bordered_panel_with_an_empty_band_is_not_cut():
    # 1 px borders, a tall empty stretch inside: rows there are almost paper, but the
    # side borders cross it, so it is no gutter
    page = canvas(600, 400)
    cv2.rectangle(page, (20, 20), (380, 580), 0, 1, AA)
    cv2.circle(page, (200, 80), 40, 0, 2, AA)
    cv2.circle(page, (200, 500), 40, 0, 2, AA)
    assert_boxes(find_panels(page), [(20, 20, 380, 580)], tol=4)


def test_page_number_in_the_margin_is_not_a_panel():
    rects = [(40, 40, 560, 400), (40, 420, 560, 760)]
    page = bordered(canvas(820, 600), rects, np.random.default_rng(3))
    cv2.putText(page, "12", (288, 800), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 1, AA)
    assert (page[770:, :] < 128).any()
    panels = find_panels(page)
    check(panels, page.shape)
    assert_boxes(panels, rects)


# -- borderless art, strips, tall panels -----------------------------------------------

def test_borderless_art_separated_by_paper():
    """Beside a framed panel, borderless art is cut at the paper around it; with no frame
    anywhere the page is one picture (an illustration, a character sheet)."""
    page = canvas(1000, 900)
    rng = np.random.default_rng(4)
    blobs = [(40, 40, 420, 300), (480, 60, 860, 320), (60, 380, 840, 660)]  # x0 y0 x1 y1
    for x0, y0, x1, y1 in blobs:
        cv2.ellipse(page, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2),
                    0, 0, 360, 0, 2, AA)
        art(page, x0 + (x1 - x0) // 4, y0 + (y1 - y0) // 4, x1 - (x1 - x0) // 4,
            y1 - (y1 - y0) // 4, rng)
    assert find_panels(page) == [Box(0, 0, 1000, 900)]          # no frame: one picture
    frame = (40, 720, 860, 960)
    bordered(page, [frame], rng)
    panels = find_panels(page)
    check(panels, page.shape)
    assert len(panels) == 4
    for b, (x0, y0, x1, y1) in zip(panels, blobs):
        # hugs the art with a little paper around it (pad 2 px; the ellipse's 1-2 px
        # tips may be trimmed as specks)
        assert abs(b.top - y0) <= 4 and abs(b.left - x0) <= 4
        assert abs(b.bottom - 1 - y1) <= 4 and abs(b.right - 1 - x1) <= 4
        sub = page[b.slice]
        assert (sub[:1] > 200).all() and (sub[:, :1] > 200).all()  # paper at its edge
    assert_boxes(panels[3:], [frame])


def test_a_box_drawn_among_borderless_art_is_no_panel_frame():
    """A sign drawn in an illustration is framed like a panel, but a panel's frames reach
    across the page: framed boxes spanning under FRAME_SPAN of it either way leave the
    page one picture; a framed box across the page is a panel beside the art."""
    def page_with(box):
        page = canvas(800, 1000)
        rng = np.random.default_rng(12)
        art(page, 60, 400, 420, 740, rng)              # borderless drawings ...
        art(page, 520, 400, 940, 740, rng)
        return bordered(page, [box], rng)               # ... under a framed box

    sign = (600, 80, 860, 300)                          # 26 % of the width, 28 % of the height
    assert find_panels(page_with(sign)) == [Box(0, 0, 800, 1000)]
    frame = (100, 60, 880, 320)                         # 78 % of the width
    page = page_with(frame)
    panels = find_panels(page)
    check(panels, page.shape)
    assert len(panels) == 3
    assert_boxes(panels[:1], [frame])


def test_a_line_crossing_the_gap_between_art_keeps_it_one_panel():
    page = canvas(800, 400)
    bordered(page, [(20, 620, 380, 780)], np.random.default_rng(11))   # a framed panel
    cv2.circle(page, (200, 120), 90, 0, 3, AA)
    cv2.circle(page, (200, 480), 90, 0, 3, AA)
    cv2.line(page, (200, 210), (230, 390), 0, 1, AA)  # a thin slanted line joins them
    panels = find_panels(page)
    assert len(panels) == 2
    cv2.line(page, (200, 210), (230, 390), 255, 3, AA)  # erased: two panels of art
    assert len(find_panels(page)) == 3


def test_tall_panel_and_its_tiles():
    page = canvas(6000, 800)
    rect = (20, 20, 780, 5980)
    bordered(page, [rect], np.random.default_rng(5))
    panels = find_panels(page)
    assert_boxes(panels, [rect])
    box = panels[0]
    tiles = tile_box(box)
    assert len(tiles) > 5
    check_tiles(box, tiles, 1.5, 0.25)


def test_webtoon_strip_of_six_panels():
    h, w = 12000, 800
    page = canvas(h, w)
    rng = np.random.default_rng(6)
    heights = [1500, 2300, 1200, 2600, 1700, 2000]  # + 100 px gutters and margins
    rects, y = [], 50
    for i, ph in enumerate(heights):
        rect = (30, y, 770, y + ph - 1)
        if i % 2:  # bordered
            bordered(page, [rect], rng)
        else:  # borderless art reaching its rectangle's corners
            art(page, *rect, rng)
            cv2.line(page, rect[:2], rect[2:], 0, 2, AA)
            cv2.line(page, (rect[0], rect[3]), (rect[2], rect[1]), 0, 2, AA)
        rects.append(rect)
        y += ph + 100
    assert y - 100 + 50 <= h
    panels = find_panels(page)
    check(panels, page.shape)
    assert_boxes(panels, rects)


def test_no_gutters_is_the_whole_page():
    page = canvas(500, 700)
    for k in range(-500, 700, 12):  # hatching over the whole page, edge to edge
        cv2.line(page, (k, 0), (k + 500, 500), 0, 2, AA)
    art(page, 0, 0, 700, 500, np.random.default_rng(7))
    assert find_panels(page) == [Box(0, 0, 500, 700)]


def test_one_bordered_panel_full_page_without_margin():
    page = bordered(canvas(300, 400), [(0, 0, 399, 299)], np.random.default_rng(8))
    assert find_panels(page) == [Box(0, 0, 300, 400)]


# -- scans ---------------------------------------------------------------------------

def test_noisy_gray_scan_of_a_grid():
    rng = np.random.default_rng(9)
    rects = [(40, 40, 500, 400), (540, 40, 1000, 400), (40, 440, 500, 800), (540, 440, 1000, 800)]
    page = bordered(canvas(840, 1040), rects, rng)
    scan = page.astype(np.float64) * (225 / 255) + rng.normal(0, 8, page.shape)
    for _ in range(40):  # dark specks of 1-3 px in the gutters and margins
        y = int(rng.choice([rng.integers(410, 428), rng.integers(3, 30)]))
        x = int(rng.integers(0, 1040))
        s = int(rng.integers(1, 4))
        scan[y:y + s, x:x + s] = rng.uniform(0, 80)
    for _ in range(20):
        y, x, s = int(rng.integers(0, 840)), int(rng.integers(510, 528)), int(rng.integers(1, 4))
        scan[y:y + s, x:x + s] = rng.uniform(0, 80)
    scan = np.clip(np.round(scan), 0, 255).astype(np.uint8)
    assert 215 <= int(np.median(scan)) <= 230
    panels = find_panels(scan)
    check(panels, scan.shape)
    assert_boxes(panels, rects)


def test_paper_level_option():
    rects = [(20, 20, 180, 180), (220, 20, 380, 180)]
    page = bordered(canvas(200, 400), rects, np.random.default_rng(10))
    page[page > 200] = 150  # dark paper: the median finds it
    assert paper_level_of(page) == 150 - 32
    assert_boxes(find_panels(page), rects)
    assert_boxes(find_panels(page, paper_level=140), rects)
    # paper_level 0: nothing is ink, no panel found: the whole page
    assert find_panels(page, paper_level=0) == [Box(0, 0, 200, 400)]
    # paper_level 256: nothing is paper, no gutter: the whole page
    assert find_panels(page, paper_level=256) == [Box(0, 0, 200, 400)]


# -- edge cases ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (1, 5000), (3, 3)])
@pytest.mark.parametrize("value", [0, 255])
def test_tiny_and_thin_pages_are_one_panel(shape, value):
    page = np.full(shape, value, np.uint8)
    assert find_panels(page) == [Box(0, 0, *shape)]


def test_blank_page_is_one_panel():
    assert find_panels(canvas(1400, 1000)) == [Box(0, 0, 1400, 1000)]
    assert find_panels(canvas(100, 100, paper=200)) == [Box(0, 0, 100, 100)]


def test_only_specks_is_the_whole_page():
    page = canvas(400, 300)
    page[100:103, 100:103] = 0
    page[300, 50] = 0
    assert find_panels(page) == [Box(0, 0, 400, 300)]


def test_defaults_scale_with_the_short_side():
    assert default_min_gutter(1400, 1000) == 8
    assert default_min_gutter(2339, 1654) == 14
    assert default_min_gutter(20000, 800) == 8
    assert default_min_gutter(1654, 2339) == 14


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.uint8),
                                 np.zeros((0, 4), np.uint8), [[0]]])
def test_bad_gray_is_refused(bad):
    with pytest.raises(InvalidInputError, match="uint8|0 pixels"):
        find_panels(bad)


@pytest.mark.parametrize("kw", [dict(min_gutter=0), dict(min_gutter=2.5), dict(paper_level=-1),
                                dict(paper_level=257), dict(min_area=True), dict(pad=-1)])
def test_bad_options_are_refused(kw):
    with pytest.raises(InvalidInputError):
        find_panels(canvas(10, 10), **kw)


def test_box_helpers_and_validation():
    b = Box(2, 3, 4, 5)
    assert (b.bottom, b.right, b.area, b.aspect) == (6, 8, 20, 1.25)
    assert np.zeros((10, 10))[b.slice].shape == (4, 5)
    with pytest.raises(InvalidInputError):
        Box(0, 0, 0, 1)
    with pytest.raises(InvalidInputError):
        Box(-1, 0, 1, 1)
    with pytest.raises(InvalidInputError):
        Box(0.5, 0, 1, 1)
    with pytest.raises(Exception):
        b.top = 1  # frozen


# -- tiles and blend weights -----------------------------------------------------------

def inside(tile, box):
    """The tile's slices in the box's own coordinates."""
    return Box(tile.top - box.top, tile.left - box.left, tile.height, tile.width).slice


def check_tiles(box, tiles, max_aspect, overlap):
    """tile_box's promises for ``box``: inside it, covering it, each within
    ``max_aspect``, consecutive ones overlapping by >= overlap of the short side,
    the first and last flush with its ends, evenly spread; weights sum to 1."""
    if box.aspect <= max_aspect:
        assert tiles == [box]
    else:
        tall = box.height > box.width
        short = min(box.height, box.width)
        starts = [t.top if tall else t.left for t in tiles]
        lengths = {t.height if tall else t.width for t in tiles}
        assert len(lengths) == 1
        t = lengths.pop()
        want = min(max(1, int(np.ceil(overlap * short - 1e-9))), t - 1)
        assert starts[0] == (box.top if tall else box.left)
        assert starts[-1] + t == (box.bottom if tall else box.right)
        steps = np.diff(starts)
        assert (steps > 0).all() and steps.max() - steps.min() <= 1
        assert (t - steps >= want).all()
        for tile in tiles:
            assert tile.aspect <= max_aspect
            assert (tile.width if tall else tile.height) == short
    cover = np.zeros((box.height, box.width), np.int32)
    for tile in tiles:
        assert box.top <= tile.top and tile.bottom <= box.bottom
        assert box.left <= tile.left and tile.right <= box.right
        cover[inside(tile, box)] += 1
    assert cover.min() >= 1
    weights = blend_weights(box, tiles)
    acc = np.zeros((box.height, box.width), np.float32)
    for tile, w in zip(tiles, weights):
        assert w.dtype == np.float32 and w.shape == (tile.height, tile.width)
        assert w.min() >= 0 and w.max() <= 1
        acc[inside(tile, box)] += w
    assert (acc == 1).all()


def test_square_box_is_one_tile_with_weight_one():
    box = Box(10, 20, 100, 120)
    assert tile_box(box) == [box]
    (w,) = blend_weights(box, [box])
    assert (w == 1).all()


def test_wide_box_tiles_and_linear_ramps():
    box = Box(5, 7, 100, 400)
    tiles = tile_box(box)
    check_tiles(box, tiles, 1.5, 0.25)
    assert len(tiles) == 3 and all(t.width == 150 and t.height == 100 for t in tiles)
    w0, w1, _ = blend_weights(box, tiles)
    ov = tiles[0].right - tiles[1].left
    assert ov >= 25
    ramp = w1[0, :ov]  # the second tile fades in linearly across the overlap
    np.testing.assert_allclose(ramp, (np.arange(ov) + 0.5) / ov, atol=1e-6)
    np.testing.assert_allclose(w0[0, -ov:], 1 - ramp, atol=1e-6)
    assert (w0[:, :tiles[1].left - tiles[0].left] == 1).all()  # alone: full weight
    assert (w0 == w0[:1]).all()  # no ramp across the short side


def test_tile_options_are_checked():
    with pytest.raises(InvalidInputError):
        tile_box(Box(0, 0, 10, 100), max_aspect=0.9)
    with pytest.raises(InvalidInputError):
        tile_box(Box(0, 0, 10, 100), overlap=1)
    with pytest.raises(InvalidInputError):
        blend_weights(Box(0, 0, 10, 10), [Box(0, 0, 10, 5)])  # does not cover
    with pytest.raises(InvalidInputError):
        blend_weights(Box(0, 0, 10, 10), [Box(0, 0, 11, 10)])  # outside


@settings(max_examples=150, deadline=None)
@given(h=st.integers(1, 700), w=st.integers(1, 700), top=st.integers(0, 50),
       left=st.integers(0, 50), max_aspect=st.sampled_from([1.0, 1.25, 1.5, 2.0, 3.7]),
       overlap=st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9]))
def test_tile_box_and_blend_weights_properties(h, w, top, left, max_aspect, overlap):
    box = Box(top, left, h, w)
    check_tiles(box, tile_box(box, max_aspect=max_aspect, overlap=overlap), max_aspect, overlap)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 4), cols=st.integers(1, 4),
       gutter=st.integers(16, 40))
def test_random_grids_are_found(seed, rows, cols, gutter):
    rng = np.random.default_rng(seed)
    ys = np.sort(rng.choice(np.arange(1, 8), rows - 1, replace=False)) if rows > 1 else []
    heights = np.diff(np.concatenate(([0], ys, [8]))) * 60
    rects, y = [], gutter
    widths_all = []
    for ph in heights:
        ws = rng.integers(2, 8, cols) * 40
        widths_all.append(ws)
        x, row = gutter, []
        for pw in ws:
            row.append((x, y, x + int(pw), y + int(ph)))
            x += int(pw) + gutter
        rects.append(row)
        y += int(ph) + gutter
    width = max(r[-1][2] for r in rects) + gutter
    page = bordered(canvas(y, width), [r for row in rects for r in row], rng)
    panels = find_panels(page)
    check(panels, page.shape)
    assert_boxes(panels, [r for row in rects for r in row])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 300), w=st.integers(1, 300),
       strokes=st.integers(0, 12), noise=st.sampled_from([0, 6, 20]),
       min_gutter=st.sampled_from([None, 1, 3, 8, 30]), pad=st.sampled_from([None, 0, 5]),
       rtl=st.booleans())
def test_random_pages_keep_the_invariants(seed, h, w, strokes, noise, min_gutter, pad, rtl):
    rng = np.random.default_rng(seed)
    page = canvas(h, w)
    for _ in range(strokes):
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            cv2.rectangle(page, p, q, 0, int(rng.integers(-1, 4)) or 1, AA)
        else:
            cv2.line(page, p, q, 0, int(rng.integers(1, 4)), AA)
    page = np.clip(page + rng.normal(0, noise, page.shape), 0, 255).astype(np.uint8)
    panels = find_panels(page, min_gutter=min_gutter, pad=pad, rtl=rtl)
    check(panels, page.shape)


def test_options_min_gutter_pad_and_min_area():
    rects = [(20, 20, 380, 180), (20, 200, 380, 380)]  # 20 px apart: ~13 px of paper
    page = bordered(canvas(400, 400), rects, np.random.default_rng(11))
    assert len(find_panels(page)) == 2
    assert_boxes(find_panels(page, min_gutter=20, pad=2), [(20, 20, 380, 380)])  # too narrow
    hug = find_panels(page, pad=0)
    for b in hug:  # pad 0: the boxes end on the border's outermost dark pixels
        sub = page[b.slice] < paper_level_of(page)
        assert sub[0].any() and sub[-1].any() and sub[:, 0].any() and sub[:, -1].any()
    assert find_panels(page, min_area=400 * 400) == [Box(0, 0, 400, 400)]  # all dropped


def test_a_dot_screen_is_not_specks():
    # a screen tone (2 px dots every 6 px) between two panels: dense, so not specks,
    # and no gutter inside it
    page = canvas(400, 300)
    ys, xs = np.mgrid[150:250:6, 20:280:6]
    page[ys, xs] = page[ys + 1, xs] = 0
    page[:120] = bordered(canvas(120, 300), [(20, 20, 280, 100)], np.random.default_rng(12))
    page[280:] = bordered(canvas(120, 300), [(20, 0, 280, 100)], np.random.default_rng(13))
    panels = find_panels(page)
    check(panels, page.shape)
    assert len(panels) == 3 and near(panels[1], (20, 150, 278, 247), tol=4)
