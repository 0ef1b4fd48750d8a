"""Tests of the ``fastcolor`` command line (``fastcolor.cli.main`` in process, plus one
subprocess run of ``python -m fastcolor --help``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fastcolor import FastcolorConfig, Pipeline
from fastcolor.cli import main
from fastcolor.outline import extract

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HOUSE = EXAMPLES / "panel_house.png"
FACES = EXAMPLES / "panel_faces.png"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    Pipeline.random(FastcolorConfig.tiny(), seed=0).save_pretrained(path)
    return path


def small_drawing(h: int = 40, w: int = 56) -> np.ndarray:
    img = np.full((h, w), 255, np.uint8)
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), 0, 1)
    cv2.circle(img, (w // 2, h // 2), min(h, w) // 4, 0, 1)
    return img


def colored_page() -> np.ndarray:
    img = np.full((50, 70, 3), (170, 200, 230), np.uint8)
    img[10:40, 10:35] = (200, 100, 100)
    img[10:40, 35:60] = (100, 150, 104)
    cv2.rectangle(img, (8, 8), (61, 41), (0, 0, 0), 2)
    return img


def png(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


def read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.array(im)


def run_ok(capsys, argv) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def run_error(capsys, argv, needle: str | None = None) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("fastcolor: error:"), err
    assert "Traceback" not in err and "Traceback" not in out
    if needle is not None:
        assert needle in err, err
    return err


# ---------------------------------------------------------------------------
# outline
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["house", "colored"])
def test_outline_command(capsys, tmp_path, source):
    src = HOUSE if source == "house" else png(tmp_path / "page.png", colored_page())
    dst = tmp_path / "out" / "outline.png"
    out = run_ok(capsys, ["outline", src, "-o", dst])
    assert str(dst) in out
    with Image.open(dst) as im:
        assert im.mode == "L"
        arr = np.array(im)
    assert arr.dtype == np.uint8 and arr.ndim == 2
    np.testing.assert_array_equal(arr, extract(src))


def test_outline_errors(capsys, tmp_path):
    run_error(capsys, ["outline", tmp_path / "missing.png", "-o", tmp_path / "o.png"],
              "does not exist")
    run_error(capsys, ["outline", HOUSE, "-o", tmp_path / "o.unknownext"], "extension")


# ---------------------------------------------------------------------------
# colorize
# ---------------------------------------------------------------------------


def test_colorize_one_file(capsys, tmp_path, weights):
    dst = tmp_path / "house_color.png"
    out = run_ok(capsys, ["colorize", HOUSE, "-o", dst, "--weights", weights, "--seed", 3])
    assert str(dst) in out
    img = read(dst)
    w, h = Image.open(HOUSE).size
    assert img.shape == (h, w, 3) and img.dtype == np.uint8
    # it is what the Pipeline gives for the same seed
    expect = Pipeline.from_pretrained(weights)(str(HOUSE), seed=3).image
    np.testing.assert_array_equal(img, expect)


def test_colorize_jpeg_output(capsys, tmp_path, weights):
    dst = tmp_path / "out.jpg"
    run_ok(capsys, ["colorize", FACES, "-o", dst, "--weights", weights])
    with Image.open(dst) as im:
        assert im.format == "JPEG" and im.size == Image.open(FACES).size


def test_colorize_several_inputs_to_folder(capsys, tmp_path, weights):
    a = png(tmp_path / "a.png", small_drawing(40, 56))
    b = png(tmp_path / "b.png", colored_page())
    outdir = tmp_path / "out"
    run_ok(capsys, ["colorize", a, b, "-o", outdir, "--weights", weights, "--seed", 7])
    assert sorted(p.name for p in outdir.iterdir()) == ["a.png", "b.png"]
    assert read(outdir / "a.png").shape == (40, 56, 3)
    assert read(outdir / "b.png").shape == (50, 70, 3)
    # input i uses seed + i
    pipe = Pipeline.from_pretrained(weights)
    np.testing.assert_array_equal(read(outdir / "b.png"), pipe(str(b), seed=8).image)


def test_colorize_folder(capsys, tmp_path, weights):
    src = tmp_path / "pages"
    src.mkdir()
    png(src / "one.png", small_drawing(30, 30))
    png(src / "two.png", small_drawing(20, 44))
    (src / "notes.txt").write_text("not an image")
    outdir = tmp_path / "colored"
    run_ok(capsys, ["colorize", src, "-o", outdir, "--weights", weights])
    assert sorted(p.name for p in outdir.iterdir()) == ["one.png", "two.png"]
    assert read(outdir / "two.png").shape == (20, 44, 3)


def test_colorize_samples(capsys, tmp_path, weights):
    src = png(tmp_path / "page.png", small_drawing())
    outdir = tmp_path / "variants"
    run_ok(capsys, ["colorize", src, "-o", outdir, "--weights", weights, "--samples", 2])
    assert sorted(p.name for p in outdir.iterdir()) == ["page_0.png", "page_1.png"]
    for name in ("page_0.png", "page_1.png"):
        assert read(outdir / name).shape == (40, 56, 3)


def test_colorize_options(capsys, tmp_path, weights):
    src = png(tmp_path / "page.png", small_drawing())
    hints = np.zeros((40, 56, 4), np.uint8)                 # a stroke layer of the page's size
    hints[18:22, 10:14] = (0, 0, 255, 255)
    hint_path = png(tmp_path / "hint_input.png", hints)
    runs = {
        "bg": ["--background", "255,0,0"],
        "bghex": ["--background", "#00ff00"],
        "nodetect": ["--no-detect-background"],
        "seed": ["--seed", "42"],
        "t0": ["--temperature", "0"],
        "hints": ["--hints", hint_path],
        "backend": ["--backend", "reference"],
        "soft": ["--no-flats"],
        "gaps": ["--gap", "0", "--min-area", "0"],
    }
    for name, extra in runs.items():
        dst = tmp_path / f"{name}.png"
        run_ok(capsys, ["colorize", src, "-o", dst, "--weights", weights, *extra])
        assert read(dst).shape == (40, 56, 3), name

    # --background really paints the detected background
    pipe = Pipeline.from_pretrained(weights)
    r = pipe(str(src), seed=0, background=(255, 0, 0))
    np.testing.assert_array_equal(read(tmp_path / "bg.png"), r.image)
    if r.background_color is not None:
        assert (r.image[r.background_mask & (r.outline == 255)] == (255, 0, 0)).all()
    # --no-detect-background and --hints match the Pipeline
    np.testing.assert_array_equal(read(tmp_path / "nodetect.png"),
                                  pipe(str(src), seed=0, detect_background=False).image)
    np.testing.assert_array_equal(read(tmp_path / "hints.png"),
                                  pipe(str(src), seed=0, hints=hint_path).image)
    assert (read(tmp_path / "hints.png")[20, 12] == (0, 0, 255)).all()
    # --no-flats, --gap and --min-area match the Pipeline
    np.testing.assert_array_equal(read(tmp_path / "soft.png"),
                                  pipe(str(src), seed=0, flats=False).image)
    np.testing.assert_array_equal(read(tmp_path / "gaps.png"),
                                  pipe(str(src), seed=0, gap=0, min_area=0).image)
    # --temperature 0 does not depend on the seed
    run_ok(capsys, ["colorize", src, "-o", tmp_path / "t0b.png", "--weights", weights,
                    "--temperature", "0", "--seed", "99"])
    np.testing.assert_array_equal(read(tmp_path / "t0.png"), read(tmp_path / "t0b.png"))


# ---------------------------------------------------------------------------
# colorize errors: exit code 2, one line on stderr, no traceback
# ---------------------------------------------------------------------------


def test_error_missing_input(capsys, tmp_path, weights):
    run_error(capsys, ["colorize", tmp_path / "nope.png", "-o", tmp_path / "o.png",
                       "--weights", weights], "does not exist")


def test_error_corrupt_input(capsys, tmp_path, weights):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    run_error(capsys, ["colorize", bad, "-o", tmp_path / "o.png", "--weights", weights])
    assert not (tmp_path / "o.png").exists()


def test_error_missing_weights(capsys, tmp_path):
    run_error(capsys, ["colorize", HOUSE, "-o", tmp_path / "o.png",
                       "--weights", tmp_path / "none.safetensors"], "none.safetensors")


def test_error_corrupt_weights(capsys, tmp_path, weights):
    bad = tmp_path / "bad.safetensors"
    data = bytearray(weights.read_bytes())
    data[-2] ^= 0x10
    bad.write_bytes(bytes(data))
    run_error(capsys, ["colorize", HOUSE, "-o", tmp_path / "o.png", "--weights", bad],
              "corrupt")


def test_error_no_default_weights(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("fastcolor.pipeline.DEFAULT_WEIGHTS", tmp_path / "default.safetensors")
    run_error(capsys, ["colorize", HOUSE, "-o", tmp_path / "o.png"], "--weights")
    run_error(capsys, ["info"], "weights")


@pytest.mark.parametrize("backend, needle", [("tensorrt", "tensorrt"), ("nonsense", "unknown")])
def test_error_backend(capsys, tmp_path, weights, backend, needle):
    from fastcolor.backends import BACKEND_NAMES, backend_unavailable_reason
    import torch
    if backend in BACKEND_NAMES and backend_unavailable_reason(backend, torch.device("cpu")) is None:
        pytest.skip(f"backend {backend} is available in this build")
    run_error(capsys, ["colorize", HOUSE, "-o", tmp_path / "o.png", "--weights", weights,
                       "--backend", backend], needle)


@pytest.mark.parametrize("extra", [
    ["--background", "nonsense"],
    ["--background", "256,0,0"],
    ["--samples", "0"],
    ["--seed", "-1"],
    ["--seed", str(2 ** 64)],
    ["--temperature", "-1"],
    ["--temperature", "nan"],
    ["--consensus", "0"],
    ["--consensus", "65"],
    ["--prior-saturation", "-1"],
    ["--prior-saturation", "nan"],
    ["--prior-saturation", "4.5"],
    ["--figure-colors", "prior"],             # the tiny weights have no color prior
], ids=lambda e: " ".join(e))
def test_error_bad_option_values(capsys, tmp_path, weights, extra):
    run_error(capsys, ["colorize", HOUSE, "-o", tmp_path / "o.png", "--weights", weights,
                       *extra])


def test_error_hints_not_rgba(capsys, tmp_path, weights):
    hints = png(tmp_path / "hints.png", np.zeros((8, 8, 3), np.uint8))
    run_error(capsys, ["colorize", HOUSE, "-o", tmp_path / "o.png", "--weights", weights,
                       "--hints", hints], "RGBA")


def test_error_empty_folder(capsys, tmp_path, weights):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    run_error(capsys, ["colorize", empty, "-o", tmp_path / "out", "--weights", weights],
              "holds no images")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["colorize", str(HOUSE)])           # no -o
    assert info.value.code == 2
    capsys.readouterr()


# ---------------------------------------------------------------------------
# info and --help
# ---------------------------------------------------------------------------


def test_info(capsys, weights):
    out = run_ok(capsys, ["info", "--weights", weights])
    digest = Pipeline.from_pretrained(weights).weights_sha256
    assert digest in out
    for stage in ("low-res conditioning", "low-res adaptation", "low-res PixelCNN",
                  "background detector", "polishing net", "total"):
        assert stage in out
    for backend in ("reference", "cpp", "triton", "onnxruntime", "tensorrt"):
        assert f"backend {backend}" in out
    assert "backend reference    available" in out
    assert '"lowres_size": 8' in out


def test_help_subprocess():
    exe = shutil.which("fastcolor")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "fastcolor", "--help"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for word in ("outline", "colorize", "info"):
        assert word in proc.stdout
