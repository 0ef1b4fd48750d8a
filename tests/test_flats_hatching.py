"""fastcolor.flats.hatching: the strips between hatch strokes take the color of what they
shade (and only those)."""

import cv2
import numpy as np
import pytest

from fastcolor.flats import find_ink, find_regions
from fastcolor.flats.hatching import sliver_hosts
from fastcolor.flats.ink import ink_threshold
from fastcolor.pipeline import Pipeline


def half_hatched(spacing=5):
    """A box (4 px outline) on paper: its left half plain, its right half cut into strips
    by 1 px strokes from its top to its bottom."""
    img = np.full((90, 160), 255, np.uint8)
    cv2.rectangle(img, (10, 10), (150, 80), 0, 4)
    for x in range(80, 146, spacing):
        cv2.line(img, (x, 12), (x, 78), 0, 1)
    return img


def regions_of(img):
    return find_regions(img, gap=0, min_area=4), find_ink(img, ink_threshold(img))


def test_strips_are_hosted_by_the_plain_part_not_by_the_paper_beyond_the_outline():
    img = half_hatched()
    labels, ink = regions_of(img)
    hosts = sliver_hosts(labels, ink)
    plain, outside = labels[45, 40], labels[3, 3]
    strips = np.unique(labels[45, 83:145][img[45, 83:145] == 255])
    assert len(strips) >= 10
    assert (hosts[strips] == plain).all()
    assert hosts[plain] == plain and hosts[outside] == outside


def test_wide_strips_and_lone_strips_keep_their_own_colors():
    labels, ink = regions_of(half_hatched(spacing=12))    # 11 px strips: not hatching
    assert (sliver_hosts(labels, ink) == np.arange(labels.max() + 1)).all()
    img = np.full((60, 80), 255, np.uint8)                # one thin region, no patch
    cv2.rectangle(img, (5, 5), (74, 54), 0, 2)
    cv2.line(img, (40, 7), (40, 52), 0, 1)
    cv2.line(img, (44, 7), (44, 52), 0, 1)
    labels, ink = regions_of(img)
    assert labels.max() == 3
    assert (sliver_hosts(labels, ink) == np.arange(4)).all()


def test_strips_touching_only_strips_take_their_neighbours_host():
    img = half_hatched()
    for y in range(30, 61, 5):                            # cross-hatch the right half
        cv2.line(img, (80, y), (146, y), 0, 1)
    labels, ink = regions_of(img)
    hosts = sliver_hosts(labels, ink)
    cells = np.unique(labels[32:58, 83:145][img[32:58, 83:145] == 255])
    assert (hosts[cells] == labels[45, 40]).all()


@pytest.mark.parametrize("img", [np.full((20, 30), 255, np.uint8), np.zeros((20, 30), np.uint8)])
def test_nothing_to_host(img):
    labels = np.zeros(img.shape, np.int32)
    assert (sliver_hosts(labels, img < 128) == [0]).all()


def test_pipeline_paints_the_strips_in_the_plain_part_color():
    img = half_hatched()
    pipe = Pipeline.random(seed=0)
    r = pipe(img, seed=0, detect_background=False, gap=0, min_area=4)
    plain = r.image[45, 40]
    paper = img[45, 83:145] == 255
    assert (r.image[45, 83:145][paper] == plain).all()
    # a strip hinted with its own color keeps it
    hints = np.zeros(img.shape + (4,), np.uint8)
    hints[40:50, 101:102] = (255, 0, 0, 255)
    strip = r.regions[45, 101]
    assert img[45, 101] == 255
    h = pipe(img, seed=0, detect_background=False, gap=0, min_area=4, hints=hints)
    assert tuple(h.image[45, 101]) == (255, 0, 0)
    assert (h.regions == strip).sum() and tuple(h.image[45, 40]) != (255, 0, 0)


def test_a_click_on_the_shaded_region_colors_its_strips_too():
    """The studio: recoloring the plain part recolors the strips that follow it; a strip
    clicked itself is colored alone and stops following."""
    from fastcolor.studio import StoredResult
    img = half_hatched()
    r = Pipeline.random(seed=0)(img, seed=0, detect_background=False, gap=0, min_area=4)
    plain, strip = r.regions[45, 40], r.regions[45, 101]
    assert r.region_hosts is not None and r.region_hosts[strip] == plain
    stored = StoredResult.from_result(r)
    red = stored.recolor([(40, 45)], [(255, 0, 0)])
    paper = img[45, 83:145] == 255
    assert (red.image[45, 83:145][paper] == (255, 0, 0)).all()
    blue = red.recolor([(101, 45)], [(0, 0, 255)])                # one strip alone
    assert tuple(blue.image[45, 101]) == (0, 0, 255)
    assert tuple(blue.image[45, 93]) == (255, 0, 0)
    green = blue.recolor([(40, 45)], [(0, 255, 0)])               # it no longer follows
    assert tuple(green.image[45, 101]) == (0, 0, 255)
    assert tuple(green.image[45, 93]) == (0, 255, 0)
    np.testing.assert_array_equal(green.to_result().region_hosts, green.hosts)
