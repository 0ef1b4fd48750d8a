"""Speech balloons stay white (fastcolor.flats.balloons, pipeline step 6b)."""

import cv2
import numpy as np
import pytest

from fastcolor.errors import InvalidInputError
from fastcolor.flats import find_regions
from fastcolor.flats.balloons import find_balloons
from fastcolor.pipeline import Pipeline


@pytest.fixture(scope="module")
def shipped_pipeline():
    return Pipeline.from_pretrained()


def _balloon(page, center, axes, text, closed=True):
    cv2.ellipse(page, center, axes, 0, 0, 360, 0, 3, cv2.LINE_AA)
    cx, cy = center
    tail = np.array([[cx - 12, cy + axes[1] - 4], [cx + 6, cy + axes[1] - 4],
                     [cx - 20, cy + axes[1] + 30]], np.int32)
    cv2.fillPoly(page, [tail], 255)
    cv2.polylines(page, [tail[[0, 2, 1]]], False, 0, 3, cv2.LINE_AA)
    size, _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2)
    cv2.putText(page, text, (cx - size[0] // 2, cy + size[1] // 2), cv2.FONT_HERSHEY_SIMPLEX,
                0.7, 0, 2, cv2.LINE_AA)
    if not closed:                                   # a gap in the outline: open line art
        page[cy - 8:cy + 8, cx + axes[0] - 6:cx + axes[0] + 6] = 255


def _page():
    """A 420 x 640 page: a balloon, a face, a sign, a screentone oval, an open balloon."""
    page = np.full((420, 640), 255, np.uint8)
    cv2.rectangle(page, (4, 4), (635, 415), 0, 4)
    _balloon(page, (150, 80), (110, 45), "HELLO THERE")
    cv2.circle(page, (150, 290), 70, 0, 3, cv2.LINE_AA)                   # a face
    for x in (125, 175):
        cv2.circle(page, (x, 270), 7, 0, -1, cv2.LINE_AA)
    cv2.ellipse(page, (150, 315), (28, 14), 0, 20, 160, 0, 3, cv2.LINE_AA)
    cv2.rectangle(page, (330, 40), (560, 110), 0, 3)                       # a sign
    cv2.putText(page, "HOTEL ROOMS", (345, 85), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)
    cv2.ellipse(page, (445, 200), (100, 45), 0, 0, 360, 0, 3, cv2.LINE_AA)  # screentone
    for y in range(172, 230, 8):
        for x in range(362, 530, 8):
            if ((x - 445) / 92) ** 2 + ((y - 200) / 38) ** 2 < 1:
                cv2.circle(page, (x, y), 1, 0, -1)
    _balloon(page, (445, 330), (100, 40), "WAIT FOR ME", closed=False)
    return page


def _region_at(labels, y, x):
    return int(labels[y, x])


def test_find_balloons_finds_the_lettered_balloon_only():
    page = _page()
    labels = find_regions(page)
    found = find_balloons(labels, page < 128)
    balloon = _region_at(labels, 60, 60)             # paper inside the balloon
    assert found[balloon]
    for y, x in ((250, 150), (100, 340), (200, 360), (330, 360), (400, 600)):
        assert not found[_region_at(labels, y, x)], (y, x)   # face, sign, tone, open, page
    # what else is found lies inside the balloon: the paper in its letters
    inside = cv2.ellipse(np.zeros_like(page), (150, 80), (110, 45), 0, 0, 360, 1, -1) > 0
    for r in np.flatnonzero(found):
        assert inside[labels == r].mean() > 0.9


def test_find_balloons_nothing_on_pages_without_balloons():
    page = np.full((300, 300), 255, np.uint8)
    assert not find_balloons(find_regions(page), page < 128).any()
    cv2.circle(page, (150, 150), 100, 0, 3)
    cv2.putText(page, "X", (140, 160), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)  # one letter
    assert not find_balloons(find_regions(page), page < 128).any()


def test_pipeline_keeps_balloons_white(shipped_pipeline):
    page = _page()
    for seed in (0, 1):
        r = shipped_pipeline(page, seed=seed)
        assert (r.image[60, 60] == 255).all() and (r.image[80, 60] == 255).all()
        balloon = r.regions[60, 60]
        assert (r.region_colors[balloon] == 255).all()
        assert not r.background_mask[60, 60]
    off = shipped_pipeline(page, seed=0, balloons=False)
    on = shipped_pipeline(page, seed=0)
    # only the balloons change (the open one too where step 6a cut it off the page)
    outside = np.ones(page.shape, bool)
    for center, axes in (((150, 80), (116, 51)), ((445, 330), (106, 46))):
        outside &= ~(cv2.ellipse(np.zeros_like(page), center, axes, 0, 0, 360, 1, -1) > 0)
        outside[center[1] + axes[1] - 12:center[1] + axes[1] + 40,
                center[0] - 40:center[0] + 20] = False           # the tail
    assert (off.image[outside] == on.image[outside]).all()
    # a hint stroke on the balloon wins
    hints = np.zeros(page.shape + (4,), np.uint8)
    cv2.line(hints, (60, 60), (80, 60), (250, 200, 40, 255), 3)
    hinted = shipped_pipeline(page, seed=0, hints=hints)
    assert tuple(hinted.image[60, 70]) == (250, 200, 40)
    with pytest.raises(InvalidInputError, match="balloons"):
        shipped_pipeline(page, balloons="yes")


def _scanned_page():
    """A balloon lettered in faint, small type (four or more words a line), a screentone
    oval and a face, blurred as a scan blurs them: the ink threshold, set by the dark
    outlines, keeps only crumbs of the lettering."""
    page = np.full((300, 520), 255, np.uint8)
    cv2.ellipse(page, (130, 90), (105, 50), 0, 0, 360, 0, 3, cv2.LINE_AA)
    for row, (y, text) in enumerate(zip((75, 92, 109), ("SO WE GO UP TO IT", "AS WE DO, SO DO I",
                                                        "OK? WE GO NOW!"))):
        cv2.putText(page, text, (52 + 4 * row, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 100, 1,
                    cv2.LINE_AA)
    cv2.ellipse(page, (380, 90), (100, 45), 0, 0, 360, 0, 3, cv2.LINE_AA)   # screentone
    for y in range(60, 122, 6):
        for x in range(290, 472, 6):
            if ((x - 380) / 92) ** 2 + ((y - 90) / 38) ** 2 < 1:
                cv2.circle(page, (x, y), 1, 0, -1)
    cv2.circle(page, (130, 225), 55, 0, 3, cv2.LINE_AA)                      # a face
    for x in (110, 150):
        cv2.circle(page, (x, 210), 6, 0, -1, cv2.LINE_AA)
    cv2.ellipse(page, (130, 245), (22, 10), 0, 20, 160, 0, 3, cv2.LINE_AA)
    return cv2.GaussianBlur(page, (0, 0), 1.3)


def test_find_balloons_reads_faint_lettering_in_the_gray():
    from fastcolor.flats import find_ink, ink_threshold
    page = _scanned_page()
    labels = find_regions(page)
    ink = find_ink(page, ink_threshold(page))
    balloon, tone, face = labels[60, 60], labels[90, 380], labels[200, 130]
    assert not find_balloons(labels, ink)[balloon]     # the ink mask: crumbs, no line
    found = find_balloons(labels, ink, page)
    assert found[balloon] and not found[tone] and not found[face]


def test_pipeline_keeps_a_scanned_balloon_white(shipped_pipeline):
    page = _scanned_page()
    for seed in (0, 1):
        r = shipped_pipeline(page, seed=seed)
        balloon = r.regions == r.regions[60, 60]
        assert (r.region_colors[r.regions[60, 60]] == 255).all()
        assert not r.background_mask[balloon].any()
