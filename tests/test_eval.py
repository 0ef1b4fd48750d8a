"""Evaluation: CIELAB and CIEDE2000 against published data, the metrics on constructed
images, ``fastcolor eval`` and ``fastcolor figure`` on tiny weights."""

import json

import numpy as np
import torch
import pytest
from PIL import Image

from fastcolor.cli import main
from fastcolor.config import FastcolorConfig
from fastcolor.data.build import build_dataset
from fastcolor.evaluate import (METHODS, chroma_spread, ciede2000, colorfulness,
                                estimate_background, evaluate, figure_like_background,
                                flat_share, folder_items, ink_preserved, lay_ink, region_color_error, rgb_to_lab,
                                region_oracle_background, white_frame, white_frame_excess, white_frame_in_class)
from fastcolor.figure import COLUMNS, render_grid
from fastcolor.pipeline import Pipeline

# Sharma, Wu, Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: L1 a1 b1 L2 a2 b2 dE00
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_matches_sharma_test_data():
    t = np.array(SHARMA)
    # the published values are rounded to 4 decimals
    np.testing.assert_allclose(ciede2000(t[:, 0:3], t[:, 3:6]), t[:, 6], atol=1e-4)
    np.testing.assert_allclose(ciede2000(t[:, 3:6], t[:, 0:3]), t[:, 6], atol=1e-4)
    assert ciede2000([50, 10, -10], [50, 10, -10]) == 0
    # works on images: (H, W, 3)
    img = t[:, 0:3].reshape(2, 17, 3)
    assert ciede2000(img, img + [1, 0, 0]).shape == (2, 17)


def test_rgb_to_lab_reference_values():
    rgb = np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255],
                    [128, 128, 128]], np.uint8)
    want = np.array([[100, 0, 0], [0, 0, 0], [53.2408, 80.0925, 67.2032],
                     [87.7347, -86.1827, 83.1793], [32.2970, 79.1875, -107.8602],
                     [53.5850, 0, 0]])
    np.testing.assert_allclose(rgb_to_lab(rgb), want, atol=2e-3)
    np.testing.assert_allclose(rgb_to_lab(rgb.astype(np.float32) / 255), want, atol=2e-3)


def test_chroma_spread_on_constructed_images():
    img = np.zeros((10, 10, 3), np.uint8)
    img[:] = (200, 120, 40)
    mask = np.ones((10, 10), bool)
    assert chroma_spread(img, mask)["spread"] == pytest.approx(0, abs=1e-9)
    img[:, 5:] = (40, 120, 200)                            # half and half
    s = chroma_spread(img, mask)
    lab1, lab2 = rgb_to_lab(np.array([[200, 120, 40], [40, 120, 200]], np.uint8))
    assert s["std_a"] == pytest.approx(abs(lab1[1] - lab2[1]) / 2)
    assert s["std_b"] == pytest.approx(abs(lab1[2] - lab2[2]) / 2)
    assert s["spread"] == pytest.approx(np.hypot(s["std_a"], s["std_b"]))
    half = mask.copy()
    half[:, 5:] = False                                    # only one color inside the mask
    assert chroma_spread(img, half)["spread"] == pytest.approx(0, abs=1e-9)
    assert chroma_spread(img, np.zeros_like(mask)) is None
    # gray levels differ in L* only: no chroma spread
    gray = np.repeat(np.linspace(0, 255, 100).astype(np.uint8).reshape(10, 10, 1), 3, axis=2)
    assert chroma_spread(gray, mask)["spread"] < 1e-3


def test_ink_preserved_metric():
    outline = np.full((6, 6), 255, np.uint8)
    outline[2, :] = 0
    img = np.full((6, 6, 3), 180, np.uint8)
    img[2, :] = 0
    assert ink_preserved(img, outline) == 1.0
    img[2, 0] = (0, 0, 1)
    assert ink_preserved(img, outline) == pytest.approx(5 / 6)
    assert ink_preserved(img, np.full((6, 6), 255, np.uint8)) is None
    assert (lay_ink(np.full((6, 6, 3), 200, np.uint8), outline)[2] == 0).all()


def test_colorfulness_and_white_frame_metrics():
    gray = np.full((20, 20, 3), 128, np.uint8)
    mask = np.ones((20, 20), bool)
    assert colorfulness(gray, mask) == 0.0
    assert colorfulness(gray, np.zeros_like(mask)) is None
    red = gray.copy()
    red[..., 0] = 255                                       # rg = 127, yb = 63.5
    assert colorfulness(red, mask) == pytest.approx(0.3 * np.hypot(127, 63.5))
    pale = ((red.astype(int) + 255) // 2).astype(np.uint8)
    assert colorfulness(pale, mask) < colorfulness(red, mask)
    # a 3 px white frame around a red page whose truth is red everywhere
    framed = red.copy()
    framed[:3], framed[-3:], framed[:, :3], framed[:, -3:] = 255, 255, 255, 255
    band = np.zeros((20, 20), bool)
    band[:8], band[-8:], band[:, :8], band[:, -8:] = True, True, True, True
    expect = ((framed[band] >= 250).all(-1)).mean()
    assert white_frame(framed, red, mask) == pytest.approx(expect) and expect > 0.5
    assert white_frame(red, red, mask) == 0.0
    assert white_frame(framed, np.full_like(red, 255), mask) is None     # truth is white
    # the excess: the frame is whiter than the inside; an all-white page has no frame
    assert white_frame_excess(framed, red, mask) == pytest.approx(expect)
    assert white_frame_excess(np.full_like(red, 255), red, mask) == 0.0
    assert white_frame_excess(red, red, mask) == 0.0
    assert white_frame_excess(framed, np.full_like(red, 255), mask) is None
    inside_white = red.copy()                    # white inside, red band: nothing to clip
    inside_white[8:-8, 8:-8] = 255
    assert white_frame_excess(inside_white, red, mask) == 0.0


def test_white_frame_in_class_tells_a_frame_from_a_white_background():
    """A red figure on a blue background: painting the background white everywhere is
    no frame within its class (the plain excess counts it against the red figure inside);
    a white band around the right colors is one; a band less white is negative."""
    truth = np.zeros((40, 40, 3), np.uint8)
    truth[...] = (40, 60, 200)                                  # blue background
    truth[6:26, 6:26] = (220, 30, 30)                           # red figure, band and inside
    background = np.ones((40, 40), bool)
    background[6:26, 6:26] = False
    paper = np.ones((40, 40), bool)
    white_bg = truth.copy()
    white_bg[background] = 255
    assert white_frame_excess(white_bg, truth, paper) > 0.4     # counted as a frame
    assert white_frame_in_class(white_bg, truth, paper, background) == pytest.approx(0.0)
    assert white_frame_in_class(truth, truth, paper, background) == 0.0
    framed = truth.copy()
    framed[:8], framed[-8:], framed[:, :8], framed[:, -8:] = 255, 255, 255, 255
    assert white_frame_in_class(framed, truth, paper, background) == pytest.approx(1.0)
    inside_white = white_bg.copy()                              # the band keeps its blue
    band = np.zeros((40, 40), bool)
    band[:8], band[-8:], band[:, :8], band[:, -8:] = True, True, True, True
    inside_white[band & background] = truth[band & background]
    got = white_frame_in_class(inside_white, truth, paper, background)
    assert got is not None and got < -0.5
    assert white_frame_in_class(truth, np.full_like(truth, 255), paper, background) is None


def test_region_oracle_decides_whole_regions():
    """Two regions split by a line; the truth's background is the left one and a strip of
    the right one that no line bounds: the oracle gives each region its majority class, so
    the strip stays figure and its IoU is the left's area over the left's and strip's."""
    from fastcolor.flats import find_regions
    outline = np.full((20, 40), 255, np.uint8)
    outline[:, 20] = 0
    labels = find_regions(outline, gap=0, min_area=0)
    paper = outline >= 250
    truth = np.zeros((20, 40), bool)
    truth[:, :20] = True
    truth[:, 21:25] = True                                  # 4 of the right region's 19 columns
    oracle = region_oracle_background(labels, paper, truth)
    assert oracle[:, :20].all() and not oracle[:, 21:].any()     # the ink joins a side
    iou = (oracle & truth & paper).sum() / ((oracle | truth) & paper).sum()
    assert iou == pytest.approx(20 / 24)
    truth[:, 21:32] = True                                  # now most of the right region
    assert region_oracle_background(labels, paper, truth)[:, 21:].all()


def test_flat_share_metric():
    outline = np.full((20, 40), 255, np.uint8)
    outline[:, 20] = 0                                   # two regions of 20 x 20 and 20 x 19
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = (10, 20, 30)
    img[:, 21:] = (50, 60, 70)
    assert flat_share(img, outline) == 1.0
    img[:10, :20] = (11, 20, 30)                         # half of the left region off by a level
    assert flat_share(img, outline) == pytest.approx((200 + 380) / 780)
    img[5, 5] = 7                                        # an anti-aliased edge is not counted
    outline[5, 5] = 200
    assert flat_share(img, outline) == pytest.approx((200 + 380) / 779)
    assert flat_share(img, outline, min_area=1000) is None


def test_region_color_error_weights_regions_by_area():
    labels = np.zeros((10, 30), np.int32)
    labels[:, 10:] = 1                                    # areas 100 and 200
    truth = np.zeros((10, 30, 3), np.uint8)
    truth[:, :10] = (200, 30, 30)
    truth[:, 10:] = (30, 200, 30)
    paper = np.ones((10, 30), bool)
    background = labels == 1
    r = region_color_error(truth, truth, labels, paper, background)
    assert r == {"all": 0.0, "bg": 0.0, "fg": 0.0, "fg_colored": 0.0}
    image = truth.copy()
    image[:, :10] = (190, 40, 40)
    image[0, 0] = (0, 0, 255)                             # one odd pixel: the median ignores it
    d = float(ciede2000(rgb_to_lab(np.uint8([[190, 40, 40]])), rgb_to_lab(np.uint8([[200, 30, 30]])))[0])
    r = region_color_error(image, truth, labels, paper, background)
    assert r["fg"] == pytest.approx(d) and r["bg"] == 0.0
    assert r["fg_colored"] == pytest.approx(d)              # red: a colored region
    assert r["all"] == pytest.approx(d * 100 / 300)
    white = truth.copy()
    white[:, :10] = 255                                     # a white figure (a balloon)
    r = region_color_error(image, white, labels, paper, background)
    assert r["fg"] is not None and r["fg_colored"] is None


def test_figure_like_background_weights_figure_regions_by_area():
    labels = np.zeros((10, 40), np.int32)                 # the background: columns 0-9
    labels[:, 10:20] = 1                                  # figure regions of 100 and 200 px
    labels[:, 20:] = 2
    background = labels == 0
    paper = np.ones_like(background)
    image = np.zeros((10, 40, 3), np.uint8)
    image[background] = (120, 180, 220)
    image[labels == 1] = (122, 181, 219)                  # lost: the background's color
    image[labels == 2] = (240, 200, 40)                   # stands out
    image[0, 0] = (255, 0, 0)                             # one odd background pixel: median
    assert figure_like_background(image, labels, paper, background) == pytest.approx(1 / 3)
    image[labels == 2] = (125, 178, 221)
    assert figure_like_background(image, labels, paper, background) == pytest.approx(1.0)
    image[labels == 1] = 255
    assert figure_like_background(image, labels, paper, background) == pytest.approx(2 / 3)
    # the paper decides: a figure region with no paper pixel does not count
    no_paper = paper & (labels != 2)
    assert figure_like_background(image, labels, no_paper, background) == 0.0
    assert figure_like_background(image, labels, paper, np.zeros_like(background)) is None
    assert figure_like_background(image, labels, paper, np.ones_like(background)) is None


def test_pipeline_preserves_ink_with_and_without_detector():
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=1)
    outline = np.full((30, 40), 255, np.uint8)
    outline[10, 5:35] = 0
    outline[5:25, 20] = 0
    outline[14, 2:6] = 128                                  # a gray (partial) line
    for detect in (True, False):
        res = pipe(outline, seed=3, extract_outline=False, detect_background=detect)
        assert ink_preserved(res.image, outline) == 1.0
    assert not pipe(outline, seed=3, detect_background=False).background_mask.any()


def test_estimate_background():
    img = np.zeros((60, 60, 3), np.uint8)
    img[:] = (120, 170, 230)                               # blue background
    img[20:40, 20:40] = (230, 60, 60)                      # a red square
    img[19, 19:41] = img[40, 19:41] = img[19:41, 19] = img[19:41, 40] = 0
    mask = estimate_background(img)
    truth = np.zeros((60, 60), bool)
    truth[:] = True
    truth[19:41, 19:41] = False
    assert (mask == truth).mean() > 0.99


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    build_dataset(root / "cache", size=64, panels=4, val_panels=3, seed=2, val_fraction=0.5,
                  hexcodes=["1F600", "1F34E", "1F431", "1F697", "1F33B", "1F388", "1F99C"],
                  progress=False)
    weights = root / "tiny.safetensors"
    Pipeline.random(FastcolorConfig.tiny(), seed=0).save_pretrained(weights)
    return root / "cache", weights


def test_evaluate_on_cache_items(setup):
    from fastcolor.evaluate import cache_items
    cache, weights = setup
    items, mean = cache_items(cache, "val")
    assert len(items) == 3 and mean.shape == (3,)
    pipe = Pipeline.from_pretrained(weights)
    r = evaluate(pipe, items, mean, seed=0)
    assert r["images"] == 3 and r["background_mask"] == "composition"
    assert set(r["ciede2000"]) == set(METHODS)
    assert all(v is not None and v >= 0 for v in r["ciede2000"].values())
    assert r["ink_preserved"] == {"with_detector": 1.0, "without_detector": 1.0}
    assert set(r["region_ciede2000"]) == set(METHODS)
    assert set(r["region_ciede2000_foreground_colored"]) == set(METHODS)
    flat = r["flat_share"]
    assert flat["fastcolor"] > 0.97 and flat["fastcolor"] > flat["fastcolor_soft"]
    # the true background, shrunk by a pixel, is flat in the ground truth
    assert r["background_chroma_spread"]["ground_truth"] < 0.5
    assert r["targets"]["ink_preserved_is_1"]
    assert r["seconds_per_image"] > 0
    assert 0 <= r["background_missed"] <= 1 and 0 <= r["figure_as_background"] <= 1
    assert r["colorfulness"]["ground_truth"] > 0 and r["colorfulness"]["fastcolor"] >= 0
    assert set(r["white_frame"]) == {"fastcolor", "fastcolor_soft"}
    assert set(r["white_frame_excess"]) == {"fastcolor", "fastcolor_soft"}
    lost = r["figure_like_background"]
    assert set(lost) == {"fastcolor", "ground_truth"} and 0 <= lost["ground_truth"] <= 1
    # the IoU over paper pixels (ink left out) beside the one over all pixels
    assert 0 <= r["detector_iou_paper"] <= 1 and 0 <= r["detector_iou"] <= 1
    assert 0 <= r["detector_iou_paper_median"] <= 1
    assert 0 <= r["region_oracle_iou_paper"] <= 1 and 0 <= r["region_oracle_iou_paper_median"] <= 1


def test_eval_command(setup, tmp_path, capsys):
    cache, weights = setup
    rc = main(["eval", "--weights", str(weights), "--data", str(cache), "--limit", "2",
               "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.strip().splitlines()
    result = json.loads(lines[-1])                         # the JSON object comes last
    assert result["images"] == 2 and result["split"] == "val"
    for key in ("background_chroma_spread", "ciede2000", "ink_preserved", "seconds_per_image",
                "targets"):
        assert key in result
    assert "background chroma spread" in out and "CIEDE2000" in out
    # a folder of color images: outlines extracted, background estimated
    folder = tmp_path / "imgs"
    folder.mkdir()
    img = np.zeros((40, 50, 3), np.uint8)
    img[:] = (240, 220, 120)
    img[10:30, 10:30] = (200, 40, 40)
    img[9, 9:31] = img[30, 9:31] = 0
    Image.fromarray(img).save(folder / "a.png")
    Image.fromarray(img[::-1].copy()).save(folder / "b.png")
    items, _ = folder_items(folder)
    assert len(items) == 2 and items[0].mask_source == "estimated"
    rc = main(["eval", "--weights", str(weights), "--images", str(folder), "--quiet"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and result["images"] == 2 and result["background_mask"] == "estimated"
    assert result["ink_preserved"]["with_detector"] == 1.0
    rc = main(["eval", "--weights", str(weights), "--images", str(tmp_path / "none")])
    assert rc == 2


def test_figure_command(setup, tmp_path, capsys):
    cache, weights = setup
    out = tmp_path / "fig.png"
    rc = main(["figure", "--weights", str(weights), "--data", str(cache), "--out", str(out),
               "--n", "2", "--cell", "64"])
    assert rc == 0 and out.is_file()
    fig = np.array(Image.open(out))
    pad = 6
    assert fig.shape[1] == len(COLUMNS) * (64 + pad) + pad
    assert fig.shape[0] > 2 * 64
    # the header holds the labels: dark pixels above the first row of cells
    assert (fig[:20] < 100).any()


def test_render_grid_layout():
    rows = [[np.zeros((8, 8), np.uint8), np.full((4, 4, 3), 255, np.uint8)] for _ in range(3)]
    grid = render_grid(rows, cell=32, pad=2, labels=("a", "b"))
    assert grid.shape[1] == 2 * 34 + 2
    header = grid.shape[0] - 3 * 34 - 2
    # the first cell of the first row is the black outline, scaled to 32 x 32
    assert (grid[header:header + 32, 2:34] == 0).all()


def test_colorize_size_and_many_files(setup, tmp_path, capsys):
    _, weights = setup
    src = tmp_path / "in"
    src.mkdir()
    page = np.full((90, 120), 255, np.uint8)
    page[20:70, 30] = page[20:70, 90] = page[20, 30:91] = page[70, 30:91] = 0
    Image.fromarray(page).save(src / "a.png")
    Image.fromarray(page[:60, :50].copy()).save(src / "b.png")
    out = tmp_path / "out"
    rc = main(["colorize", str(src), "-o", str(out), "--weights", str(weights), "--size", "64"])
    captured = capsys.readouterr()
    assert rc == 0 and captured.out.count("wrote") == 2
    assert "colorize" in captured.err                      # the progress bar
    assert np.array(Image.open(out / "a.png")).shape == (48, 64, 3)   # longer side 64
    assert np.array(Image.open(out / "b.png")).shape == (60, 50, 3)   # small: unchanged
    rc = main(["colorize", str(src / "a.png"), "-o", str(tmp_path / "x.png"), "--weights",
               str(weights), "--size", "0"])
    assert rc == 2


def test_make_series_families():
    from fastcolor.evaluate import SERIES_FAMILIES, Drawing, make_series
    line = np.full((20, 30), 255, np.uint8)
    line[[0, -1]] = 0
    line[:, [0, 15, -1]] = 0
    color = np.zeros((20, 30, 3), np.uint8)
    color[:, :15], color[:, 15:] = (200, 30, 30), (30, 30, 200)
    color[line == 0] = 0
    d = Drawing(line, color, np.ones((20, 30), bool))
    for f in SERIES_FAMILIES:
        panels = make_series(d, d, f, 96, 3, np.random.default_rng(0))
        assert len(panels) == 3
        for p in panels:
            assert p["line"].shape == (96, 96) and p["color"].shape == (96, 96, 3)
            assert p["drawing"].any() and (p["line"][p["drawing"]] == 255).all()
            assert (p["color"][p["line"] == 0] == 0).all()
    with pytest.raises(Exception):
        make_series(d, d, "shear", 96, 3, np.random.default_rng(0))


def test_eval_series_command(setup, capsys):
    cache, weights = setup
    rc = main(["eval", "--series", "--weights", str(weights), "--data", str(cache), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0 and "eval --series" in out
    r = json.loads(out.strip().splitlines()[-1])
    assert r["series"] >= 2 and r["split"] == "val" and r["panels_per_series"] == 4
    assert set(r["families"]) == {"translate_scale", "rotate", "rotate_occlude"}
    for v in r["families"].values():
        assert set(v) >= {"series_correct_share", "independent_correct_share",
                          "ms_per_panel_matching", "drawing_area"}
        assert v["drawing_area"] > 0 and v["ms_per_panel_matching"] > 0
        # the reference's colors carried over beat the (random) model on its own
        assert v["series_correct_share"] > v["independent_correct_share"]
    assert "translate_scale_at_least_0.95" in r["targets"]
    assert r["figure_colors"] == "sample"                # the tiny weights have no prior
    rc = main(["eval", "--series", "--weights", str(weights), "--data", str(cache), "--quiet",
               "--figure-colors", "prior"])
    assert rc == 2 and "no color prior" in capsys.readouterr().err


def test_probe_color_knowledge_script(setup, capsys):
    import importlib.util
    from pathlib import Path
    cache, weights = setup
    path = Path(__file__).resolve().parents[1] / "scripts/probe_color_knowledge.py"
    spec = importlib.util.spec_from_file_location("probe_color_knowledge", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    from fastcolor.evaluate import cache_items
    items, mean = cache_items(cache, "val", 2)
    table = script.probe(Pipeline.from_pretrained(weights), items, mean, samples=3)
    assert set(table) == {"one sample", "mean of samples", "mean color"}
    # the constant is the eval's mean_color baseline, region for region
    ev = evaluate(Pipeline.from_pretrained(weights), items, mean)
    assert table["mean color"]["all"] == pytest.approx(ev["region_ciede2000"]["mean_color"])
    assert table["one sample"]["all"] == pytest.approx(ev["region_ciede2000"]["fastcolor"])
    assert script.main(["--data", str(cache), "--limit", "2", "--samples", "2",
                        "--weights", str(weights)]) == 0
    assert "mean of samples" in capsys.readouterr().out
    assert script.main(["--data", str(cache.parent / "no-such-cache"),
                        "--weights", str(weights)]) == 2
    # with a color prior, its colors get a row: a prior that says the mean color
    # everywhere scores as the constant does
    import dataclasses
    cfg = FastcolorConfig.tiny()
    cfg = dataclasses.replace(cfg, conditioning=dataclasses.replace(
        cfg.conditioning, prior_widths=(4, 8, 8), prior_dilations=(1,)))
    pipe = Pipeline.random(cfg, seed=0)
    with torch.no_grad():
        pipe.model.lowres.prior.colors.weight.zero_()
        pipe.model.lowres.prior.colors.bias.copy_(
            torch.from_numpy(np.rint(mean) / 127.5 - 1).float())
    table = script.probe(pipe, items, mean, samples=2)
    assert table["color prior"] == pytest.approx(table["mean color"], abs=1e-6)
