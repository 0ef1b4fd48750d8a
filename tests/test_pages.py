"""Pages and strips colored panel by panel (issue 10): panels found and reported, gutters
left as paper, one background color per page, the same colors for a panel alone or inside
a strip (same seed and panel index), tall panels tiled, panels=False."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fastcolor import FastcolorConfig, Pipeline

AA = cv2.LINE_AA


@pytest.fixture(scope="module")
def pipe():
    return Pipeline.random(FastcolorConfig.tiny(), seed=0)


def panel_art(size: int, k: int) -> np.ndarray:
    """A bordered panel with a few closed shapes (different for each k)."""
    img = np.full((size, size), 255, np.uint8)
    cv2.rectangle(img, (0, 0), (size - 1, size - 1), 0, 2, AA)
    cv2.circle(img, (size // 3 + 5 * k, size // 2), size // 5, 0, 2, AA)
    cv2.rectangle(img, (size // 2, size // 5), (size - 12, size // 2 + 4 * k), 0, 2, AA)
    return img


def strip(n: int, size: int = 100, gutter: int = 30, margin: int = 10) -> tuple:
    """A vertical strip of ``n`` bordered panels with paper gutters; their boxes."""
    h = 2 * margin + n * size + (n - 1) * gutter
    img = np.full((h, size + 2 * margin), 255, np.uint8)
    tops = [margin + i * (size + gutter) for i in range(n)]
    for i, t in enumerate(tops):
        img[t:t + size, margin:margin + size] = panel_art(size, i)
    return img, tops


def test_panels_are_found_and_gutters_stay_paper(pipe):
    img, tops = strip(3)
    r = pipe(img, seed=0)
    assert len(r.panels) == 3
    for box, top in zip(r.panels, tops):
        assert abs(box.top - top) <= 4 and abs(box.height - 100) <= 8
    gutter = img[tops[0] + 100 + 5:tops[1] - 5]
    assert (gutter == 255).all()
    assert (r.image[tops[0] + 100 + 5:tops[1] - 5] == 255).all()      # paper, not colored
    soft = pipe(img, seed=0, flats=False)
    assert (soft.image[tops[0] + 100 + 5:tops[1] - 5] == 255).all()
    assert len(pipe(img, seed=0, panels=False).panels) == 1


def test_one_background_color_for_the_page(all_background):
    img, tops = strip(3)
    r = all_background(img, seed=0)
    assert r.background_color is not None
    inside = np.zeros(img.shape, bool)
    for t in tops:
        inside[t + 4:t + 96, 14:106] = True
    paper = inside & (img == 255)
    assert (r.image[paper] == r.background_color).all()


@pytest.mark.parametrize("options", [dict(background=(200, 180, 40)),
                                     dict(detect_background=False)])
def test_a_panel_alone_colors_like_inside_the_strip(pipe, options):
    """Same seed and panel index, same colors -- given the same background color (the
    page's one background color is otherwise the mean over all its panels)."""
    img, tops = strip(3)
    r = pipe(img, seed=7, **options)
    for k, box in enumerate(r.panels):
        alone = pipe(np.ascontiguousarray(img[box.slice]), seed=7 + k, **options)
        assert len(alone.panels) == 1
        inner = np.zeros(img[box.slice].shape, bool)
        inner[6:-6, 6:-6] = True
        inner &= img[box.slice] == 255
        np.testing.assert_array_equal(alone.image[inner], r.image[box.slice][inner])


def test_tall_panel_is_tiled_and_blended(pipe):
    img = np.full((700, 120), 255, np.uint8)
    cv2.rectangle(img, (2, 2), (117, 697), 0, 2, AA)
    for y in range(60, 680, 110):
        cv2.circle(img, (60, y), 30, 0, 2, AA)
    r = pipe(img, seed=1, flats=False)
    assert len(r.panels) == 1 and len(r.extras["tiles"]) >= 4
    tiles = r.extras["tiles"]
    for a, b in zip(tiles, tiles[1:]):
        assert b.top < a.bottom                                        # they overlap
    assert all(t.height / t.width <= 1.5 + 1e-9 for t in tiles)
    assert len(r.extras["tile_lowres"]) == len(tiles)


def test_same_seed_same_page(pipe):
    img, _ = strip(2)
    np.testing.assert_array_equal(pipe(img, seed=3).image, pipe(img, seed=3).image)
    assert not np.array_equal(pipe(img, seed=3).image, pipe(img, seed=4).image)


def test_chapter_interrupted_then_resumed_equals_one_run(tmp_path, capsys, monkeypatch):
    """A folder of pages: Ctrl-C after the second page, then --skip-existing: the same
    files, byte for byte, as one uninterrupted run."""
    from PIL import Image

    from fastcolor.cli import main
    weights = tmp_path / "w.safetensors"
    Pipeline.random(FastcolorConfig.tiny(), seed=0).save_pretrained(weights)
    chapter = tmp_path / "chapter"
    chapter.mkdir()
    for i in range(4):
        img, _ = strip(1 + i % 2, size=60, gutter=20)
        cv2.imwrite(str(chapter / f"p{i}.png"), img)
    once, resumed = tmp_path / "once", tmp_path / "resumed"
    assert main(["colorize", str(chapter), "-o", str(once), "--weights", str(weights)]) == 0
    real_save, calls = Image.Image.save, []

    def save_then_interrupt(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_then_interrupt)
    assert main(["colorize", str(chapter), "-o", str(resumed), "--weights", str(weights)]) == 130
    monkeypatch.setattr(Image.Image, "save", real_save)
    assert sorted(p.name for p in resumed.iterdir()) == ["p0.png", "p1.png"]
    assert main(["colorize", str(chapter), "-o", str(resumed), "--weights", str(weights),
                 "--skip-existing"]) == 0
    assert "2 skipped" in capsys.readouterr().out
    for i in range(4):
        assert (once / f"p{i}.png").read_bytes() == (resumed / f"p{i}.png").read_bytes()


def test_cli_no_panels(tmp_path):
    from fastcolor.cli import main
    weights = tmp_path / "w.safetensors"
    p = Pipeline.random(FastcolorConfig.tiny(), seed=0)
    p.save_pretrained(weights)
    img, _ = strip(3, size=60, gutter=20)
    cv2.imwrite(str(tmp_path / "s.png"), img)
    assert main(["colorize", str(tmp_path / "s.png"), "-o", str(tmp_path / "a.png"),
                 "--weights", str(weights), "--no-panels"]) == 0
    expect = Pipeline.from_pretrained(weights)(str(tmp_path / "s.png"), seed=0, panels=False)
    got = cv2.imread(str(tmp_path / "a.png"))[..., ::-1]
    np.testing.assert_array_equal(got, expect.image)
