"""The C++ flats fast path ``fastcolor._C.flat_regions`` against the NumPy/OpenCV reference
``fastcolor.flats.reference.flat_regions_reference``: the same labels, label for label
(both number regions in raster order of their first pixel), on the bundled examples, tiny
and odd shapes, synthetic drawings (anti-aliasing, thick lines, nested shapes, narrow
regions, hatching, broken outlines, black fills, noise), a synthetic comic page, many
gap / min_area / threshold values and random line drawings (hypothesis); results that do
not depend on the number of threads; and the checks of its arguments."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastcolor.flats.ink import ink_threshold
from fastcolor.flats.reference import flat_regions_reference

try:
    _C = importlib.import_module("fastcolor._C")
    _SKIP = None if hasattr(_C, "flat_regions") else (
        "fastcolor._C has no flat_regions (built before it was added): rebuild with "
        "`pip install --no-build-isolation -e .`")
except ImportError as e:
    _C, _SKIP = None, f"fastcolor._C is not built ({e}): `pip install --no-build-isolation -e .`"
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")

ROOT = Path(__file__).resolve().parents[1]
AA = cv2.LINE_AA


def fast(gray, gap, min_area, threshold) -> np.ndarray:
    return np.asarray(_C.flat_regions(gray, gap, min_area, threshold))


def assert_same(gray, gap, min_area, threshold=None):
    """Both paths give the same int32 labels; returns them."""
    threshold = ink_threshold(gray) if threshold is None else threshold
    want = flat_regions_reference(gray, gap, min_area, threshold)
    got = fast(gray, gap, min_area, threshold)
    assert got.dtype == np.int32 and got.shape == gray.shape
    if not np.array_equal(got, want):
        diff = np.argwhere(got != want)
        pytest.fail(f"labels differ at {len(diff)} pixels (first {diff[:5].tolist()}), gap={gap}, "
                    f"min_area={min_area}, threshold={threshold}, shape={gray.shape}: "
                    f"{int(got.max()) + 1} vs {int(want.max()) + 1} regions")
    return got


def canvas(h=80, w=96):
    return np.full((h, w), 255, np.uint8)


# ----------------------------------------------------------------- synthetic drawings

def circles_aa():
    img = canvas()
    cv2.circle(img, (30, 40), 20, 0, 1, AA)
    cv2.circle(img, (62, 36), 24, 0, 2, AA)
    cv2.circle(img, (70, 60), 9, 0, 8, AA)
    return img


def polygons():
    img = canvas()
    cv2.polylines(img, [np.array([[5, 5], [60, 12], [40, 70], [8, 50]], np.int32)], True, 0, 1)
    cv2.polylines(img, [np.array([[50, 20], [90, 30], [70, 75]], np.int32)], True, 0, 3, AA)
    cv2.line(img, (0, 78), (95, 40), 0, 8, AA)
    return img


def nested():
    img = canvas(90, 90)
    for r, t in ((40, 3), (30, 2), (20, 1), (10, 2), (4, 1)):
        cv2.circle(img, (45, 45), r, 0, t, AA)
    cv2.rectangle(img, (2, 2), (87, 87), 0, 2)
    return img


def narrow_region():
    """Two lines 1 px apart: the paper between them is its own region, never cut."""
    img = canvas(40, 60)
    img[10:12, 5:55] = 0
    img[13:15, 5:55] = 0
    img[20, 3:57] = 0
    img[22, 3:57] = 0
    return img


def hatching():
    img = canvas(64, 80)
    for k in range(0, 70, 4):
        cv2.line(img, (5 + k, 5), (15 + k, 40), 0, 1, AA)
    for k in range(0, 40, 3):
        cv2.line(img, (10, 45 + k // 3), (70, 45 + k // 3), 0, 1)
    return img


def broken_outlines():
    img = canvas(70, 110)
    for i, gap in enumerate((1, 2, 4)):
        x0 = 5 + 35 * i
        cv2.rectangle(img, (x0, 10), (x0 + 28, 50), 0, 2)
        img[28:28 + gap, x0:x0 + 3] = 255                 # a gap in the left side
        img[10:12, x0 + 10:x0 + 10 + gap] = 255           # and one in the top
    cv2.line(img, (5, 60), (50, 60), 0, 1)
    cv2.line(img, (53, 60), (100, 62), 0, 1)
    return img


def thick_fill():
    img = canvas()
    cv2.circle(img, (40, 40), 25, 0, -1, AA)
    cv2.rectangle(img, (60, 10), (90, 70), 0, -1)
    cv2.circle(img, (75, 40), 8, 255, -1)                 # a hole in the fill
    cv2.line(img, (0, 0), (95, 79), 0, 2, AA)
    return img


def noise_specks():
    rng = np.random.default_rng(3)
    img = canvas()
    cv2.rectangle(img, (10, 10), (85, 70), 0, 1)
    pts = rng.integers(0, (96, 80), (120, 2))
    img[pts[:, 1], pts[:, 0]] = rng.integers(0, 160, 120).astype(np.uint8)
    return img


def speech_balloon():
    img = canvas(70, 110)
    cv2.ellipse(img, (55, 30), (48, 22), 0, 0, 360, 0, 2, AA)
    cv2.putText(img, "WHAT?! OK", (18, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1, AA)
    cv2.polylines(img, [np.array([[40, 50], [30, 68], [55, 51]], np.int32)], False, 0, 2, AA)
    return img


def crosshatch():
    """Many small cells: merges chain into merged regions."""
    img = canvas()
    for k in range(-80, 100, 5):
        cv2.line(img, (k, 0), (k + 80, 80), 0, 1, AA)
        cv2.line(img, (k + 80, 0), (k, 80), 0, 1, AA)
    cv2.rectangle(img, (20, 20), (70, 60), 255, -1)
    return img


def salt_and_pepper():
    """Paper and ink specks at random: thousands of one-pixel regions to merge."""
    rng = np.random.default_rng(7)
    return np.where(rng.random((60, 70)) < 0.45, 0, 255).astype(np.uint8)


DRAWINGS = [circles_aa, polygons, nested, narrow_region, hatching, broken_outlines, thick_fill,
            noise_specks, speech_balloon, crosshatch, salt_and_pepper]
PARAMS = [(0, 0), (0, 16), (1, 0), (2, 5), (4, 16), (8, 40), (4, 1)]


@pytest.mark.parametrize("draw", DRAWINGS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("gap,min_area", PARAMS)
def test_synthetic_drawings(draw, gap, min_area):
    assert_same(draw(), gap, min_area)


@pytest.mark.parametrize("draw", [circles_aa, hatching, thick_fill], ids=lambda f: f.__name__)
@pytest.mark.parametrize("threshold", [0, 1, 64, 128, 200, 255, 256])
def test_thresholds(draw, threshold):
    assert_same(draw(), 3, 10, threshold)


@pytest.mark.parametrize("gap", [12, 32, 40])
def test_large_gaps(gap):
    """Reaches beyond the sorted-disc table (3 gap + 3 > 96) scan the box instead."""
    assert_same(broken_outlines(), gap, 16)
    assert_same(np.ascontiguousarray(circles_aa()[:40, :50]), gap, 0)


@pytest.mark.parametrize("name", ["panel_house.png", "panel_faces.png"])
@pytest.mark.parametrize("gap,min_area", [(4, 16), (0, 0), (2, 0), (8, 50), (6, 200)])
def test_bundled_examples(name, gap, min_area):
    gray = cv2.imread(str(ROOT / "examples" / name), cv2.IMREAD_GRAYSCALE)
    assert gray is not None
    labels = assert_same(gray, gap, min_area)
    assert labels.max() >= 5


def test_hatching_that_thins():
    """examples/page_manga.png's roof: skeleton ends where hatching thins are not closed
    on either path."""
    gray = cv2.imread(str(ROOT / "examples" / "page_manga.png"), cv2.IMREAD_GRAYSCALE)
    for gap, min_area in ((4, 16), (2, 0), (8, 40)):
        assert_same(np.ascontiguousarray(gray[1040:1140, 380:640]), gap, min_area)
        assert_same(np.ascontiguousarray(gray[280:420, 560:820]), gap, min_area)  # a shadow


def test_comic_page():
    """The benchmark's synthetic comic page (512 px) equals the reference."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_flats
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    gray = bench_flats.comic_page(512)
    assert assert_same(gray, *bench_flats.params(gray)).max() > 20


def test_labels_do_not_depend_on_the_thread_count():
    """Noise with a long reach: thousands of end points, enough work for the end-point
    searches to run on OpenMP threads (the other steps always run on one)."""
    rng = np.random.default_rng(1)
    gray = np.where(rng.random((300, 300)) < 0.35, 0, 255).astype(np.uint8)
    threads = torch.get_num_threads()
    try:
        runs = []
        for n in (1, 2, 3, 4):
            torch.set_num_threads(n)
            runs.append(fast(gray, 12, 30, 128))
    finally:
        torch.set_num_threads(threads)
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    assert_same(np.ascontiguousarray(gray[:120, :120]), 12, 30, 128)


# ----------------------------------------------------------------- tiny and odd shapes

TINY = {
    "1x1 paper": np.full((1, 1), 255, np.uint8),
    "1x1 ink": np.zeros((1, 1), np.uint8),
    "1xN": np.array([[255, 0, 255, 255, 0, 0, 255, 0]], np.uint8),
    "Nx1": np.array([[0], [255], [255], [0], [255]], np.uint8),
    "3x5 ink": np.zeros((3, 5), np.uint8),
    "all paper": np.full((7, 9), 255, np.uint8),
    "one ink pixel": np.pad(np.zeros((1, 1), np.uint8), ((3, 2), (4, 1)), constant_values=255),
    "checkerboard": (np.indices((9, 11)).sum(0) % 2 * 255).astype(np.uint8),
    "ink border": np.pad(np.full((3, 4), 255, np.uint8), 1),
    "2x2 ink in 4x4": np.pad(np.zeros((2, 2), np.uint8), 1, constant_values=255),
}


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("gap,min_area", [(0, 0), (1, 0), (2, 2), (4, 16), (3, 100)])
def test_tiny_shapes(name, gap, min_area):
    assert_same(TINY[name], gap, min_area, 128)


def test_no_paper_is_one_region():
    assert (fast(np.zeros((3, 5), np.uint8), 2, 16, 128) == 0).all()
    assert (fast(np.full((4, 4), 255, np.uint8), 2, 16, 256) == 0).all()


# ----------------------------------------------------------------- random line drawings

@st.composite
def line_drawings(draw):
    h = draw(st.integers(1, 96))
    w = draw(st.integers(1, 96))
    img = np.full((h, w), 255, np.uint8)
    pt = st.tuples(st.integers(-5, w + 5), st.integers(-5, h + 5))
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["line", "circle", "ellipse", "fill"]))
        thick = draw(st.integers(1, 5))
        aa = draw(st.sampled_from([cv2.LINE_8, cv2.LINE_4, AA]))
        value = draw(st.sampled_from([0, 0, 40, 100]))
        if kind == "line":
            cv2.line(img, draw(pt), draw(pt), value, thick, aa)
        elif kind == "circle":
            cv2.circle(img, draw(pt), draw(st.integers(1, 40)), value, thick, aa)
        elif kind == "ellipse":
            cv2.ellipse(img, draw(pt), (draw(st.integers(1, 40)), draw(st.integers(1, 30))),
                        draw(st.integers(0, 180)), draw(st.integers(0, 360)),
                        draw(st.integers(0, 360)), value, thick, aa)
        else:
            cv2.circle(img, draw(pt), draw(st.integers(1, 12)), value, -1, aa)
    for _ in range(draw(st.integers(0, 3))):            # cut a few gaps
        y, x, n = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1)), draw(st.integers(1, 4))
        img[y:y + n, x:x + n] = 255
    return img


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gray=line_drawings(), gap=st.integers(0, 7), min_area=st.integers(0, 60),
       threshold=st.sampled_from([None, 1, 90, 128, 230, 256]))
def test_random_line_drawings(gray, gap, min_area, threshold):
    assert_same(gray, gap, min_area, threshold)


# ----------------------------------------------------------------- arguments

def test_find_regions_dispatches_to_cpp():
    flats = pytest.importorskip("fastcolor.flats")
    from fastcolor.ops import kernel_mode
    gray = speech_balloon()
    with kernel_mode("cpp"):
        got = flats.find_regions(gray, gap=3, min_area=10)
    with kernel_mode("reference"):
        want = flats.find_regions(gray, gap=3, min_area=10)
    assert isinstance(got, np.ndarray) and got.dtype == np.int32
    assert np.array_equal(got, want)


def test_input_checks():
    gray = canvas(8, 8)
    with pytest.raises(TypeError):                      # not uint8
        _C.flat_regions(gray.astype(np.float32), 1, 1, 128)
    with pytest.raises(TypeError):                      # not C-contiguous
        _C.flat_regions(np.asfortranarray(canvas(8, 9)), 1, 1, 128)
    with pytest.raises(TypeError):                      # not an array
        _C.flat_regions(gray.tolist(), 1, 1, 128)
    with pytest.raises(ValueError, match="uint8 \\(H, W\\)"):
        _C.flat_regions(np.zeros((2, 3, 3), np.uint8), 1, 1, 128)
    with pytest.raises(ValueError, match="no pixels"):
        _C.flat_regions(np.zeros((0, 5), np.uint8), 1, 1, 128)
    for args in ((-1, 1, 128), (1, -1, 128), (1, 1, -1), (1, 1, 257)):
        with pytest.raises(ValueError, match="gap and min_area"):
            _C.flat_regions(gray, *args)


def test_views_and_offsets():
    """A C-contiguous slice of a larger array (data pointer not at the start) works."""
    big = np.full((50, 60), 255, np.uint8)
    cv2.circle(big, (30, 25), 12, 0, 2)
    part = big[10:40]                                   # rows: still C-contiguous
    assert part.flags.c_contiguous
    assert_same(part, 2, 5)
