"""Issue 17: a cache from a folder of colored pages (fastcolor data build --images), and a
short fine-tune on it whose weights name the cache they were trained from."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fastcolor.data import build_from_images, load_split, read_index

S = 64
CHARACTERS = [  # name, fill color (RGB), shape
    ("sun", (240, 200, 40), "circle"),
    ("box", (60, 120, 220), "rect"),
    ("leaf", (70, 170, 80), "triangle"),
]
PANEL_BG = [(250, 235, 215), (215, 235, 250), (255, 255, 255)]


def draw_character(img, rng, x0, y0, x1, y1):
    """One closed shape of a fixed color with a black outline inside (x0, y0)-(x1, y1)."""
    _, fill, shape = CHARACTERS[rng.integers(len(CHARACTERS))]
    side = min(x1 - x0, y1 - y0)
    r = int(side * rng.uniform(0.15, 0.3))
    cx = int(rng.integers(x0 + r + 3, x1 - r - 3))
    cy = int(rng.integers(y0 + r + 3, y1 - r - 3))
    fill = tuple(int(c) for c in fill)[::-1]          # cv2 draws BGR
    if shape == "circle":
        cv2.circle(img, (cx, cy), r, fill, -1)
        cv2.circle(img, (cx, cy), r, (0, 0, 0), 2)
    elif shape == "rect":
        cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), fill, -1)
        cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), (0, 0, 0), 2)
    else:
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(img, [pts], fill)
        cv2.polylines(img, [pts], True, (0, 0, 0), 2)


def make_page(rng, rows, cols, panel_h, panel_w, gutter=20, margin=24):
    """A white page of ``rows x cols`` bordered panels, each a flat color with 1-2
    characters; returns RGB uint8."""
    H = 2 * margin + rows * panel_h + (rows - 1) * gutter
    W = 2 * margin + cols * panel_w + (cols - 1) * gutter
    img = np.full((H, W, 3), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            y0, x0 = margin + r * (panel_h + gutter), margin + c * (panel_w + gutter)
            y1, x1 = y0 + panel_h, x0 + panel_w
            bg = PANEL_BG[rng.integers(len(PANEL_BG))][::-1]
            cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), tuple(int(v) for v in bg), -1)
            for _ in range(int(rng.integers(1, 3))):
                draw_character(img, rng, x0, y0, x1, y1)
            cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), (0, 0, 0), 3)
    return img[:, :, ::-1].copy()


def save(path, rgb):
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The folder and how many panels (tiles) each usable page gives."""
    d = tmp_path_factory.mktemp("pages")
    rng = np.random.default_rng(0)
    expected = {}
    (d / "ep1").mkdir()
    for i in range(4):                       # 2 x 2 grids of 160 px panels
        save(d / f"ep1/page{i}.png", make_page(rng, 2, 2, 160, 160))
        expected[f"ep1/page{i}.png"] = 4
    # a webtoon strip: one 200 x 700 panel (3 tiles) over a 200 x 200 one
    strip = make_page(rng, 1, 1, 700, 200)
    strip = np.concatenate([strip, make_page(rng, 1, 1, 200, 200)], axis=0)
    save(d / "strip.png", strip)
    expected["strip.png"] = 3 + 1
    # an odd-sized page, saved as JPEG: 3 panels of 137 x 191
    save(d / "odd.jpg", make_page(rng, 1, 3, 137, 191))
    expected["odd.jpg"] = 3
    # a grayscale page
    gray = cv2.cvtColor(make_page(rng, 2, 1, 150, 170), cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(d / "gray.png"), gray)
    expected["gray.png"] = 2
    # an RGBA page: transparent page margins (composited on white), opaque panels
    rgba = np.dstack([make_page(rng, 1, 2, 150, 150), np.full((198, 368), 255, np.uint8)])
    rgba[:10, :, 3] = 0
    cv2.imwrite(str(d / "rgba.webp"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA),
                [cv2.IMWRITE_WEBP_QUALITY, 101])
    expected["rgba.webp"] = 2
    # a page with no background: random noise colors everywhere (no dominant color)
    noise = np.random.default_rng(1).integers(60, 256, (160, 160, 3), dtype=np.uint8)
    save(d / "noise.png", noise)
    expected["noise.png"] = 1
    # a duplicate of a page, and a corrupt file
    (d / "page0_copy.png").write_bytes((d / "ep1/page0.png").read_bytes())
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return d, expected


@pytest.fixture(scope="module")
def cache(pages, tmp_path_factory):
    folder, _ = pages
    out = tmp_path_factory.mktemp("cache")
    index = build_from_images(folder, out, size=S, val_fraction=0.3, seed=0, progress=False)
    return out, index


def test_cache_counts_split_and_conventions(pages, cache):
    folder, expected = pages
    out, index = cache
    assert index == read_index(out)
    assert index["composition"] == "images" and index["size"] == S
    assert index["source"] == str(folder.resolve())
    p = index["pages"]
    assert p["files"] == 11 and p["read"] == 10 and p["used"] == 9
    assert [s["file"] for s in p["skipped"]] == ["broken.png"]
    assert p["duplicates"] == [{"file": "page0_copy.png", "same_as": "ep1/page0.png"}]
    train_pages, val_pages = (index["splits"][s]["pages"] for s in ("train", "val"))
    assert not set(train_pages) & set(val_pages)                  # split by page
    assert sorted(train_pages + val_pages) == sorted(expected)
    assert len(val_pages) == round(0.3 * 9) == p["val"]
    for split, names in (("train", train_pages), ("val", val_pages)):
        panels = load_split(out, split)
        assert len(panels) == sum(expected[n] for n in names) == index["splits"][split]["panels"]
        from_page = {}
        for tag in panels.emoji:
            name, k = str(tag).rsplit("#", 1)
            from_page[name] = from_page.get(name, 0) + 1
        assert from_page == {n: expected[n] for n in names}
        assert panels.color.shape == (len(panels), S, S, 3) and panels.color.dtype == np.uint8
        assert panels.line.shape == (len(panels), S, S) and panels.line.dtype == np.uint8
        assert set(np.unique(panels.line)) <= {0, 255}
        assert np.array_equal(panels.line, panels.extracted)
        assert panels.background.dtype == bool and panels.bg_color.shape == (len(panels), 3)
        assert not panels.flags.any()
        for i, tag in enumerate(panels.emoji):
            bg = panels.background[i]
            if str(tag).startswith("noise.png"):              # no background found
                assert not bg.any() and tuple(panels.bg_color[i]) == (255, 255, 255)
                continue
            assert bg.mean() > 0.2                            # the flat panel color
            mean = panels.color[i][bg].mean(axis=0)
            assert np.abs(mean - panels.bg_color[i]).max() <= 1
            assert (panels.line[i] == 0).mean() > 0.02        # outlines were found
    # the letterbox pads with white: the strip's tiles are 200 x 300 -> 43 x 64
    strip = load_split(out, "train" if "strip.png" in train_pages else "val")
    i = [k for k, t in enumerate(strip.emoji) if str(t) == "strip.png#0"][0]
    assert (strip.color[i][:, :5] == 255).all() and not strip.background[i][:, :5].any()


def test_rebuild_is_identical_and_split_is_stable(pages, cache, tmp_path):
    folder, _ = pages
    out, index = cache
    again = build_from_images(folder, tmp_path / "c", size=S, val_fraction=0.3, progress=False)
    assert again["splits"]["val"]["pages"] == index["splits"]["val"]["pages"]
    a, b = load_split(out, "val"), load_split(tmp_path / "c", "val")
    assert np.array_equal(a.color, b.color) and np.array_equal(a.background, b.background)


def test_bad_folders(tmp_path):
    from fastcolor.data import DataError
    with pytest.raises(DataError, match="not a folder"):
        build_from_images(tmp_path / "missing", tmp_path / "out", progress=False)
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="could be read"):
        build_from_images(tmp_path / "only", tmp_path / "out", progress=False)


def test_fine_tune_on_the_cache_records_what_it_was_trained_from(cache, tmp_path, capsys):
    """``fastcolor train --init W`` on the cache: the validation loss goes down over a short
    run, and the weights' metadata names the cache, the steps and the base weights."""
    import hashlib

    from fastcolor.cli import main
    from fastcolor.config import FastcolorConfig
    from fastcolor.models import FastcolorModel
    from fastcolor.weights import load_weights, read_training, save_weights

    out, _ = cache
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    base = tmp_path / "base.safetensors"
    base_sha = save_weights(FastcolorModel(FastcolorConfig.tiny(S, 8)), base)
    assert read_training(base) is None                 # files without it read as before
    run = tmp_path / "run"
    rc = main(["train", "--data", str(out), "--out", str(run), "--init", str(base),
               "--stage", "lowres", "--max-steps", "20", "--epochs", "10", "--batch-size", "4",
               "--lr", "3e-3", "--threads", "1", "--quiet"])
    assert rc == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [r["val_loss"] for r in log if r.get("val_loss") is not None]
    assert len(losses) >= 3 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    training = read_training(run / "weights.safetensors")
    fp = hashlib.sha256((out / "index.json").read_bytes()).hexdigest()
    assert training["data_fingerprint"] == fp
    assert training["init_sha256"] == base_sha
    assert training["steps"] == {"lowres": 20}
    assert training["stages"]["lowres"]["composition"] == "images"
    config, tensors, _ = load_weights(run / "weights.safetensors")   # still loads
    assert config == FastcolorConfig.tiny(S, 8)
    _, base_tensors, _ = load_weights(base)                # the untrained stages: --init's
    assert all(torch.equal(tensors[k], base_tensors[k]) == (not k.startswith("lowres."))
               for k in tensors)
    assert f"fingerprint {fp[:12]}" in capsys.readouterr().out


def test_cli_data_build_images(pages, tmp_path, capsys):
    from fastcolor.cli import main
    folder, expected = pages
    rc = main(["data", "build", "--images", str(folder), "--out", str(tmp_path / "c"),
               "--size", "32", "--val-fraction", "0.2", "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0 and "skipped broken.png" in text and "1 duplicate pages" in text
    index = read_index(tmp_path / "c")
    assert index["size"] == 32 and index["pages"]["val"] == round(0.2 * 9)
    assert sum(index["splits"][s]["panels"] for s in ("train", "val")) == sum(expected.values())
    rc = main(["data", "build", "--images", str(folder), "--out", str(tmp_path / "d"),
               "--emoji", "1F600"])
    assert rc != 0 and "do not apply" in capsys.readouterr().err
