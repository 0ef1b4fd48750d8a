"""Tests of fastcolor.pipeline: Pipeline inputs, outputs, seeds, background, hints, errors.

Every test runs a tiny untrained model (``FastcolorConfig.tiny()``: 32 x 32 working size,
8 x 8 low-res), so the colors mean nothing; the tests check the contracts: shapes and
dtypes, ink on top, exact background and hint colors, seeding, and clear errors.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from fastcolor import FastcolorConfig, Pipeline
from fastcolor.errors import (BackendUnavailableError, FastcolorError, ImageTooLargeError,
                              InvalidImageError, InvalidInputError)
from fastcolor.imageio import MAX_IMAGE_PIXELS
from fastcolor.outline import extract
from fastcolor.pipeline import ColorizeResult, Hints, parse_color

from conftest import pipe_with_detector_bias

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HOUSE = EXAMPLES / "panel_house.png"
FACES = EXAMPLES / "panel_faces.png"


# ---------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.random(FastcolorConfig.tiny(), seed=0)


@pytest.fixture(scope="module")
def all_background_pipe() -> Pipeline:
    return pipe_with_detector_bias(20.0)


@pytest.fixture(scope="module")
def no_background_pipe() -> Pipeline:
    return pipe_with_detector_bias(-20.0)


def line_drawing(h: int = 60, w: int = 80) -> np.ndarray:
    """A clean gray uint8 line drawing: anti-aliased black lines on white."""
    img = np.full((h, w), 255, dtype=np.uint8)
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), 0, 2, cv2.LINE_AA)
    cv2.line(img, (5, h - 5), (w - 5, 5), 0, 1, cv2.LINE_AA)
    cv2.circle(img, (w // 3, h // 2), min(h, w) // 5, 0, 2, cv2.LINE_AA)
    return img


def colored_page(h: int = 70, w: int = 90) -> np.ndarray:
    """A flat-colored RGB page (not line art: its outline gets extracted)."""
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = (170, 200, 230)
    img[10:50, 10:45] = (200, 100, 100)
    img[15:60, 50:80] = (100, 150, 104)
    cv2.rectangle(img, (8, 8), (82, 62), (0, 0, 0), 2)
    return img


def check_result(r, h: int, w: int, s: int) -> None:
    assert isinstance(r, ColorizeResult)
    assert r.image.dtype == np.uint8 and r.image.shape == (h, w, 3)
    assert r.lowres.dtype == np.uint8 and r.lowres.shape == (s, s, 3)
    assert r.background_mask.dtype == np.bool_ and r.background_mask.shape == (h, w)
    assert r.outline.dtype == np.uint8 and r.outline.shape == (h, w)
    assert r.background_color is None or (
        len(r.background_color) == 3 and all(isinstance(v, int) and 0 <= v <= 255
                                             for v in r.background_color))
    assert isinstance(r.seed, int)


def check_ink_black(r) -> None:
    ink = r.outline == 0
    assert ink.any(), "the test input should have some ink"
    assert (r.image[ink] == 0).all()


def check_background_painted(r, rgb) -> None:
    """Every detected-background pixel that is not ink (outline paper, 255) has ``rgb``."""
    paper_bg = r.background_mask & (r.outline == 255)
    assert paper_bg.any(), "the test needs some non-ink background pixels"
    assert (r.image[paper_bg] == np.asarray(rgb, np.uint8)).all()


# ---------------------------------------------------------------------------
# inputs -> shapes and dtypes
# ---------------------------------------------------------------------------


def _inputs():
    gray = line_drawing(60, 80)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgba = np.dstack([rgb, np.full(gray.shape, 255, np.uint8)])
    return {
        "path_str": (str(HOUSE), None),
        "path_obj": (FACES, None),
        "pil": (Image.fromarray(gray), gray.shape),
        "gray_u8": (gray, gray.shape),
        "rgb_u8": (rgb, gray.shape),
        "rgba_u8": (rgba, gray.shape),
        "gray_u16": (gray.astype(np.uint16) * 257, gray.shape),
        "gray_f32": (gray.astype(np.float32) / 255, gray.shape),
        "colored_rgb": (colored_page(), (70, 90)),
        "tensor_hw": (torch.from_numpy(1 - gray.astype(np.float32) / 255), gray.shape),
        "tensor_1hw": (torch.from_numpy(1 - gray.astype(np.float32) / 255)[None], gray.shape),
        "odd_100x77": (line_drawing(100, 77), (100, 77)),
        "wide_31x200": (line_drawing(31, 200), (31, 200)),
        "tiny_3x5": (np.full((3, 5), 255, np.uint8), (3, 5)),
        "one_pixel": (np.zeros((1, 1), np.uint8), (1, 1)),
    }


@pytest.mark.parametrize("name", list(_inputs()))
def test_input_kinds_give_right_shapes_and_dtypes(pipe, name):
    src, shape = _inputs()[name]
    if shape is None:
        w, h = Image.open(src).size
        shape = (h, w)
    # Tiny images (3 x 5, 1 x 1) are supported: they are resized to the working size
    # like any other, so they must color without any error.
    r = pipe(src, seed=3)
    check_result(r, *shape, pipe.config.lowres_size)
    assert r.seed == 3


def test_tensor_outline_is_used_as_is(pipe):
    """A tensor is an outline with 1 = ink: result.outline is its 8-bit paper view."""
    ink = torch.zeros(20, 30)
    ink[:, 7] = 0.5
    ink[5, :] = 1.0
    r = pipe(ink, seed=0)
    expect = np.clip(np.rint((1 - ink.numpy()) * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(r.outline, expect)
    assert (r.image[5] == 0).all()
    # (H, W) and (1, H, W) are the same input
    np.testing.assert_array_equal(pipe(ink[None], seed=0).image, r.image)


def test_line_drawing_outline_is_the_drawing(pipe):
    gray = line_drawing()
    r = pipe(gray, seed=1)
    np.testing.assert_array_equal(r.outline, gray)
    np.testing.assert_array_equal(pipe(Image.fromarray(gray), seed=1).image, r.image)


def test_colored_page_outline_is_extracted(pipe):
    page = colored_page()
    r = pipe(page, seed=1)
    np.testing.assert_array_equal(r.outline, extract(page))
    assert set(np.unique(r.outline)) <= {0, 255}


def test_float64_pipeline():
    p64 = Pipeline.random(FastcolorConfig.tiny(), seed=0, dtype=torch.float64)
    assert p64.dtype == torch.float64
    assert all(t.dtype == torch.float64 for t in p64.model.state_dict().values())
    r = p64(line_drawing(45, 61), seed=2)
    check_result(r, 45, 61, p64.config.lowres_size)
    check_ink_black(r)
    r_t = p64(torch.zeros(9, 13, dtype=torch.float64), seed=2)
    check_result(r_t, 9, 13, p64.config.lowres_size)


# ---------------------------------------------------------------------------
# ink on top
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("detect", [True, False])
@pytest.mark.parametrize("kind", ["house", "line_drawing", "colored_page"])
def test_ink_pixels_are_black(pipe, kind, detect):
    src = {"house": HOUSE, "line_drawing": line_drawing(), "colored_page": colored_page()}[kind]
    r = pipe(src, seed=4, detect_background=detect)
    check_ink_black(r)


def test_ink_pixels_are_black_with_background_color(all_background_pipe):
    r = all_background_pipe(line_drawing(), seed=0, background=(10, 200, 30))
    check_ink_black(r)


# ---------------------------------------------------------------------------
# samples, lists, seeds
# ---------------------------------------------------------------------------


def test_samples_returns_list(pipe):
    out = pipe(line_drawing(), seed=1, samples=3)
    assert isinstance(out, list) and len(out) == 3
    for r in out:
        check_result(r, 60, 80, pipe.config.lowres_size)
        assert r.seed == 1
    assert [r.extras["sample_index"] for r in out] == [0, 1, 2]
    # the samples draw different noise
    assert not np.array_equal(out[0].lowres, out[1].lowres)


def test_list_of_images_returns_list(pipe):
    out = pipe([line_drawing(), colored_page(), HOUSE], seed=1)
    assert isinstance(out, list) and len(out) == 3
    check_result(out[0], 60, 80, pipe.config.lowres_size)
    check_result(out[1], 70, 90, pipe.config.lowres_size)
    check_result(out[2], 288, 384, pipe.config.lowres_size)
    assert [r.seed for r in out] == [1, 2, 3]
    assert isinstance(pipe((line_drawing(),), seed=1), list)


def test_list_with_samples_returns_list_of_lists(pipe):
    out = pipe([line_drawing(), colored_page()], seed=1, samples=2)
    assert isinstance(out, list) and len(out) == 2
    for inner, shape in zip(out, [(60, 80), (70, 90)]):
        assert isinstance(inner, list) and len(inner) == 2
        for r in inner:
            check_result(r, *shape, pipe.config.lowres_size)


def test_same_seed_same_result(pipe):
    a = pipe(HOUSE, seed=11)
    b = pipe(HOUSE, seed=11)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.lowres, b.lowres)
    np.testing.assert_array_equal(a.background_mask, b.background_mask)
    assert a.background_color == b.background_color


def test_different_seed_different_lowres(pipe):
    # Deterministic: a fixed random model and fixed seeds.
    a = pipe(HOUSE, seed=0)
    b = pipe(HOUSE, seed=1)
    assert not np.array_equal(a.lowres, b.lowres)


def test_no_seed_draws_and_records_one(pipe):
    r = pipe(line_drawing())
    assert isinstance(r.seed, int) and r.seed >= 0
    np.testing.assert_array_equal(pipe(line_drawing(), seed=r.seed).image, r.image)


def test_list_seed_contract(pipe):
    """Contract: in a list, image ``i`` draws its noise from ``seed + i``, so the result
    of an image does not depend on whether it was colored alone or in a list."""
    a, b = line_drawing(), colored_page()
    both = pipe([a, b], seed=5)
    alone_b = pipe(b, seed=6)
    alone_a = pipe(a, seed=5)
    np.testing.assert_array_equal(both[1].image, alone_b.image)
    np.testing.assert_array_equal(both[1].lowres, alone_b.lowres)
    np.testing.assert_array_equal(both[0].image, alone_a.image)


def test_samples_are_repeatable(pipe):
    x = pipe(HOUSE, seed=8, samples=2)
    y = pipe(HOUSE, seed=8, samples=2)
    for rx, ry in zip(x, y):
        np.testing.assert_array_equal(rx.image, ry.image)


def test_temperature_zero_is_deterministic(pipe):
    a = pipe(FACES, seed=0, temperature=0)
    b = pipe(FACES, seed=12345, temperature=0.0)
    np.testing.assert_array_equal(a.lowres, b.lowres)
    np.testing.assert_array_equal(a.image, b.image)


# ---------------------------------------------------------------------------
# background
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("color", [(255, 0, 0), "#10a0F0", "12,34,56", [0, 128, 255]])
def test_background_color_is_painted_exactly(all_background_pipe, color):
    rgb = parse_color(color)
    r = all_background_pipe(HOUSE, seed=1, background=color)
    assert r.background_mask.all()
    assert r.background_color == rgb
    check_background_painted(r, rgb)
    check_ink_black(r)


def test_background_color_on_random_detector(pipe):
    """An untrained detector: part of the page is background (checked), and exactly that
    part, off the ink, gets the requested color."""
    r = pipe(HOUSE, seed=1, background=(1, 2, 3))
    assert r.background_mask.any() and not r.background_mask.all()
    assert r.background_color == (1, 2, 3)
    check_background_painted(r, (1, 2, 3))
    # and pixels outside the mask are not forced to it (the polisher colors them)
    outside = ~r.background_mask & (r.outline == 255)
    assert outside.any()


def test_default_background_is_one_flat_color(pipe, all_background_pipe):
    for p in (pipe, all_background_pipe):
        r = p(HOUSE, seed=2)
        assert r.background_mask.any()
        assert r.background_color is not None
        check_background_painted(r, r.background_color)


def test_default_background_is_mean_lowres_color(all_background_pipe):
    """Everything is background: its color is the mean of the (bilinearly upsampled)
    low-res sample over the page's part of the square (not the letterbox padding),
    rounded to 8 bits."""
    from fastcolor.pipeline import letterbox
    r = all_background_pipe(line_drawing(), seed=3)
    size = all_background_pipe.config.image_size
    low = torch.from_numpy(r.lowres).permute(2, 0, 1)[None].double() / 127.5 - 1
    up = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear",
                                         align_corners=False)
    _, (top, left, h, w) = letterbox(np.zeros(line_drawing().shape, np.float32), size)
    assert (h, w) != (size, size)                   # the 60 x 80 page is letterboxed
    expect = ((up[..., top:top + h, left:left + w].mean(dim=(0, 2, 3)) + 1) * 127.5).numpy()
    assert np.abs(np.asarray(r.background_color) - expect).max() <= 0.5 + 1e-4


def test_no_background_detected(no_background_pipe):
    r = no_background_pipe(HOUSE, seed=1, background=(255, 0, 0))
    assert not r.background_mask.any()
    assert r.background_color is None
    check_ink_black(r)


def test_threshold(all_background_pipe, pipe):
    # prob ~ 1 - 2e-9 everywhere: still background at threshold 0.999
    assert all_background_pipe(HOUSE, seed=1, threshold=0.999).background_mask.all()
    lo = pipe(HOUSE, seed=1, threshold=0.01).background_mask
    mid = pipe(HOUSE, seed=1, threshold=0.5).background_mask
    assert lo.sum() >= mid.sum()


@pytest.mark.parametrize("background", [None, (0, 255, 0)])
def test_detect_background_false(all_background_pipe, background):
    r = all_background_pipe(HOUSE, seed=1, detect_background=False, background=background)
    assert r.background_mask.dtype == np.bool_ and not r.background_mask.any()
    assert r.background_color is None
    check_result(r, 288, 384, 8)
    check_ink_black(r)


# ---------------------------------------------------------------------------
# hints
# ---------------------------------------------------------------------------


def _random_hint_colors(s: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (s, s, 3), dtype=np.uint8)


def test_full_hints_fix_lowres(pipe):
    s = pipe.config.lowres_size
    colors = _random_hint_colors(s)
    hints = Hints(colors, np.ones((s, s), bool))
    for seed in (0, 1):
        r = pipe(HOUSE, seed=seed, hints=hints)
        np.testing.assert_array_equal(r.lowres, colors)
    out = pipe(HOUSE, seed=0, hints=hints, samples=2)
    for r in out:
        np.testing.assert_array_equal(r.lowres, colors)


def test_partial_hints(pipe):
    s = pipe.config.lowres_size
    colors = _random_hint_colors(s, seed=1)
    mask = np.zeros((s, s), bool)
    mask[0, :] = True
    mask[3, 2] = True
    mask[s - 1, s - 1] = True
    r = pipe(FACES, seed=0, hints=Hints(colors, mask))
    np.testing.assert_array_equal(r.lowres[mask], colors[mask])
    free = pipe(FACES, seed=0)
    assert not np.array_equal(free.lowres[mask], colors[mask])


def test_hints_non_contiguous_arrays(pipe):
    s = pipe.config.lowres_size
    colors = _random_hint_colors(s, seed=2)
    flipped = colors[::-1]                        # negative strides
    mask = np.ones((s, s), bool)[:, ::-1]
    r = pipe(line_drawing(), seed=0, hints=Hints(flipped, mask))
    np.testing.assert_array_equal(r.lowres, flipped)


def test_hints_from_rgba_image(pipe, tmp_path):
    s = pipe.config.lowres_size
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[:, :32] = (200, 30, 90, 255)             # left half opaque: hints
    rgba[:, 32:] = (0, 255, 0, 0)                 # right half transparent: free
    hints = Hints.from_image(rgba, s)
    assert hints.colors.dtype == np.uint8 and hints.colors.shape == (s, s, 3)
    assert hints.mask.dtype == np.bool_ and hints.mask.shape == (s, s)
    assert hints.mask[:, : s // 2].all() and not hints.mask[:, s // 2:].any()
    assert (hints.colors[:, : s // 2] == (200, 30, 90)).all()
    r = pipe(HOUSE, seed=0, hints=hints)
    assert (r.lowres[:, : s // 2] == (200, 30, 90)).all()


def test_hint_strokes_as_array_pil_or_path(pipe, tmp_path):
    """A page-sized RGBA stroke layer: the array, a PIL image or a path give one result."""
    strokes = np.zeros((288, 384, 4), np.uint8)
    strokes[150:160, 40:60] = (200, 30, 90, 255)
    r = pipe(HOUSE, seed=0, hints=strokes)
    path = tmp_path / "hints.png"
    Image.fromarray(strokes, "RGBA").save(path)
    for h in (Image.fromarray(strokes, "RGBA"), path, str(path)):
        np.testing.assert_array_equal(pipe(HOUSE, seed=0, hints=h).image, r.image)


def test_hint_image_of_another_shape_is_refused(pipe):
    with pytest.raises(InvalidInputError, match="page's size"):
        pipe(HOUSE, seed=0, hints=np.zeros((64, 64, 4), np.uint8))


def test_hints_from_image_needs_rgba(pipe):
    with pytest.raises(InvalidInputError, match="RGBA"):
        Hints.from_image(np.zeros((16, 16, 3), np.uint8), 8)
    with pytest.raises(InvalidInputError, match="RGBA"):
        pipe(HOUSE, seed=0, hints=np.zeros((16, 16), np.uint8))


@pytest.mark.parametrize("colors, mask", [
    (np.zeros((8, 8, 3), np.float32), np.ones((8, 8), bool)),       # colors dtype
    (np.zeros((8, 8, 3), np.int64), np.ones((8, 8), bool)),
    (np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), bool)),         # wrong size
    (np.zeros((8, 8), np.uint8), np.ones((8, 8), bool)),            # no channels
    (np.zeros((8, 8, 4), np.uint8), np.ones((8, 8), bool)),
    (np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), np.uint8)),     # mask dtype
    (np.zeros((8, 8, 3), np.uint8), np.ones((8, 7), bool)),         # mask shape
    (np.zeros((8, 8, 3), np.uint8), np.ones((8, 8, 1), bool)),
])
def test_bad_hints_raise(pipe, colors, mask):
    with pytest.raises(InvalidInputError):
        pipe(HOUSE, seed=0, hints=Hints(colors, mask))


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


def test_corrupt_file(pipe, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(InvalidImageError):
        pipe(bad, seed=0)


def test_truncated_png(pipe, tmp_path):
    good = HOUSE.read_bytes()
    bad = tmp_path / "truncated.png"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(InvalidImageError):
        pipe(str(bad), seed=0)


def test_empty_file(pipe, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InvalidImageError, match="empty"):
        pipe(empty, seed=0)


def test_missing_path(pipe, tmp_path):
    with pytest.raises(InvalidImageError, match="does not exist"):
        pipe(tmp_path / "nope.png", seed=0)
    with pytest.raises(InvalidImageError):
        pipe(str(tmp_path), seed=0)               # a directory


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (0, 4, 3)])
def test_zero_pixel_array(pipe, shape):
    with pytest.raises(InvalidImageError):
        pipe(np.zeros(shape, np.uint8), seed=0)


def test_too_large_image(pipe):
    side = int(np.sqrt(MAX_IMAGE_PIXELS)) + 1
    huge = np.broadcast_to(np.zeros((1, 1), np.uint8), (side, side))   # no memory
    with pytest.raises(ImageTooLargeError):
        pipe(huge, seed=0)
    huge_t = torch.zeros(1, 1).expand(side, side)                    # no memory either
    with pytest.raises(ImageTooLargeError):
        pipe(huge_t, seed=0)


@pytest.mark.parametrize("arr", [
    np.zeros((8, 8), np.int64),
    np.zeros((8, 8), np.int32),
    np.zeros((8, 8), bool),
    np.zeros((8, 8), np.complex64),
    np.zeros((8, 8, 5), np.uint8),
    np.zeros((2, 8, 8, 3), np.uint8),
], ids=["int64", "int32", "bool", "complex", "5ch", "4d"])
def test_bad_array_dtype_or_shape(pipe, arr):
    with pytest.raises(InvalidImageError):
        pipe(arr, seed=0)


@pytest.mark.parametrize("value", [1.5, -0.1, np.nan, np.inf])
def test_float_out_of_range(pipe, value):
    arr = np.full((8, 8), 0.5, np.float32)
    arr[3, 3] = value
    with pytest.raises(InvalidImageError):
        pipe(arr, seed=0)


@pytest.mark.parametrize("tensor", [
    torch.full((8, 8), 1.5),
    torch.full((8, 8), -0.5),
    torch.full((8, 8), float("nan")),
    torch.full((8, 8), float("inf")),
    torch.zeros(8, 8, dtype=torch.int64),
    torch.zeros(8, 8, dtype=torch.uint8),
    torch.zeros(8, dtype=torch.float32),
    torch.zeros(2, 8, 8),
    torch.zeros(1, 2, 8, 8),
    torch.zeros(8, 8, 3),
    torch.zeros(0, 8),
], ids=["gt1", "neg", "nan", "inf", "int64", "uint8", "1d", "2ch", "4d2ch", "hwc", "empty"])
def test_bad_tensor_input(pipe, tensor):
    with pytest.raises(InvalidInputError):
        pipe(tensor, seed=0)


@pytest.mark.parametrize("kwargs", [
    dict(samples=0), dict(samples=-1), dict(samples=1.5), dict(samples=True), dict(samples="2"),
    dict(seed=-1), dict(seed=1.5), dict(seed="1"), dict(seed=2 ** 64),
    dict(threshold=0), dict(threshold=1), dict(threshold=1.5), dict(threshold=float("nan")),
    dict(threshold="0.5"),
    dict(temperature=-1), dict(temperature=float("nan")), dict(temperature=float("inf")),
    dict(temperature="hot"), dict(temperature=None),
    dict(background=(300, 0, 0)), dict(background=(-1, 0, 0)), dict(background="red"),
    dict(background=(1, 2)), dict(background=(1, 2, 3, 4)), dict(background=(1.5, 2, 3)),
    dict(background="#12345"), dict(background="1,2,x"), dict(background=7),
    dict(extract_outline="maybe"), dict(extract_outline=None),
    dict(figure_colors="paint"), dict(figure_colors=None), dict(figure_colors="prior"),
    dict(prior_saturation=-0.1), dict(prior_saturation=4.5), dict(prior_saturation=float("nan")),
    dict(prior_saturation=True), dict(prior_saturation="2"),
], ids=lambda kw: "-".join(f"{k}={v!r}" for k, v in kw.items()))
def test_bad_arguments(pipe, kwargs):
    with pytest.raises(InvalidInputError):
        pipe(line_drawing(20, 20), **kwargs)


def test_seed_near_limit(pipe):
    # the largest seed whose noise a torch.Generator can draw
    r = pipe(line_drawing(20, 20), seed=2 ** 64 - 1)
    assert r.seed == 2 ** 64 - 1
    with pytest.raises(InvalidInputError):      # seed + 1 for the second image overflows
        pipe([line_drawing(20, 20)] * 2, seed=2 ** 64 - 1)


@pytest.mark.parametrize("empty", [[], ()])
def test_empty_list(pipe, empty):
    with pytest.raises(InvalidInputError):
        pipe(empty, seed=0)


def test_bad_item_in_list(pipe):
    with pytest.raises(InvalidImageError):
        pipe([line_drawing(), np.zeros((4, 4), np.int64)], seed=0)
    with pytest.raises(InvalidImageError):
        pipe([line_drawing(), object()], seed=0)


@pytest.mark.parametrize("value", ["auto", True, False])
def test_extract_outline_values(pipe, value):
    r = pipe(colored_page(), seed=0, extract_outline=value)
    check_result(r, 70, 90, 8)
    if value is False:  # taken as a line drawing: its gray, not 0/255 edges
        assert len(np.unique(r.outline)) > 2


def test_unknown_backend():
    for name in ("nonsense", "", "REFERENCE"):
        with pytest.raises(InvalidInputError, match="backend"):
            Pipeline.random(FastcolorConfig.tiny(), backend=name)
    with pytest.raises(InvalidInputError):
        Pipeline.random(FastcolorConfig.tiny(), backend=None)


@pytest.mark.parametrize("name, missing", [
    ("cpp", "fastcolor._C"), ("triton", "Triton"), ("onnxruntime", "ONNX"),
    ("tensorrt", "TensorRT"),
])
def test_unavailable_backend_names_what_is_missing(name, missing):
    from fastcolor.backends import backend_unavailable_reason
    if backend_unavailable_reason(name, torch.device("cpu")) is None:
        pytest.skip(f"backend {name} is available in this build")
    with pytest.raises(BackendUnavailableError) as info:
        Pipeline.random(FastcolorConfig.tiny(), backend=name)
    msg = str(info.value)
    assert name in msg and missing in msg
    assert isinstance(info.value, RuntimeError)


def test_reference_and_auto_backends():
    assert Pipeline.random(FastcolorConfig.tiny(), backend="reference").backend.name == "reference"
    assert Pipeline.random(FastcolorConfig.tiny(), backend="auto").backend.name


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32, "float32"])
def test_bad_dtype(dtype):
    with pytest.raises(InvalidInputError, match="dtype"):
        Pipeline.random(FastcolorConfig.tiny(), dtype=dtype)


def test_errors_are_fastcolor_errors():
    for cls in (InvalidInputError, InvalidImageError, ImageTooLargeError,
                BackendUnavailableError):
        assert issubclass(cls, FastcolorError)
    assert issubclass(InvalidImageError, InvalidInputError)
    assert issubclass(ImageTooLargeError, InvalidImageError)


# ---------------------------------------------------------------------------
# result helpers
# ---------------------------------------------------------------------------


def test_result_save_and_to_pil(pipe, tmp_path):
    r = pipe(line_drawing(), seed=0)
    pil = r.to_pil()
    assert pil.mode == "RGB" and pil.size == (80, 60)
    out = tmp_path / "sub" / "out.png"
    r.save(out)
    np.testing.assert_array_equal(np.array(Image.open(out)), r.image)


def test_repr(pipe):
    text = repr(pipe)
    assert f"backend={pipe.backend.name!r}" in text
    assert "image_size=32" in text and "lowres_size=8" in text


def test_batched_outline_tensor_is_a_list(pipe):
    """A (B, 1, H, W) outline tensor (docs/design.md's layout) is a batch of B outlines."""
    torch.manual_seed(0)
    batch = (torch.rand(3, 1, 20, 30) < 0.2).float()
    results = pipe(batch, seed=4)
    assert isinstance(results, list) and len(results) == 3
    for k, r in enumerate(results):
        assert r.image.shape == (20, 30, 3)
        assert np.array_equal(r.image, pipe(batch[k, 0], seed=4 + k).image)
