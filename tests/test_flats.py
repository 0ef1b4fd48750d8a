"""Tests of fastcolor.flats (the reference path; tests/test_flats_cpp.py proves the C++
path equal to it) and of the pipeline's flats stage: known regions of synthetic line
art, gaps, narrow regions, hatching, trapping, properties on random drawings, exact
stroke hints, and pages that keep their shape."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcolor import FastcolorConfig, Pipeline
from fastcolor.errors import InvalidInputError
from fastcolor.flats import (compose, default_gap, default_min_area, find_ink, find_regions,
                             hint_region_colors, ink_threshold, line_art_gray)
from fastcolor.ops import kernel_mode

AA = cv2.LINE_AA


def regions(gray, **kw):
    with kernel_mode("reference"):
        return find_regions(gray, **kw)


def canvas(h=96, w=128):
    return np.full((h, w), 255, np.uint8)


def same_partition(labels, known, keep):
    """``labels`` and ``known`` split the pixels of ``keep`` the same way: one label per
    known region and one known region per label."""
    a, b = labels[keep].astype(np.int64), known[keep].astype(np.int64)
    pairs = np.unique(a * (1 << 32) + b)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def known_regions(binary_ink):
    """Ground truth: 4-connected components of the paper of an exact (non-AA) drawing."""
    _, lab = cv2.connectedComponents((~binary_ink).astype(np.uint8), connectivity=4)
    return lab


def away_from_ink(binary_ink, distance=2):
    k = np.ones((2 * distance + 1, 2 * distance + 1), np.uint8)
    return cv2.dilate(binary_ink.astype(np.uint8), k) == 0


def check_partition_contract(labels):
    """Every pixel in exactly one region 0..n-1, each region 4-connected."""
    assert labels.dtype == np.int32
    n = int(labels.max()) + 1
    assert labels.min() == 0 and len(np.unique(labels)) == n
    for r in range(n):
        count, _ = cv2.connectedComponents((labels == r).astype(np.uint8), connectivity=4)
        assert count == 2, f"region {r} is not 4-connected"


# ---------------------------------------------------------------------------
# the ink finder
# ---------------------------------------------------------------------------


def test_ink_threshold_adapts_to_paper_and_lines():
    clean = canvas()
    cv2.line(clean, (5, 5), (100, 80), 0, 3, AA)
    assert ink_threshold(clean) == 170
    pencil = np.full((96, 128), 250, np.uint8)           # light pencil lines on white
    cv2.line(pencil, (5, 5), (100, 80), 160, 3)
    t = ink_threshold(pencil)
    assert 160 < t < 250 and find_ink(pencil)[40, 50] == (pencil[40, 50] == 160)
    toned = np.full((96, 128), 215, np.uint8)            # toned paper, dark lines
    cv2.line(toned, (5, 5), (100, 80), 20, 3)
    assert 20 < ink_threshold(toned) < 215
    assert ink_threshold(np.full((20, 20), 200, np.uint8)) == 0       # no lines: no ink
    assert not find_ink(np.full((20, 20), 200, np.uint8)).any()


def test_line_art_gray_of_rgba_line_layer():
    layer = np.zeros((30, 40, 4), np.uint8)              # ink on transparency
    layer[10:13, :, 3] = 255
    gray = line_art_gray(layer)
    assert gray.dtype == np.uint8 and (gray[10:13] == 0).all() and (gray[:10] == 255).all()
    lab = regions(gray, gap=0, min_area=0)
    assert lab[5, 5] != lab[20, 5]


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.int64), np.zeros((0, 4), np.uint8), "nope"])
def test_bad_inputs_raise(bad):
    with pytest.raises(InvalidInputError):
        regions(bad)


def test_empty_line_art_raises_on_every_path():
    for mode in ("reference", "auto"):
        with kernel_mode(mode), pytest.raises(InvalidInputError, match="0 pixels"):
            find_regions(np.zeros((0, 5), np.uint8), threshold=128)


@pytest.mark.parametrize("kw", [dict(gap=-1), dict(min_area=-3), dict(gap=1.5), dict(threshold=300),
                                dict(gap=True)])
def test_bad_parameters_raise(kw):
    with pytest.raises(InvalidInputError):
        regions(canvas(8, 8), **kw)


def test_defaults_scale_with_the_page():
    assert default_gap(288, 384) == 4 and default_gap(4096, 4096) == 14
    assert default_gap(2339, 1654) == 6
    assert default_gap(20000, 800) == 4            # a strip: its width, not its length
    assert default_min_area(288, 384) == 16 and default_min_area(4096, 4096) == 419
    assert default_min_area(20000, 800) == 16


# ---------------------------------------------------------------------------
# known regions
# ---------------------------------------------------------------------------


def nested_shapes(aa: bool, thickness: int):
    img = canvas(120, 160)
    line = AA if aa else cv2.LINE_8
    cv2.rectangle(img, (6, 6), (153, 113), 0, thickness, line)
    cv2.circle(img, (50, 60), 35, 0, thickness, line)
    cv2.circle(img, (50, 60), 14, 0, thickness, line)
    tri = np.array([[100, 20], [145, 100], [95, 95]], np.int32)
    cv2.polylines(img, [tri], True, 0, thickness, line)
    return img


@pytest.mark.parametrize("aa,thickness", [(False, 1), (True, 2), (True, 8)])
def test_nested_shapes_give_the_known_regions(aa, thickness):
    img = nested_shapes(aa, thickness)
    exact = nested_shapes(False, thickness) < 128
    lab = regions(img, gap=3, min_area=16)
    known = known_regions(exact)
    assert same_partition(lab, known, away_from_ink(img < 250))
    assert len(np.unique(lab)) == len(np.unique(known[~exact]))   # outside, ring, annulus, disk, triangle
    check_partition_contract(lab)


def test_one_pixel_wide_region_is_kept():
    img = canvas(40, 80)
    img[10:13, 5:75] = 0          # two bars with a 1-px row of paper between, closed at both ends
    img[11, 8:72] = 255
    lab = regions(img, gap=4, min_area=16)
    strip = lab[11, 8:72]
    assert len(np.unique(strip)) == 1 and strip[0] != lab[5, 40]
    assert lab[5, 40] == lab[30, 40]                      # the paper around is one region
    assert (lab[~((img < 128) | (lab == strip[0]))] == lab[5, 40]).all()


def test_narrow_neck_is_not_cut():
    """A region with a 3-px neck between two parallel lines stays one region (closing by
    dilation would cut it in two)."""
    img = canvas(80, 120)
    cv2.rectangle(img, (5, 5), (114, 74), 0, 2)
    cv2.line(img, (40, 5), (40, 37), 0, 2)       # two walls leave a 3-px opening
    cv2.line(img, (40, 42), (40, 74), 0, 2)
    # the opening is exactly between two line ends: that is a gap, and gap=4 closes it;
    # a long neck between parallel walls is no gap:
    neck = canvas(80, 120)
    cv2.rectangle(neck, (5, 5), (114, 74), 0, 2)
    cv2.rectangle(neck, (45, 5), (75, 36), 0, -1)
    cv2.rectangle(neck, (45, 41), (75, 74), 0, -1)
    lab = regions(neck, gap=4, min_area=16)
    assert lab[20, 20] == lab[20, 100] == lab[38, 60]
    assert regions(img, gap=4, min_area=16)[20, 20] != regions(img, gap=4, min_area=16)[20, 100]


@pytest.mark.parametrize("gap", [1, 2, 4])
@pytest.mark.parametrize("shape", ["circle", "square", "thick"])
def test_gaps_up_to_gap_do_not_leak(gap, shape):
    img = canvas(100, 100)
    if shape == "circle":
        cv2.circle(img, (50, 50), 30, 0, 2, AA)
        img[50:50 + gap, 75:86] = 255                     # `gap` rows of the ring erased
    elif shape == "square":
        cv2.rectangle(img, (20, 20), (80, 80), 0, 1)
        img[40:40 + gap, 19:22] = 255                     # a gap in the left side
    else:
        cv2.rectangle(img, (20, 20), (80, 80), 0, 8, AA)
        img[40:40 + gap, 10:30] = 255
    lab = regions(img, gap=gap, min_area=16)
    assert lab[50, 50] != lab[3, 3], "the fill leaked through the gap"
    unclosed = regions(img, gap=0, min_area=16)
    assert unclosed[50, 50] == unclosed[3, 3]             # the gap is real
    check_partition_contract(lab)


def test_hatching_does_not_split_the_region_it_shades():
    img = canvas(100, 140)
    cv2.rectangle(img, (5, 5), (134, 94), 0, 2, AA)
    cv2.circle(img, (45, 50), 30, 0, 2, AA)
    for x in range(80, 130, 4):                           # cross-hatching in the right half
        cv2.line(img, (x, 60), (x + 8, 90), 0, 1, AA)
        cv2.line(img, (x + 8, 60), (x, 90), 0, 1, AA)
    lab = regions(img, gap=3, min_area=16)
    assert lab[50, 45] != lab[20, 110]                    # circle vs the shaded area
    assert lab[20, 110] == lab[92 - 4, 74]                # hatching: no island of its own
    box = lab[60:91, 80:131][img[60:91, 80:131] == 255]
    assert (box == lab[20, 110]).mean() > 0.75            # the cells merged away


def test_hatching_that_thins_stays_in_its_region():
    """The roof of examples/page_manga.png: hatch strokes 2 px wide that thin to 1 px
    near the roof's bottom line. Thinning breaks their skeletons where they thin; those
    skeleton ends are not stroke ends and must not be closed (they were: each strip
    between two strokes was cut off the roof, colored on its own, a blotchy roof)."""
    from pathlib import Path
    page = Path(__file__).resolve().parent.parent / "examples" / "page_manga.png"
    roof = cv2.imread(str(page), cv2.IMREAD_GRAYSCALE)[1040:1140, 380:640]
    lab = regions(roof, gap=4, min_area=16)
    strips = lab[62:86, 50:160][roof[62:86, 50:160] == 255]
    assert (strips == lab[40, 130]).all()           # every strip is the roof (was 55 %)


def test_trapping_colors_meet_under_the_line():
    img = canvas(60, 60)
    img[:, 27:33] = 0                                     # a 6-px line between two halves
    img[:, 26] = img[:, 33] = 128                         # anti-aliased edges
    lab = regions(img, gap=0, min_area=0)
    assert (lab[:, :30] == lab[0, 0]).all() and (lab[:, 30:] == lab[0, 59]).all()


def test_all_ink_and_all_paper_are_one_region():
    assert (regions(np.zeros((7, 9), np.uint8)) == 0).all()
    assert (regions(np.full((7, 9), 255, np.uint8)) == 0).all()
    assert regions(np.full((1, 1), 3, np.uint8)).shape == (1, 1)


def test_deterministic_and_dispatch_modes_agree():
    img = nested_shapes(True, 2)
    a, b = regions(img), regions(img)
    assert np.array_equal(a, b)
    np.testing.assert_array_equal(find_regions(img), a)    # auto (C++ when built)


# ---------------------------------------------------------------------------
# properties on random drawings
# ---------------------------------------------------------------------------


@st.composite
def drawings(draw):
    h, w = draw(st.integers(8, 64)), draw(st.integers(8, 64))
    img = np.full((h, w), 255, np.uint8)
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["line", "circle", "rect"]))
        p = (draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1)))
        q = (draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1)))
        t = draw(st.integers(1, 3))
        aa = draw(st.sampled_from([AA, cv2.LINE_8]))
        if kind == "line":
            cv2.line(img, p, q, 0, t, aa)
        elif kind == "circle":
            cv2.circle(img, p, draw(st.integers(1, 30)), 0, t, aa)
        else:
            cv2.rectangle(img, p, q, 0, t, aa)
    gap = draw(st.integers(0, 4))
    min_area = draw(st.integers(0, 30))
    return img, gap, min_area


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawings())
def test_property_every_pixel_one_connected_region(case):
    img, gap, min_area = case
    lab = regions(img, gap=gap, min_area=min_area)
    assert lab.shape == img.shape
    check_partition_contract(lab)


@pytest.fixture(scope="module")
def pipe():
    return Pipeline.random(FastcolorConfig.tiny(), seed=0)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(drawings(), st.integers(0, 1000))
def test_property_flats_are_flat(pipe, case, seed):
    img, gap, min_area = case
    r = pipe(img, seed=seed, gap=gap, min_area=min_area)
    assert r.regions.shape == img.shape and r.flats.shape == img.shape + (3,)
    np.testing.assert_array_equal(r.flats, r.region_colors[r.regions])
    ink = find_ink(img)
    for k in np.unique(r.regions):
        px = r.flats[(r.regions == k) & ~ink]
        assert len(px) == 0 or (px == px[0]).all()
    np.testing.assert_array_equal(r.image, compose(r.flats, r.outline))


# ---------------------------------------------------------------------------
# the pipeline's flats stage
# ---------------------------------------------------------------------------


def page_with_shapes(h, w):
    img = np.full((h, w), 255, np.uint8)
    cv2.rectangle(img, (3, 3), (w - 4, h - 4), 0, 2, AA)
    r = min(h, w) // 4
    cv2.circle(img, (w // 4, h // 2), r, 0, 2, AA)
    cv2.rectangle(img, (w // 2, h // 4), (w // 2 + r, h // 4 + r), 0, 2, AA)
    return img


def test_flats_are_default_and_lines_stay_intact(pipe):
    img = page_with_shapes(150, 230)
    r = pipe(img, seed=3)
    assert r.flats is not None and r.regions.dtype == np.int32 and r.region_colors.dtype == np.uint8
    ink = img < 128
    assert (r.image[ink] <= 127).all()                           # ink stays dark
    assert (r.image[img == 0] == 0).all()                        # full ink exactly black
    soft = pipe(img, seed=3, flats=False)
    assert soft.flats is None and soft.image.shape == r.image.shape
    np.testing.assert_array_equal(soft.lowres, r.lowres)         # same sample either way


def test_stroke_hint_colors_exactly_its_region(pipe):
    img = page_with_shapes(150, 230)                             # not the model's S
    strokes = np.zeros((150, 230, 4), np.uint8)
    cy, cx = 75, 230 // 4
    strokes[cy - 2:cy + 3, cx - 5:cx + 6] = (213, 37, 101, 255)  # a dab inside the circle
    r = pipe(img, seed=0, hints=strokes)
    region = r.regions == r.regions[cy, cx]
    assert (r.flats[region] == (213, 37, 101)).all()
    paper = region & (img == 255)
    assert (r.image[paper] == (213, 37, 101)).all()
    others = ~region & (img == 255)
    assert not (r.image[others] == (213, 37, 101)).all(axis=1).any()
    assert not r.background_mask[region].any()
    # the strokes also condition the low-res sample: the circle's cells take the color
    circle_cells = (r.lowres == (213, 37, 101)).all(axis=2)
    assert circle_cells.any()


def test_two_strokes_in_one_region_the_larger_wins():
    labels = np.zeros((10, 10), np.int32)
    labels[:, 5:] = 1
    strokes = np.zeros((10, 10, 4), np.uint8)
    strokes[0:2, 0:2] = (1, 2, 3, 255)
    strokes[5:9, 0:3] = (9, 9, 9, 255)
    strokes[5, 7] = (4, 4, 4, 100)                      # below half alpha: not a stroke
    reg, col = hint_region_colors(labels, strokes)
    assert reg.tolist() == [0] and col.tolist() == [[9, 9, 9]]


@pytest.mark.parametrize("h,w", [(96, 288), (288, 96)])
def test_pages_keep_their_shape(pipe, h, w):
    """A 3:1 and a 1:3 page: the model sees a circle (letterboxed, not squashed), and the
    circle comes out as a filled circle."""
    img = np.full((h, w), 255, np.uint8)
    cy, cx, rad = h // 2, w // 2, 30
    cv2.circle(img, (cx, cy), rad, 0, 2, AA)
    seen = []
    condition = pipe.backend.condition

    def spy(lowres, outline):
        seen.append(outline[:, 0].cpu().numpy().copy())
        return condition(lowres, outline)

    pipe.backend.condition = spy
    try:     # no detector: its (untrained) mask would cut the disk (fastcolor.flats.split)
        r = pipe(img, seed=0, detect_background=False)
    finally:
        pipe.backend.condition = condition
    squares, tiles = np.concatenate(seen), r.extras["tiles"]
    assert len(tiles) >= 2 and len(squares) == len(tiles)    # a 3:1 page is tiled
    size = pipe.config.image_size
    for square, box in zip(squares, tiles):      # every tile seen with one scale for x and y
        scale = size / max(box.height, box.width)
        h, w = round(box.height * scale), round(box.width * scale)
        assert max(h, w) == size and abs(h / w - box.height / box.width) < 2 / min(h, w)
        expect = cv2.resize((255 - img[box.slice]).astype(np.float32) / 255, (w, h),
                            interpolation=cv2.INTER_AREA)
        top, left = (size - h) // 2, (size - w) // 2
        np.testing.assert_allclose(square[top:top + h, left:left + w], np.clip(expect, 0, 1),
                                   atol=0.5 / 255 + 1e-6)    # resized as 8-bit gray
        assert not square[:top].any() and not square[top + h:].any()      # paper padding
        assert not square[:, :left].any() and not square[:, left + w:].any()
    disk = r.regions == r.regions[cy, cx]
    ys, xs = np.nonzero(disk)
    assert abs(np.ptp(ys) - np.ptp(xs)) <= 1
    assert abs(disk.sum() - np.pi * (rad + 1) ** 2) < 0.1 * np.pi * rad ** 2
    assert (r.flats[disk] == r.flats[cy, cx]).all()
