"""Step 6c: samples vote on which figure regions are painted (fastcolor.flats.consensus)."""

import numpy as np
import pytest

from fastcolor.errors import InvalidInputError
from fastcolor.flats.consensus import PaintVotes, paint_votes, painted_regions
from fastcolor.pipeline import Pipeline


@pytest.fixture(scope="module")
def shipped_pipeline():
    return Pipeline.from_pretrained()


def test_painted_regions_tells_paper_from_paint():
    palette = np.array([[255, 255, 255], [252, 248, 240], [248, 240, 215], [255, 220, 0],
                        [200, 200, 200], [0, 0, 0]], np.uint8)
    # white and near-white (4 apart) are paper; a cream 10.6 apart, yellow, gray,
    # black are paint
    assert painted_regions(palette).tolist() == [False, False, True, True, True, True]


def test_paint_votes_exact_when_voters_share_the_regions():
    labels = np.array([[0, 0, 1], [2, 2, 1]], np.int32)
    voters = [(labels, np.array([True, False, True])), (labels, np.array([True, True, False])),
              (labels.copy(), np.array([False, False, True]))]
    np.testing.assert_allclose(paint_votes(labels, voters), [2 / 3, 1 / 3, 2 / 3])


def test_paint_votes_average_pixels_of_regions_cut_otherwise():
    labels = np.array([[0, 0, 0, 0], [1, 1, 1, 1]], np.int32)
    cut = np.array([[0, 0, 2, 2], [1, 1, 1, 1]], np.int32)      # region 0 cut in two halves
    voters = [(labels, np.array([True, False])),
              (cut, np.array([True, False, False]))]            # paints the left half only
    # region 0: voter 1 paints all 4 pixels, voter 2 two of them -> (1 + 0.5) / 2
    np.testing.assert_allclose(paint_votes(labels, voters), [0.75, 0.0])
    votes = paint_votes(cut, voters)                            # seen from the cut regions
    np.testing.assert_allclose(votes, [1.0, 0.0, 0.5])


def test_paint_votes_rejects_bad_voters():
    labels = np.zeros((2, 2), np.int32)
    with pytest.raises(InvalidInputError):
        paint_votes(labels, [])
    with pytest.raises(InvalidInputError):
        paint_votes(labels, [(np.zeros((3, 2), np.int32), np.array([True]))])


def _figure_regions(result):
    """Figure regions (not background) with paper pixels, by id."""
    ids = np.unique(result.regions)
    return [r for r in ids if not result.background_mask[result.regions == r].all()]


@pytest.mark.parametrize("path,seed", [("examples/panel_faces.png", 0),
                                       ("examples/panel_house.png", 1)])
def test_consensus_only_turns_figure_regions_white(shipped_pipeline, path, seed):
    one = shipped_pipeline(path, seed=seed)
    voted = shipped_pipeline(path, seed=seed, consensus=4)
    assert (one.lowres == voted.lowres).all()              # the same sample 0
    assert (one.regions == voted.regions).all()
    assert one.background_color == voted.background_color
    assert (one.background_mask == voted.background_mask).all()
    before, after = one.region_colors, voted.region_colors
    changed = np.flatnonzero((before != after).any(axis=1))
    assert len(changed), "the vote changed nothing on this page: the test shows nothing"
    assert (after[changed] == 255).all()                   # only ever to white paper
    bg = one.background_mask
    for r in changed:
        assert not bg[one.regions == r].all()              # never a background region
    # the vote is exactly the rule: with the same 4 samples drawn as variants, a region
    # (not a strip of hatching, whose variant color is its host's) turned white is
    # painted by at most half of them, a figure region that kept its paint by more
    samples = shipped_pipeline(path, seed=seed, samples=4)
    voters = [(s.regions, painted_regions(s.region_colors)) for s in samples]
    votes = paint_votes(one.regions, voters)
    n = len(before)
    own = one.region_hosts == np.arange(n)
    region_bg = np.bincount(one.regions.ravel(), weights=bg.ravel(), minlength=n) > 0
    assert (votes[changed[own[changed]]] <= 0.5).all()
    kept = painted_regions(after) & own & ~region_bg
    assert kept.any() and (votes[kept] > 0.5).all()


def test_consensus_keeps_hinted_regions(shipped_pipeline):
    page = "examples/panel_house.png"
    base = shipped_pipeline(page, seed=1, consensus=4)
    white_now = np.flatnonzero((base.region_colors == 255).all(axis=1) &
                               painted_regions(shipped_pipeline(page, seed=1).region_colors))
    assert len(white_now)
    r = int(white_now[0])
    ys, xs = np.nonzero(base.regions == r)
    strokes = np.zeros(base.image.shape[:2] + (4,), np.uint8)
    strokes[ys[len(ys) // 2], xs[len(xs) // 2]] = (200, 30, 40, 255)
    hinted = shipped_pipeline(page, seed=1, consensus=4, hints=strokes)
    assert tuple(hinted.region_colors[r]) == (200, 30, 40)


@pytest.mark.parametrize("bad", [0, 65, True, 2.5, "4"])
def test_consensus_rejects_bad_values(shipped_pipeline, bad):
    with pytest.raises(InvalidInputError, match="consensus"):
        shipped_pipeline("examples/panel_house.png", consensus=bad)


def test_cli_consensus_writes_the_voted_page(tmp_path, shipped_pipeline):
    from PIL import Image

    from fastcolor.cli import main
    out = tmp_path / "voted.png"
    assert main(["colorize", "examples/panel_house.png", "-o", str(out), "--seed", "1",
                 "--consensus", "4"]) == 0
    with Image.open(out) as im:
        written = np.array(im.convert("RGB"))
    assert (written == shipped_pipeline("examples/panel_house.png", seed=1,
                                        consensus=4).image).all()


def test_paint_votes_streamed_equal_the_pixel_count_on_a_tall_page():
    rng = np.random.default_rng(0)
    H, W = 1300, 7                                   # taller than one chunk of rows
    regions = (np.arange(H)[:, None] // 100 * 2 + (np.arange(W)[None] >= 3)).astype(np.int32)
    cut = regions.copy()
    cut[::3] = regions.max() + 1 + (np.arange(W) % 2)  # some rows cut into two new regions
    voters = [(regions, rng.random(regions.max() + 1) < 0.5) for _ in range(3)]
    voters += [(cut, rng.random(cut.max() + 1) < 0.5) for _ in range(2)]
    count = sum(p[lab].astype(float) for lab, p in voters)          # painting voters per pixel
    for labels in (regions, cut):
        n = labels.max() + 1
        want = np.bincount(labels.ravel(), weights=count.ravel(), minlength=n) / \
            np.maximum(np.bincount(labels.ravel(), minlength=n), 1) / len(voters)
        np.testing.assert_allclose(paint_votes(labels, voters), want)
        votes = PaintVotes(regions)                                  # voters one at a time
        for lab, p in voters:
            votes.add(lab, p)
        np.testing.assert_allclose(votes.shares(labels), want)
    with pytest.raises(InvalidInputError):
        PaintVotes(regions).shares(regions)                         # no voter yet
    with pytest.raises(InvalidInputError):
        PaintVotes(regions).add(regions, np.ones(3, bool))          # wrong region count
