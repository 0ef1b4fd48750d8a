"""Tests of region correspondence (``fastcolor.series``) on synthetic drawings whose
correspondence is known exactly: a figure (head, eyes, mouth, hat, body halves) drawn
under a similarity transform, with other drawings added."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fastcolor.errors import FastcolorError
from fastcolor.flats import find_regions
from fastcolor.series import describe, match_regions, region_medians, series_hints

# the figure in its own coordinates (about 100 x 150 around the origin); seeds: one
# point inside each of its regions
SEEDS = {"head": (0, -12), "left_eye": (-15, -18), "right_eye": (15, -18),
         "mouth": (0, 8), "hat": (0, -50), "body_left": (-20, 50), "body_right": (20, 50)}


def _poly(points, M):
    p = np.asarray(points, np.float64)
    return (p @ M[:, :2].T + M[:, 2]).astype(np.float32)


def _circle(cx, cy, r, k=48):
    t = np.linspace(0, 2 * np.pi, k, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _ellipse(cx, cy, rx, ry, k=48):
    t = np.linspace(0, 2 * np.pi, k, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def figure_shapes():
    return [(_circle(0, 0, 34), True), (_circle(-15, -18, 9), True),
            (_circle(15, -18, 11), True), (_ellipse(0, 12, 15, 7), True),
            ([(-30, -36), (30, -36), (18, -62), (-18, -62)], True),      # hat on the head
            ([(-40, 30), (40, 30), (40, 75), (-40, 75)], True),          # body
            ([(0, 30), (0, 75)], False)]                                  # splits the body


def draw(canvas, M, shapes=None, thickness=2):
    for pts, closed in (shapes or figure_shapes()):
        q = np.rint(_poly(pts, M) * 4).astype(np.int32)                  # 2 fraction bits
        cv2.polylines(canvas, [q], closed, 0, thickness, cv2.LINE_AA, shift=2)
    # the body hangs under the head: a neck joins them
    q = np.rint(_poly([(0, 34), (0, 30)], M) * 4).astype(np.int32)
    cv2.polylines(canvas, [q], False, 0, thickness, cv2.LINE_AA, shift=2)
    return canvas


def similarity(scale, angle_deg, tx, ty):
    a = np.radians(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx],
                     [scale * np.sin(a), scale * np.cos(a), ty]])


def other_drawing(canvas, cx, cy, r):
    """Another drawing: a star in a square."""
    cv2.rectangle(canvas, (cx - r, cy - r), (cx + r, cy + r), 0, 2)
    t = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    rad = np.where(np.arange(10) % 2 == 0, r * 0.8, r * 0.35)
    pts = np.stack([cx + rad * np.sin(t), cy - rad * np.cos(t)], 1).astype(np.int32)
    cv2.polylines(canvas, [pts], True, 0, 2)


def page(M, size=(300, 300), others=()):
    canvas = np.full(size, 255, np.uint8)
    draw(canvas, M)
    for o in others:
        other_drawing(canvas, *o)
    return canvas


def seed_labels(labels, M):
    out = {}
    for name, p in SEEDS.items():
        x, y = _poly([p], M)[0]
        out[name] = int(labels[int(round(y)), int(round(x))])
    return out


REF_M = similarity(1.0, 0, 150, 140)


@pytest.fixture(scope="module")
def ref():
    labels = find_regions(page(REF_M))
    seeds = seed_labels(labels, REF_M)
    assert len(set(seeds.values())) == len(SEEDS)           # the figure has its 7 regions
    return labels, seeds


CASES = [("translate", similarity(1.0, 0, 110, 160), ()),
         ("scale 0.5", similarity(0.5, 0, 200, 120), ()),
         ("scale 1.5", similarity(1.5, 0, 150, 150), ()),
         ("rotate +20", similarity(1.0, 20, 150, 150), ()),
         ("rotate -20 scale 0.7", similarity(0.7, -20, 120, 170), ()),
         ("scale 1.3 rotate 12 + others", similarity(1.3, 12, 120, 150),
          [(255, 50, 30), (260, 240, 28)]),
         ("scale 0.6 + others", similarity(0.6, 0, 80, 90), [(220, 200, 50), (60, 240, 30)])]


@pytest.mark.parametrize("name, M, others", CASES, ids=[c[0] for c in CASES])
def test_known_correspondence(ref, name, M, others):
    ref_labels, ref_seeds = ref
    labels = find_regions(page(M, others=others))
    match = match_regions(ref_labels, labels)
    seeds = seed_labels(labels, M)
    for region, want in ref_seeds.items():
        assert match[seeds[region]] == want, (name, region)
    # the other drawings have no counterpart (inside the star, inside the square)
    for cx, cy, r in others:
        for x, y in ((cx, cy), (cx - r + 4, cy - r + 4)):
            assert match[labels[y, x]] == -1, (name, x, y)


def test_background_and_unrelated_page_unmatched(ref):
    ref_labels, _ = ref
    canvas = np.full((300, 300), 255, np.uint8)
    other_drawing(canvas, 150, 150, 60)
    match = match_regions(ref_labels, find_regions(canvas))
    d = describe(find_regions(canvas))
    assert (match[d.border] == -1).all()
    assert (match == -1).all()


def test_occluded_figure_keeps_visible_regions(ref):
    ref_labels, ref_seeds = ref
    M = similarity(1.1, 8, 150, 150)
    canvas = page(M)
    cv2.rectangle(canvas, (175, 175), (290, 290), 255, -1)                # an occluder
    cv2.rectangle(canvas, (175, 175), (290, 290), 0, 2)
    labels = find_regions(canvas)
    match = match_regions(ref_labels, labels)
    seeds = seed_labels(labels, M)
    for region in ("head", "left_eye", "right_eye", "mouth", "hat", "body_left"):
        assert match[seeds[region]] == ref_seeds[region], region


def test_series_hints_one_pixel_per_matched_region(ref):
    ref_labels, ref_seeds = ref
    colors = np.random.default_rng(0).integers(0, 256, (int(ref_labels.max()) + 1, 3),
                                               dtype=np.uint8)
    labels = find_regions(page(similarity(0.8, 10, 140, 150)))
    match = match_regions(ref_labels, labels)
    strokes = series_hints(labels, match, colors)
    on = strokes[..., 3] == 255
    assert on.sum() == (match >= 0).sum()
    hit = labels[on]
    np.testing.assert_array_equal(strokes[on][:, :3], colors[match[hit]])


def test_region_medians_exact_on_flat_colors():
    labels = np.zeros((20, 20), np.int32)
    labels[:, 10:] = 1
    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[:, :10] = (10, 200, 30)
    rgb[:, 10:] = (250, 5, 90)
    ink = np.zeros((20, 20), bool)
    ink[:, 9:11] = True
    rgb[ink] = 0
    np.testing.assert_array_equal(region_medians(labels, rgb, ink), [(10, 200, 30), (250, 5, 90)])


@pytest.mark.parametrize("bad", [np.zeros((0, 4), np.int32), np.zeros((4, 4), np.float32),
                                 np.full((4, 4), -1, np.int32), np.zeros(4, np.int32)])
def test_bad_labels_raise(bad):
    with pytest.raises(FastcolorError):
        match_regions(bad, np.zeros((4, 4), np.int32))
    for kw in ({"min_score": 0}, {"min_score": 1.5}, {"min_overlap": 0}, {"min_score": True}):
        with pytest.raises(FastcolorError):
            match_regions(np.zeros((4, 4), np.int32), np.zeros((4, 4), np.int32), **kw)


# ---------------------------------------------------------------------------
# Pipeline.colorize_series and colorize --series (tiny untrained model)
# ---------------------------------------------------------------------------

def _colored(labels, gray, seed=0):
    """A colored page: every region a random light flat color (fills darker than 0.35
    gray read as ink in outline extraction), the line art over it."""
    from fastcolor.flats import compose
    colors = np.random.default_rng(seed).integers(120, 250, (int(labels.max()) + 1, 3),
                                                  dtype=np.uint8)
    colors[0] = (240, 236, 228)                       # the paper around the figure
    return compose(colors[labels], gray), colors


@pytest.fixture(scope="module")
def tiny():
    from fastcolor import FastcolorConfig, Pipeline
    return Pipeline.random(FastcolorConfig.tiny(), seed=0)


SERIES = [similarity(0.8, 10, 140, 150), similarity(1.2, -15, 160, 140)]


def test_colorize_series_with_reference(tiny):
    ref_gray = page(REF_M)
    ref_labels = find_regions(ref_gray)
    colored, colors = _colored(ref_labels, ref_gray)
    ref_seeds = seed_labels(ref_labels, REF_M)
    pages = [page(M, others=[(255, 50, 30)]) for M in SERIES]
    results = tiny.colorize_series(pages, reference=colored, seed=1)
    assert len(results) == 2
    for r, M in zip(results, SERIES):
        seeds = seed_labels(r.regions, M)
        for name, ref_region in ref_seeds.items():
            assert tuple(r.region_colors[seeds[name]]) == tuple(colors[ref_region]), name
        assert r.extras["timings"]["series"] < 1.0


def test_colorize_series_first_page_is_reference(tiny):
    pages = [page(REF_M)] + [page(M) for M in SERIES]
    results = tiny.colorize_series(pages, seed=5)
    first = results[0]
    np.testing.assert_array_equal(first.image, tiny(pages[0], seed=5).image)
    want = {k: tuple(first.region_colors[v]) for k, v in seed_labels(first.regions, REF_M).items()}
    for r, M in zip(results[1:], SERIES):
        got = {k: tuple(r.region_colors[v]) for k, v in seed_labels(r.regions, M).items()}
        assert got == want


@pytest.mark.parametrize("pages, kw", [([], {}), ("page.png", {}),
                                       ([np.zeros((9, 9), np.uint8)], {"hints": None}),
                                       ([np.zeros((9, 9), np.uint8)], {"samples": 2}),
                                       ([np.zeros((9, 9), np.uint8)], {"flats": False}),
                                       ([np.zeros((9, 9), np.uint8)], {"seed": -1})])
def test_colorize_series_bad_input(tiny, pages, kw):
    with pytest.raises(FastcolorError):
        tiny.colorize_series(pages, **kw)


def test_cli_series(tiny, tmp_path, capsys):
    from PIL import Image
    from fastcolor.cli import main
    weights = tmp_path / "tiny.safetensors"
    tiny.save_pretrained(weights)
    chapter = tmp_path / "chapter"
    chapter.mkdir()
    for k, M in enumerate(SERIES):
        Image.fromarray(page(M)).save(chapter / f"p{k}.png")
    ref_gray = page(REF_M)
    colored, colors = _colored(find_regions(ref_gray), ref_gray)
    Image.fromarray(colored).save(tmp_path / "sheet.png")
    out = tmp_path / "out"
    code = main(["colorize", str(chapter), "-o", str(out) + "/", "--weights", str(weights),
                 "--series", "--reference", str(tmp_path / "sheet.png"), "--seed", "1"])
    assert code == 0, capsys.readouterr().err
    want = tiny.colorize_series([page(M) for M in SERIES], reference=colored, seed=1)
    for k, r in enumerate(want):
        with Image.open(out / f"p{k}.png") as im:
            np.testing.assert_array_equal(np.array(im), r.image)
    code = main(["colorize", str(chapter), "-o", str(tmp_path / "o2") + "/", "--weights",
                 str(weights), "--series", "--samples", "2"])
    assert code == 2 and "--series" in capsys.readouterr().err


def test_reference_colors_inked_lines_and_dark_fills():
    from fastcolor.series import reference_colors
    page = np.full((48, 64, 3), 255, np.uint8)
    page[8:40, 8:56] = (20, 20, 90)           # a dark navy fill: a color, not ink
    page[16:32, 30:50] = (230, 200, 40)       # a small yellow region inside it
    page[8, 8:56] = page[39, 8:56] = 0
    page[8:40, 8] = page[8:40, 55] = 0
    page[16, 30:50] = page[31, 30:50] = 0
    page[16:32, 30] = page[16:32, 49] = 0
    labels, colors = reference_colors(page)
    navy, yellow = labels[12, 20], labels[24, 40]
    assert navy != yellow and navy != labels[2, 2]
    assert tuple(colors[navy]) == (20, 20, 90) and tuple(colors[yellow]) == (230, 200, 40)
    # the yellow region keeps (nearly) its size: lines are not doubled by edges
    assert (labels == yellow).sum() >= 18 * 14


def test_heavily_occluded_turned_figure(ref):
    """An occluder cutting most regions of a turned, smaller figure: few whole regions
    agree, the pixels that stay visible still find their regions."""
    ref_labels, ref_seeds = ref
    M = similarity(0.8, 15, 150, 150)
    canvas = page(M)
    cx, cy = (int(v) for v in np.rint(_poly([(30, 15)], M)[0]))
    cv2.ellipse(canvas, (cx, cy), (16, 42), 10, 0, 360, 255, -1)
    cv2.ellipse(canvas, (cx, cy), (16, 42), 10, 0, 360, 0, 2)
    labels = find_regions(canvas)
    match = match_regions(ref_labels, labels)
    seeds = seed_labels(labels, M)
    for region in ("hat", "left_eye", "body_left"):
        assert match[seeds[region]] == ref_seeds[region], region
    # the occluder's inside has no counterpart
    assert match[labels[cy, cx]] == -1


def test_parts_apart_are_one_component():
    """Two parts of a drawing that only the page background separates are one
    component (GROUP_REACH); drawings far apart are not."""
    canvas = np.full((200, 200), 255, np.uint8)
    cv2.rectangle(canvas, (40, 40), (80, 80), 0, 2)
    cv2.rectangle(canvas, (84, 40), (120, 80), 0, 2)        # 4 px apart: the same drawing
    cv2.rectangle(canvas, (150, 150), (180, 180), 0, 2)     # far: another
    d = describe(find_regions(canvas))
    labels = d.labels
    a, b, c = labels[60, 60], labels[60, 100], labels[165, 165]
    assert d.component[a] == d.component[b] != d.component[c]


# ---------------------------------------------------------------------------
# dense registration (figures, chamfer agreement, ICP) and color transfer
# ---------------------------------------------------------------------------

def _figure_of(d, labels, M):
    """The figure (of ``describe``'s figures) holding the drawn figure's head."""
    x, y = np.rint(_poly([SEEDS["head"]], M)[0]).astype(int)
    return int(d.component[labels[y, x]])


def _displacement(A, B, pts):
    """Mean distance between two 2 x 3 transforms' images of ``pts``."""
    p = np.asarray(pts, np.float64)
    return float(np.linalg.norm((p @ A[:, :2].T + A[:, 2]) - (p @ B[:, :2].T + B[:, 2]),
                                axis=1).mean())


REGISTER_CASES = [similarity(1.0, 0, 110, 160), similarity(0.5, -20, 200, 120),
                  similarity(1.5, 20, 150, 150), similarity(0.7, 12, 90, 200)]


@pytest.mark.parametrize("M", REGISTER_CASES)
@pytest.mark.parametrize("with_ink", [True, False])
def test_register_recovers_the_transform(M, with_ink):
    """The similarity from reference to page is the one the figure was drawn under."""
    from fastcolor.flats import find_ink
    from fastcolor.series import register
    ref_gray, gray = page(REF_M), page(M, others=[(260, 40, 25)])
    ref = describe(find_regions(ref_gray), find_ink(ref_gray) if with_ink else None)
    labels = find_regions(gray)
    d = describe(labels, find_ink(gray) if with_ink else None)
    found = register(ref, d, _figure_of(d, labels, M))
    assert found is not None
    j, T, score = found
    truth = (np.vstack([M, [0, 0, 1]]) @ np.linalg.inv(np.vstack([REF_M, [0, 0, 1]])))[:2]
    pts = _poly(np.concatenate([p for p, _ in figure_shapes()]), REF_M)
    assert _displacement(T, truth, pts) < 1.0
    assert 0 < score <= 1


def test_figures_group_ink_and_inner_regions():
    """A figure whose lines do not close (its body leaks into the page background) is
    still one figure with all its ink; a drawing far away is another."""
    from fastcolor.flats import find_ink
    canvas = np.full((200, 200), 255, np.uint8)
    cv2.circle(canvas, (60, 60), 25, 0, 2)                      # a closed head
    cv2.line(canvas, (40, 90), (40, 150), 0, 2)                 # an open body: two lines
    cv2.line(canvas, (80, 90), (80, 150), 0, 2)
    cv2.rectangle(canvas, (150, 150), (185, 185), 0, 2)        # far: another drawing
    d = describe(find_regions(canvas), find_ink(canvas))
    assert len(d.figures) == 2
    head = d.figures[d.component[d.labels[60, 60]]]
    y0, y1, x0, x1 = head.box
    assert y1 >= 150 and x0 <= 40 and x1 >= 80                  # the body lines belong to it
    assert d.component[d.labels[2, 2]] == -1                    # the page background


def _reference_page(dark=(), leak=False):
    """The figure at REF_M colored flat (the ``dark`` regions near-black, as a reference
    draws a solid fill); ``leak``: the left body line erased, so in the reference the
    left half of the body runs into the page background."""
    gray = page(REF_M)
    labels = find_regions(gray)
    seeds = seed_labels(labels, REF_M)
    palette = {name: c for name, c in zip(SEEDS, [(240, 200, 170), (60, 120, 230),
                                                  (60, 180, 90), (220, 60, 70),
                                                  (250, 210, 40), (150, 90, 200),
                                                  (90, 200, 210)])}
    for name in dark:
        palette[name] = (25, 25, 25)
    rgb = np.full(gray.shape + (3,), 255, np.uint8)
    for name, c in palette.items():
        rgb[labels == seeds[name]] = c
    rgb[gray < 128] = 0
    if leak:                                   # erase the left body line (x = -40)
        x0 = int(round(_poly([(-40, 0)], REF_M)[0][0]))
        y0, y1 = (int(round(_poly([(0, v)], REF_M)[0][1])) for v in (34, 72))
        rgb[y0:y1, x0 - 3:x0 + 3] = palette["body_left"]
    return rgb, palette


@pytest.mark.parametrize("M", [similarity(0.8, 10, 140, 150), similarity(1.3, -18, 150, 150)])
def test_transfer_colors_dark_fill_and_unclosed_reference_lines(M):
    """The hat is a solid near-black fill in the reference (ink there, no region of its
    own) and the reference's left body line is missing (that region is page background
    there): on a page drawn with all its lines both still take their colors; the
    other drawing and the page background take none."""
    from fastcolor.flats import find_ink
    from fastcolor.series import prepare_reference, transfer_colors
    rgb, palette = _reference_page(dark=("hat",), leak=True)
    ref = prepare_reference(rgb)
    gray = page(M, others=[(255, 45, 28)])
    labels = find_regions(gray)
    colors, source = transfer_colors(ref, labels, find_ink(gray))
    for name, region in seed_labels(labels, M).items():
        assert source[region] >= 0, name
        assert np.abs(colors[region].astype(int) - palette[name]).max() <= 3, name
    assert source[labels[45, 255]] == -1 and source[labels[2, 2]] == -1


def test_transfer_colors_single_region_figure():
    """A figure of one region (no pair of regions to align) still registers: an
    L-shaped blob turned and scaled takes its color; a circle drawn beside it none."""
    from fastcolor.flats import find_ink
    from fastcolor.series import prepare_reference, transfer_colors
    shape = [(-30, -40), (10, -40), (10, 10), (40, 10), (40, 40), (-30, 40)]
    ref_gray = np.full((200, 200), 255, np.uint8)
    draw(ref_gray, similarity(1.0, 0, 100, 100), [(shape, True)])
    rgb = np.full((200, 200, 3), 255, np.uint8)
    inside = find_regions(ref_gray)
    rgb[inside == inside[100, 80]] = (200, 40, 120)
    rgb[ref_gray < 128] = 0
    ref = prepare_reference(rgb)
    M = similarity(0.7, 17, 70, 120)
    gray = np.full((200, 200), 255, np.uint8)
    draw(gray, M, [(shape, True)])
    cv2.circle(gray, (162, 42), 22, 0, 2)
    labels = find_regions(gray)
    colors, source = transfer_colors(ref, labels, find_ink(gray))
    x, y = np.rint(_poly([(-15, 0)], M)[0]).astype(int)
    assert source[labels[y, x]] >= 0 and tuple(colors[labels[y, x]]) == (200, 40, 120)
    assert source[labels[42, 162]] == -1


def test_reference_from_page_and_transfer_bad_input():
    from fastcolor.series import Reference, transfer_colors
    labels = np.zeros((8, 8), np.int32)
    with pytest.raises(FastcolorError):
        Reference.from_page(np.zeros((8, 8), np.uint8), labels, np.zeros((8, 8), bool))
    with pytest.raises(FastcolorError):
        Reference.from_page(np.zeros((8, 8, 3), np.uint8), labels, np.zeros((4, 4), bool))
    ref = Reference.from_page(np.full((8, 8, 3), 255, np.uint8), labels, np.zeros((8, 8), bool))
    with pytest.raises(FastcolorError):
        transfer_colors("sheet.png", labels)
    with pytest.raises(FastcolorError):
        transfer_colors(ref, labels, np.zeros((3, 3), bool))
    with pytest.raises(FastcolorError):
        transfer_colors(ref, labels, min_overlap=2)
    colors, source = transfer_colors(ref, labels)             # a blank page: nothing
    assert (source == -1).all() and colors.shape == (1, 3)


def test_register_rejects_another_drawing():
    """A different drawing of about the same size and line density (a house: walls,
    roof, door, two windows) gets no registration to the figure."""
    from fastcolor.flats import find_ink
    from fastcolor.series import register
    house = [([(-40, -10), (40, -10), (40, 60), (-40, 60)], True),
             ([(-48, -10), (0, -55), (48, -10)], True),
             ([(-10, 60), (-10, 25), (10, 25), (10, 60)], False),
             ([(-32, 0), (-16, 0), (-16, 16), (-32, 16)], True),
             ([(16, 0), (32, 0), (32, 16), (16, 16)], True)]
    ref_gray = page(REF_M)
    ref = describe(find_regions(ref_gray), find_ink(ref_gray))
    for M in (similarity(1.0, 0, 150, 150), similarity(1.2, 10, 140, 160)):
        gray = np.full((300, 300), 255, np.uint8)
        for pts, closed in house:
            q = np.rint(_poly(pts, M) * 4).astype(np.int32)
            cv2.polylines(gray, [q], closed, 0, 2, cv2.LINE_AA, shift=2)
        d = describe(find_regions(gray), find_ink(gray))
        assert len(d.figures) == 1
        assert register(ref, d, 0) is None
