"""Layered outputs (fastcolor.layers, ColorizeResult.save, colorize -o x.psd/.ora,
--layers, --format), checked by reading the files back with real readers: psd-tools for
PSD, zipfile + xml.etree + PIL for OpenRaster, PIL + json for the layer PNGs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import cv2
import numpy as np
import psd_tools.psd
import pytest
from PIL import Image
from psd_tools import PSDImage
from psd_tools.constants import BlendMode, ColorMode, Tag
from psd_tools.composite import composite

from fastcolor import ColorizeResult, FastcolorConfig, InvalidInputError, Pipeline
from fastcolor.cli import main
from fastcolor.layers import (LAYER_FILES, write_layer_pngs, write_ora, write_psd)

HOUSE = Path(__file__).resolve().parent.parent / "examples" / "panel_house.png"


def drawing(h: int = 48, w: int = 64) -> np.ndarray:
    """A small line drawing with anti-aliased strokes (many gray levels)."""
    img = np.full((h, w), 255, np.uint8)
    cv2.rectangle(img, (3, 3), (w - 4, h - 4), 0, 1)
    cv2.circle(img, (w // 3, h // 2), h // 4, 0, 1, cv2.LINE_AA)
    cv2.line(img, (w // 2, 6), (w - 8, h - 8), 40, 2, cv2.LINE_AA)
    return img


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.random(FastcolorConfig.tiny(), seed=0)


def hint_dot(h: int = 48, w: int = 64) -> np.ndarray:
    """An RGBA hint: a red dot inside the drawing's circle (that region is then not
    background, whatever the untrained detector says)."""
    hints = np.zeros((h, w, 4), np.uint8)
    hints[h // 2 - 2:h // 2 + 2, w // 3 - 2:w // 3 + 2] = (200, 60, 40, 255)
    return hints


# a background and a hinted region (forced colors), no background (no detector), and
# the example panel
CASES = {"drawing": (drawing, dict(background=(90, 160, 220), hints=hint_dot())),
         "no_background": (drawing, dict(detect_background=False)),
         "house": (lambda: str(HOUSE), {})}


@pytest.fixture(scope="module", params=sorted(CASES))
def result(request, pipe) -> ColorizeResult:
    make, options = CASES[request.param]
    res = pipe(make(), seed=1, **options)
    assert res.flats is not None
    if request.param == "no_background":
        assert res.background_color is None and not res.background_mask.any()
    elif request.param == "drawing":
        assert res.background_mask.any() and not res.background_mask.all()
    return res


def expected_layers(res: ColorizeResult) -> dict[str, np.ndarray]:
    """The layers as the module's docstring defines them, computed here independently."""
    h, w = res.outline.shape
    mask = res.background_mask if res.background_color is not None else np.zeros((h, w), bool)
    background = np.zeros((h, w, 4), np.uint8)
    if res.background_color is None:
        background[:] = 255                                   # white paper
    else:
        background[..., :3] = res.background_color
        background[..., 3] = mask * 255
    flats = np.dstack([res.flats, np.where(mask, 0, 255).astype(np.uint8)])
    lines = np.zeros((h, w, 4), np.uint8)
    lines[..., 3] = 255 - res.outline
    return {"background": background, "flats": flats, "lines": lines}


def src_over(layers) -> np.ndarray:
    """Normal blending, bottom to top, in float64, rounded: the flattened RGB."""
    color = np.zeros(layers[0].shape[:2] + (3,))
    alpha = np.zeros(layers[0].shape[:2] + (1,))
    for layer in layers:
        a = layer[..., 3:] / 255.0
        color = layer[..., :3] / 255.0 * a + color * alpha * (1 - a)
        alpha = a + alpha * (1 - a)
        color = np.divide(color, alpha, out=np.zeros_like(color), where=alpha > 0)
    assert np.all(alpha == 1.0)
    return np.rint(color * 255).astype(np.uint8)


def u8(values: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(values) * 255).astype(np.uint8)


def png(path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im


def test_the_layers_flatten_to_the_image(result):
    """The definition itself: background, flats, lines blended give result.image."""
    layers = expected_layers(result)
    assert np.array_equal(src_over([layers[n] for n in ("background", "flats", "lines")]),
                          result.image)


# ---------------------------------------------------------------------------
# PSD
# ---------------------------------------------------------------------------


def test_psd_round_trip(tmp_path, result):
    path = write_psd(tmp_path / "page.psd", result)
    psd = PSDImage.open(path)
    h, w = result.image.shape[:2]
    assert (psd.width, psd.height) == (w, h)
    assert psd.color_mode == ColorMode.RGB and psd.depth == 8 and psd.channels == 3
    assert [layer.name for layer in psd] == ["background", "flats", "lines"]   # bottom first
    want = expected_layers(result)
    for layer in psd:
        assert layer.kind == "pixel" and layer.visible and layer.opacity == 255
        assert layer.blend_mode == BlendMode.NORMAL
        assert layer.bbox == (0, 0, w, h)
        assert layer.tagged_blocks.get_data(Tag.UNICODE_LAYER_NAME) == layer.name
        got = u8(layer.numpy())                     # RGBA, transparency as alpha
        assert got.shape == (h, w, 4)
        assert np.array_equal(got[..., 3], want[layer.name][..., 3]), layer.name
        shown = got[..., 3] > 0
        assert np.array_equal(got[..., :3][shown], want[layer.name][..., :3][shown]), layer.name
    lines = u8(psd[2].numpy())
    assert np.array_equal(lines[..., 3], 255 - result.outline)
    flats = u8(psd[1].numpy())
    off_bg = ~result.background_mask if result.background_color is not None else \
        np.ones((h, w), bool)
    assert np.array_equal(flats[..., :3][off_bg], result.flats[off_bg])
    if result.background_color is not None:
        background = u8(psd[0].numpy())
        assert np.all(background[result.background_mask][:, :3] == result.background_color)


def test_psd_merged_image_and_composite(tmp_path, result):
    """The stored merged image is result.image exactly; psd-tools' own composite of the
    layers is exact as floats rounded, and within 1 level as its PIL image (which
    truncates)."""
    psd = PSDImage.open(write_psd(tmp_path / "page.psd", result))
    assert psd.has_preview()
    merged = psd.topil()
    assert merged.mode == "RGB" and np.array_equal(np.asarray(merged), result.image)
    color, _, alpha = composite(psd)
    assert np.all(alpha > 0.999)
    assert np.array_equal(u8(color), result.image)
    pil = np.asarray(psd.composite(ignore_preview=True))[..., :3].astype(int)
    assert np.abs(pil - result.image).max() <= 1


def test_psd_file_structure(tmp_path, result):
    """The low-level sections a reader needs: header, version info saying there is a
    real merged image, layer records with the four channels, the image data."""
    path = write_psd(tmp_path / "page.psd", result)
    with open(path, "rb") as f:
        assert f.read(6) == b"8BPS\x00\x01"
        f.seek(0)
        record = psd_tools.psd.PSD.read(f)
    info = record.image_resources.get_data(1057)          # VersionInfo
    assert info.has_composite
    layer_info = record.layer_and_mask_information.layer_info
    assert layer_info.layer_count == 3
    for rec in layer_info.layer_records:
        assert sorted(int(c.id) for c in rec.channel_info) == [-1, 0, 1, 2]
    assert len(layer_info.channel_image_data) == 3
    # a second, independent reader: Pillow's PSD plugin (merged image, layer names and
    # bounds; it reads layer channels by position, so their pixels are psd-tools' to check)
    with Image.open(path) as im:
        assert im.format == "PSD" and im.mode == "RGB"
        assert np.array_equal(np.asarray(im), result.image)
        h, w = result.image.shape[:2]
        assert [(name, mode, box) for name, mode, box, _ in im.layers] == \
            [(name, "RGBA", (0, 0, w, h)) for name in ("background", "flats", "lines")]


# ---------------------------------------------------------------------------
# OpenRaster
# ---------------------------------------------------------------------------


def test_ora_round_trip(tmp_path, result):
    path = write_ora(tmp_path / "page.ora", result)
    h, w = result.image.shape[:2]
    raw = path.read_bytes()
    # mimetype first, stored, no extra field: readable at a fixed offset
    assert raw[30:38] == b"mimetype" and raw[38:54] == b"image/openraster"
    with zipfile.ZipFile(path) as z:
        first = z.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert z.read("mimetype") == b"image/openraster"
        assert z.testzip() is None
        root = ElementTree.fromstring(z.read("stack.xml"))
        assert root.tag == "image" and (root.get("w"), root.get("h")) == (str(w), str(h))
        stack = root.find("stack")
        layers = stack.findall("layer")
        assert [el.get("name") for el in layers] == ["lines", "flats", "background"]  # top first
        want = expected_layers(result)
        for el in layers:
            assert (el.get("x"), el.get("y")) == ("0", "0")
            assert el.get("composite-op") == "svg:src-over"
            assert el.get("src") == f"data/{el.get('name')}.png"
            with z.open(el.get("src")) as f:
                im = png(f)
            assert im.mode == "RGBA" and im.size == (w, h)
            assert np.array_equal(np.asarray(im), want[el.get("name")])
        with z.open("mergedimage.png") as f:
            merged = png(f)
        assert merged.mode == "RGB" and np.array_equal(np.asarray(merged), result.image)
        with z.open("Thumbnails/thumbnail.png") as f:
            thumb = png(f)
        assert max(thumb.size) <= 256
        assert thumb.size == (w, h) if max(w, h) <= 256 else max(thumb.size) == 256


# ---------------------------------------------------------------------------
# the layer PNGs
# ---------------------------------------------------------------------------


def test_layer_pngs(tmp_path, result):
    paths = write_layer_pngs(tmp_path / "page", result)
    assert [p.name for p in paths] == list(LAYER_FILES)
    assert sorted(p.name for p in (tmp_path / "page").iterdir()) == sorted(LAYER_FILES)
    lines = png(tmp_path / "page" / "lines.png")
    assert lines.mode == "RGBA"
    assert np.array_equal(np.asarray(lines), expected_layers(result)["lines"])
    flats = png(tmp_path / "page" / "flats.png")
    assert flats.mode == "RGB" and np.array_equal(np.asarray(flats), result.flats)
    mask = png(tmp_path / "page" / "background_mask.png")
    bg = result.background_mask if result.background_color is not None else \
        np.zeros_like(result.background_mask)
    assert mask.mode == "L" and np.array_equal(np.asarray(mask), np.where(bg, 255, 0))
    regions = png(tmp_path / "page" / "regions.png")
    assert regions.mode.startswith("I;16")                     # 16-bit gray
    assert np.array_equal(np.asarray(regions).astype(np.int64), result.regions)
    table = json.loads((tmp_path / "page" / "region_colors.json").read_text())
    n = len(result.region_colors)
    assert table["regions"] == n == result.regions.max() + 1
    assert np.array_equal(np.array(table["colors"]), result.region_colors)
    assert table["background_color"] == (None if result.background_color is None
                                         else list(result.background_color))
    assert table["background_regions"] == np.unique(result.regions[bg]).tolist()
    assert table["regions_png"].startswith("gray16")
    # the table and the map give back the flats
    assert np.array_equal(np.array(table["colors"], np.uint8)[np.asarray(regions)],
                          result.flats)


def synthetic_result(h: int, w: int, n: int) -> ColorizeResult:
    rng = np.random.default_rng(0)
    regions = (np.arange(h * w).reshape(h, w) % n).astype(np.int32)
    colors = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    outline = rng.integers(0, 256, (h, w), dtype=np.uint8)
    flats = colors[regions]
    image = ((flats.astype(np.uint16) * outline[..., None] + 127) // 255).astype(np.uint8)
    return ColorizeResult(image=image, lowres=None, background_mask=np.zeros((h, w), bool),
                          background_color=None, outline=outline, seed=0, flats=flats,
                          regions=regions, region_colors=colors)


def test_many_regions_are_an_rgb_map(tmp_path):
    """Over 65535 regions the map is RGB, label = R * 65536 + G * 256 + B."""
    res = synthetic_result(300, 300, 90000)
    write_layer_pngs(tmp_path, res)
    im = png(tmp_path / "regions.png")
    assert im.mode == "RGB"
    rgb = np.asarray(im).astype(np.int64)
    assert np.array_equal(rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2], res.regions)
    table = json.loads((tmp_path / "region_colors.json").read_text())
    assert table["regions"] == 90000 and table["regions_png"].startswith("rgb24")


# ---------------------------------------------------------------------------
# ColorizeResult.save, flats=False, interrupted writes
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def house(pipe) -> ColorizeResult:
    return pipe(str(HOUSE), seed=2)


@pytest.mark.parametrize("name", ["p.png", "p.jpg", "p.JPEG", "p.psd", "p.ORA"])
def test_save_dispatches_on_the_extension(tmp_path, house, name):
    house.save(tmp_path / name)
    suffix = Path(name).suffix.lower()
    if suffix == ".psd":
        assert np.array_equal(np.asarray(PSDImage.open(tmp_path / name).topil()), house.image)
    elif suffix == ".ora":
        assert zipfile.ZipFile(tmp_path / name).read("mimetype") == b"image/openraster"
    else:
        im = png(tmp_path / name)
        assert im.size == house.image.shape[1::-1]
        if suffix == ".png":
            assert np.array_equal(np.asarray(im), house.image)


def test_save_refuses_other_extensions(tmp_path, house):
    with pytest.raises(InvalidInputError, match=r"\.png.*\.psd.*\.ora"):
        house.save(tmp_path / "p.tif")
    assert not list(tmp_path.iterdir())


def test_no_flats_is_refused_for_layers(tmp_path, pipe):
    """flats=False: the soft colors are multiplied with the ink and cannot be split,
    so every layered writer refuses with a clear error; flat images still save."""
    soft = pipe(drawing(), seed=0, flats=False)
    assert soft.flats is None
    for write in (lambda: write_psd(tmp_path / "s.psd", soft),
                  lambda: write_ora(tmp_path / "s.ora", soft),
                  lambda: write_layer_pngs(tmp_path / "s", soft),
                  lambda: soft.save(tmp_path / "s.psd")):
        with pytest.raises(InvalidInputError, match="needs flats"):
            write()
    assert not list(tmp_path.iterdir())
    soft.save(tmp_path / "s.png")
    assert np.array_equal(np.asarray(png(tmp_path / "s.png")), soft.image)


def test_interrupted_psd_leaves_the_old_file(tmp_path, house, monkeypatch):
    target = tmp_path / "page.psd"
    target.write_bytes(b"the old file")

    def write_midway(self, fp, *args, **kwargs):     # writes part of the file, then stops
        fp.write(b"8BPS partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(psd_tools.psd.PSD, "write", write_midway)
    with pytest.raises(KeyboardInterrupt):
        write_psd(target, house)
    assert target.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.psd"]


def test_interrupted_ora_leaves_no_file(tmp_path, house, monkeypatch):
    real = zipfile.ZipFile.writestr
    calls = []

    def writestr(self, name, data, *args, **kwargs):
        calls.append(name)
        if name == "mergedimage.png":
            raise KeyboardInterrupt
        return real(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)
    with pytest.raises(KeyboardInterrupt):
        write_ora(tmp_path / "page.ora", house)
    assert "data/lines.png" in calls                    # it was midway
    assert not list(tmp_path.iterdir())


def test_interrupted_layer_pngs_leave_no_partial_file(tmp_path, house, monkeypatch):
    real = Image.Image.save

    def save(self, fp, *args, **kwargs):
        if str(fp).endswith(".tmp") and "regions.png" in str(fp):
            with open(fp, "wb") as f:
                f.write(b"\x89PNG partial")
            raise KeyboardInterrupt
        return real(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    with pytest.raises(KeyboardInterrupt):
        write_layer_pngs(tmp_path / "page", house)
    # the files written before it are whole; regions.png and the JSON are not there
    assert sorted(p.name for p in (tmp_path / "page").iterdir()) == \
        ["background_mask.png", "flats.png", "lines.png"]
    assert np.array_equal(np.asarray(png(tmp_path / "page" / "flats.png")), house.flats)


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    Pipeline.random(FastcolorConfig.tiny(), seed=0).save_pretrained(path)
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_psd_and_ora_equal_the_png(capsys, tmp_path, weights):
    """-o page.psd / page.ora: the flattened files equal what -o page.png writes."""
    for name in ("page.png", "page.psd", "page.ora"):
        code, _, err = run(capsys, "colorize", HOUSE, "-o", tmp_path / name,
                           "--weights", weights, "--seed", 5)
        assert code == 0, err
    flat = np.asarray(png(tmp_path / "page.png"))
    psd = PSDImage.open(tmp_path / "page.psd")
    assert [layer.name for layer in psd] == ["background", "flats", "lines"]
    assert np.array_equal(np.asarray(psd.topil()), flat)
    assert np.array_equal(u8(composite(psd)[0]), flat)
    with zipfile.ZipFile(tmp_path / "page.ora") as z, z.open("mergedimage.png") as f:
        assert np.array_equal(np.asarray(png(f)), flat)


def test_cli_layers_and_format(capsys, tmp_path, weights):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(drawing()).save(a)
    Image.fromarray(drawing(40, 40)).save(b)
    code, out, err = run(capsys, "colorize", a, b, "-o", tmp_path / "out", "--format", "psd",
                         "--layers", tmp_path / "layers", "--weights", weights)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.psd", "b.psd"]
    for stem in ("a", "b"):
        folder = tmp_path / "layers" / stem
        assert sorted(p.name for p in folder.iterdir()) == sorted(LAYER_FILES)
        merged = np.asarray(PSDImage.open(tmp_path / "out" / f"{stem}.psd").topil())
        flats = np.asarray(png(folder / "flats.png")).astype(np.uint16)
        alpha = np.asarray(png(folder / "lines.png"))[..., 3].astype(np.uint16)
        assert np.array_equal(merged, (flats * (255 - alpha[..., None]) + 127) // 255)
    # the default for a folder stays PNG; --format ora
    code, _, err = run(capsys, "colorize", a, b, "-o", f"{tmp_path / 'png'}/", "--weights",
                       weights)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["a.png", "b.png"]
    code, _, err = run(capsys, "colorize", a, "-o", f"{tmp_path / 'ora'}/", "--format", "ora",
                       "--weights", weights)
    assert code == 0, err
    assert zipfile.is_zipfile(tmp_path / "ora" / "a.ora")
    # an existing layer folder: refused, then skipped, then replaced
    code, _, err = run(capsys, "colorize", a, "-o", tmp_path / "x.png",
                       "--layers", tmp_path / "layers", "--weights", weights)
    assert code == 2 and "already exists" in err and "lines.png" in err
    assert not (tmp_path / "x.png").exists()
    code, out, err = run(capsys, "colorize", a, "-o", tmp_path / "x.png", "--layers",
                         tmp_path / "layers", "--weights", weights, "--skip-existing")
    assert code == 0 and (tmp_path / "x.png").exists() and out.count("wrote") == 1


def test_cli_refusals_before_compute(capsys, tmp_path, weights):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    Image.fromarray(drawing()).save(one / "p.png")
    Image.fromarray(drawing()).save(two / "p.png")
    cases = [
        # two inputs with one stem: their layer folders clash
        (["colorize", one / "p.png", two / "p.png", "-o", tmp_path / "out/", "--layers",
          tmp_path / "layers", "--format", "ora"], "would both be written"),
        (["colorize", one / "p.png", "-o", tmp_path / "p.psd", "--no-flats"], "needs flats"),
        (["colorize", one / "p.png", "-o", tmp_path / "p.png", "--layers", tmp_path / "l",
          "--no-flats"], "needs flats"),
        (["colorize", one / "p.png", "-o", tmp_path / "p.png", "--format", "psd"],
         "--format"),
        (["colorize", one / "p.png", "-o", tmp_path / "p.tif"], ".psd or .ora"),
    ]
    for argv, needle in cases:
        code, _, err = run(capsys, *argv, "--weights", weights)
        assert code == 2 and needle in err, (argv, err)
    # nothing written (the output folders may have been created by the checks)
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == \
        [one / "p.png", two / "p.png"]


def test_cli_samples_get_their_own_layer_folders(capsys, tmp_path, weights):
    code, _, err = run(capsys, "colorize", HOUSE, "-o", tmp_path / "h.ora", "--samples", 2,
                       "--layers", tmp_path / "layers", "--weights", weights)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h_0.ora", "h_1.ora", "layers"]
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == \
        ["panel_house_0", "panel_house_1"]
    for k in (0, 1):
        with zipfile.ZipFile(tmp_path / f"h_{k}.ora") as z, z.open("data/flats.png") as f:
            flats = np.asarray(png(f))[..., :3]
        assert np.array_equal(flats, np.asarray(png(tmp_path / "layers" /
                                                    f"panel_house_{k}" / "flats.png")))
