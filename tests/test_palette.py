"""Tests of the palette lock (``fastcolor.palette``, ``Pipeline(palette=...)``,
``colorize --palette``) on the tiny untrained model: colors mean nothing, the contract
(every model-chosen region color is a palette color; hints and background stay) is
what is checked."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fastcolor import FastcolorConfig, Pipeline
from fastcolor.cli import main
from fastcolor.errors import FastcolorError, InvalidInputError
from fastcolor.evaluate import ciede2000, rgb_to_lab
from fastcolor.palette import palette_from_image, parse_palette, snap_to_palette

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HOUSE = EXAMPLES / "panel_house.png"
COLORS = np.array([(220, 40, 50), (40, 160, 60), (40, 60, 200), (250, 220, 180)], np.uint8)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.random(FastcolorConfig.tiny(), seed=0)


def test_parse_palette_forms(tmp_path):
    want = np.array([(255, 0, 0), (0, 170, 0)], np.uint8)
    for form in ("#ff0000,#00aa00", "255,0,0;0,170,0", "#ff0000 0,170,0",
                 ["#ff0000", (0, 170, 0)], want):
        np.testing.assert_array_equal(parse_palette(form), want)


def test_palette_from_image_keeps_flat_colors(tmp_path):
    img = np.full((100, 100, 3), 255, np.uint8)
    img[:50] = (200, 10, 10)
    img[50:60] = (10, 10, 200)
    img[0, :40] = (1, 2, 3)                     # 0.4 %: left out
    pal = palette_from_image(img)
    np.testing.assert_array_equal(pal, [(200, 10, 10), (255, 255, 255), (10, 10, 200)])
    path = tmp_path / "sheet.png"
    Image.fromarray(img).save(path)
    np.testing.assert_array_equal(parse_palette(str(path)), pal)
    np.testing.assert_array_equal(parse_palette(Image.fromarray(img)), pal)


def test_snap_is_nearest_in_ciede2000():
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, (200, 3), dtype=np.uint8)
    snapped = snap_to_palette(colors, COLORS)
    d = ciede2000(rgb_to_lab(colors)[:, None], rgb_to_lab(COLORS)[None])
    np.testing.assert_array_equal(snapped, COLORS[d.argmin(1)])
    np.testing.assert_array_equal(snap_to_palette(COLORS, COLORS), COLORS)


@pytest.mark.parametrize("bad", ["", "#12345", "red", "1,2", "300,0,0", [], [(1, 2)],
                                 np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8),  # noise
                                 Path("/nonexistent/sheet.png"), 42])
def test_bad_palettes_raise(bad):
    with pytest.raises(FastcolorError):
        parse_palette(bad)


def test_pipeline_palette_lock(pipe):
    free = pipe(HOUSE, seed=3)
    locked = pipe(HOUSE, seed=3, palette=COLORS)
    bg = locked.background_mask
    colored = np.zeros(len(free.region_colors), bool)
    colored[np.unique(locked.regions[~bg])] = True
    # the model's colors, snapped; the background untouched
    model = colored & (free.region_colors != 255).any(1)
    assert model.any()
    np.testing.assert_array_equal(locked.region_colors[model],
                                  snap_to_palette(free.region_colors[model], COLORS))
    np.testing.assert_array_equal(locked.image[bg], free.image[bg])
    assert locked.background_color == free.background_color


def test_palette_keeps_hint_colors(pipe):
    strokes = np.zeros((288, 384, 4), np.uint8)
    strokes[150:160, 40:60] = (7, 8, 9, 255)              # not a palette color
    r = pipe(HOUSE, seed=0, hints=strokes, palette=COLORS)
    region = r.regions[155, 50]
    assert tuple(r.region_colors[region]) == (7, 8, 9)


def test_palette_needs_flats(pipe):
    with pytest.raises(InvalidInputError, match="flats"):
        pipe(HOUSE, seed=0, palette=COLORS, flats=False)
    with pytest.raises(InvalidInputError):
        pipe(HOUSE, seed=0, palette="not a color")


def test_cli_palette(capsys, tmp_path, pipe):
    weights = tmp_path / "tiny.safetensors"
    pipe.save_pretrained(weights)
    sheet = tmp_path / "sheet.png"
    img = np.repeat(np.repeat(COLORS[None], 10, 0), 10, 1)     # 10 x 40, four colors
    Image.fromarray(img).save(sheet)
    out = tmp_path / "out.png"
    code = main(["colorize", str(HOUSE), "-o", str(out), "--weights", str(weights),
                 "--palette", str(sheet), "--seed", "3"])
    assert code == 0, capsys.readouterr().err
    want = pipe(HOUSE, seed=3, palette=COLORS).image
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.array(im), want)
    code = main(["colorize", str(HOUSE), "-o", str(tmp_path / "x.png"), "--weights",
                 str(weights), "--palette", "#zzzzzz"])
    err = capsys.readouterr().err
    assert code == 2 and "palette" in err and "Traceback" not in err
    code = main(["colorize", str(HOUSE), "-o", str(tmp_path / "x.png"), "--weights",
                 str(weights), "--palette", "#ff0000", "--no-flats"])
    assert code == 2 and "flats" in capsys.readouterr().err
