"""Cutting a region the detector sees as part background along its mask
(``fastcolor.flats.split``): the open figure that would otherwise vanish into the panel's
background color."""

import cv2
import numpy as np

from fastcolor.flats import find_ink, find_regions, paint_regions
from fastcolor.flats.split import split_by_background
from fastcolor.panels import Box


def open_circle_page(size=200, opening=40):
    """A bordered panel holding a circle whose outline is open at the top by ``opening``
    px (wider than any gap closing): the inside and the panel background are one region."""
    gray = np.full((size, size), 255, np.uint8)
    cv2.rectangle(gray, (2, 2), (size - 3, size - 3), 0, 3)
    c, r = size // 2, size // 4
    cv2.circle(gray, (c, c), r, 0, 3)
    gray[c - r - 4:c - r + 20, c - opening // 2:c + opening // 2] = 255
    inside = np.zeros_like(gray, bool)
    yy, xx = np.mgrid[:size, :size]
    inside[(yy - c) ** 2 + (xx - c) ** 2 < (r - 2) ** 2] = True
    return gray, inside


def probability_field(inside, scale=4):
    """The detector's probability at the model's (coarser) scale: 0 inside the figure,
    1 outside."""
    h, w = inside.shape
    small = cv2.resize((~inside).astype(np.float32), (w // scale, h // scale),
                       interpolation=cv2.INTER_AREA)
    return small


def test_an_open_figure_is_cut_out_of_the_background():
    gray, inside = open_circle_page()
    labels = find_regions(gray, gap=4, min_area=16)
    ink = find_ink(gray)
    c = gray.shape[0] // 2
    assert labels[c, c] == labels[20, 20]                 # one region: the leak
    box = Box(0, 0, *gray.shape)
    out = split_by_background(labels, ink, [(box, probability_field(inside))], 0.5, 16)
    assert out[c, c] != out[20, 20]
    assert out[20, 20] == labels[20, 20]                  # the background keeps its label
    assert out[c, c] == labels.max() + 1                  # the figure: a new label
    figure = out == out[c, c]
    # the cut is made at the opening: (nearly) the whole inside, little outside it
    assert (figure & inside).sum() > 0.95 * (inside & ~ink).sum()
    assert (figure & ~inside).sum() < 0.10 * figure.sum()
    # every part is 4-connected
    for k in np.unique(out):
        count, _ = cv2.connectedComponents((out == k).astype(np.uint8), connectivity=4)
        assert count == 2
    # painting is still one color per label
    palette = np.random.default_rng(0).integers(0, 256, (out.max() + 1, 3), dtype=np.uint8)
    assert paint_regions(out, palette)[c, c].tolist() == palette[out[c, c]].tolist()


def test_regions_are_left_whole_when_the_detector_agrees_or_they_are_small_or_hinted():
    gray, inside = open_circle_page()
    labels = find_regions(gray, gap=4, min_area=16)
    ink = find_ink(gray)
    box = Box(0, 0, *gray.shape)
    r = labels[20, 20]
    everywhere = np.ones((50, 50), np.float32)
    assert split_by_background(labels, ink, [(box, everywhere)], 0.5, 16) is labels
    assert split_by_background(labels, ink, [(box, 0 * everywhere)], 0.5, 16) is labels
    field = probability_field(inside)
    assert split_by_background(labels, ink, [(box, field)], 0.5, 16, keep=[r]) is labels
    # min_area so large that the region is under the floor (16 x min_area)
    assert split_by_background(labels, ink, [(box, field)], 0.5, 4000) is labels


def test_a_region_without_a_neck_stays_whole_whatever_the_mask():
    """The detector calls half of a plain panel background, with specks: no opening to
    cut at, so no ragged cut along the mask."""
    gray = np.full((120, 120), 255, np.uint8)
    cv2.rectangle(gray, (1, 1), (118, 118), 0, 2)
    labels = find_regions(gray, gap=2, min_area=16)
    ink = find_ink(gray)
    prob = np.zeros((120, 120), np.float32)
    prob[:, 60:] = 1.0
    prob[10:13, 10:13] = 1.0
    out = split_by_background(labels, ink, [(Box(0, 0, 120, 120), prob)], 0.5, 16)
    assert out is labels


def test_two_rooms_joined_by_a_door_are_cut_at_the_door():
    """Two boxes joined by a 12 px door: cut straight across the door, each room one
    region, the background room keeping the label."""
    gray = np.full((100, 220), 255, np.uint8)
    cv2.rectangle(gray, (5, 5), (104, 94), 0, 2)
    cv2.rectangle(gray, (114, 5), (214, 94), 0, 2)
    gray[44:56, 101:118] = 255                            # the door
    gray[42:44, 101:118] = 0
    gray[56:58, 101:118] = 0
    labels = find_regions(gray, gap=2, min_area=16)
    ink = find_ink(gray)
    assert labels[50, 50] == labels[50, 160]
    prob = np.zeros((100, 220), np.float32)
    prob[:, 110:] = 1.0                                   # the right room is background
    out = split_by_background(labels, ink, [(Box(0, 0, 100, 220), prob)], 0.5, 16)
    assert out[50, 160] == labels[50, 160] and out[50, 50] != out[50, 160]
    left = out == out[50, 50]
    assert left[10:90, 8:102].all() and not left[:, 120:].any()
    cols = np.flatnonzero(left[50])
    assert 100 <= cols.max() <= 116                       # the cut lies in the door


def test_the_pipeline_cuts_an_open_figure_and_no_split_keeps_it_whole():
    """With a detector that sees the figure as figure (a hand-set detector: background
    probability from the letterboxed square's distance to the middle), the open circle's
    inside gets its own flat color instead of the background's; split=False keeps the
    region whole; colorize_series leaves regions whole by default."""
    import torch
    from conftest import pipe_with_detector_bias
    gray, inside = open_circle_page(size=256, opening=50)
    pipe = pipe_with_detector_bias(0.0)
    S = pipe.config.image_size

    def detect(model, outline, lowres):
        yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
        d = ((yy - (S - 1) / 2) ** 2 + (xx - (S - 1) / 2) ** 2).sqrt() / (S / 4)
        return (d > 1.0).to(outline.dtype).expand(outline.shape[0], 1, S, S).clone()

    pipe.backend.detect = detect
    c = gray.shape[0] // 2
    r = pipe(gray, seed=0, panels=False)
    assert r.regions[c, c] != r.regions[20, 20]
    assert r.background_mask[20, 20] and not r.background_mask[c, c]
    assert tuple(r.image[c, c]) != tuple(r.image[20, 20])
    whole = pipe(gray, seed=0, panels=False, split=False)
    assert whole.regions[c, c] == whole.regions[20, 20]
    assert tuple(whole.image[c, c]) == tuple(whole.image[20, 20])
    series = pipe.colorize_series([gray], seed=0, panels=False)
    assert series[0].regions[c, c] == series[0].regions[20, 20]


def test_a_small_open_figure_in_a_large_background_is_cut_out(monkeypatch):
    """A figure a few percent of its region's samples (a small open circle in a large
    panel: the figure leaks into the whole background) is still a candidate and is cut;
    with the old share floor (15 %) it stayed whole, painted the background's color."""
    from fastcolor.flats import split
    size, c, r = 400, 120, 40
    gray = np.full((size, size), 255, np.uint8)
    cv2.rectangle(gray, (2, 2), (size - 3, size - 3), 0, 3)
    cv2.circle(gray, (c, c), r, 0, 3)
    gray[c - r - 4:c - r + 12, c - 12:c + 12] = 255          # a 24 px opening at the top
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - c) ** 2 + (xx - c) ** 2 < (r - 2) ** 2
    labels = find_regions(gray, gap=4, min_area=16)
    ink = find_ink(gray)
    assert labels[c, c] == labels[300, 300]               # one region: the leak
    assert inside.sum() < 0.05 * (labels == labels[c, c]).sum()
    box, field = Box(0, 0, size, size), probability_field(inside)
    out = split_by_background(labels, ink, [(box, field)], 0.5, 16)
    assert out[c, c] != out[300, 300] and out[300, 300] == labels[300, 300]
    assert ((out == out[c, c]) & inside).sum() > 0.95 * (inside & ~ink).sum()
    monkeypatch.setattr(split, "MIN_SHARE", 0.15)
    assert split_by_background(labels, ink, [(box, field)], 0.5, 16) is labels


def test_a_large_panel_finds_its_necks_shrunk():
    """A panel WORK_SIDE x 2 or more on its shorter side finds the necks on its regions
    shrunk (k x k blocks): the open circle drawn 3x larger (shrink 2) is cut as at 1x,
    the cut scaled back up: the whole inside one new label, little outside it."""
    from fastcolor.flats import split
    size = 3 * 200
    assert size // split.WORK_SIDE == 2
    gray, inside = open_circle_page(size, opening=3 * 40)
    labels = find_regions(gray, gap=4, min_area=16)
    ink = find_ink(gray)
    c = size // 2
    assert labels[c, c] == labels[30, 30]
    box = Box(0, 0, size, size)
    out = split_by_background(labels, ink, [(box, probability_field(inside, scale=12))], 0.5, 16)
    assert out[c, c] != out[30, 30] and out[30, 30] == labels[30, 30]
    figure = out == out[c, c]
    assert (figure & inside).sum() > 0.95 * (inside & ~ink).sum()
    assert (figure & ~inside).sum() < 0.10 * figure.sum()
    assert not (figure & ink & ~(labels == labels[c, c])).any()     # only the region's own
    for k in np.unique(out):
        count, _ = cv2.connectedComponents((out == k).astype(np.uint8), connectivity=4)
        assert count == 2
