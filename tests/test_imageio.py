"""Tests of fastcolor.imageio: accepted inputs, conversions, errors, saving."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastcolor.errors import ImageTooLargeError, InvalidImageError, InvalidInputError
from fastcolor.imageio import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    load_image,
    save_image,
    to_gray01,
    to_rgb01,
    to_uint8,
)

RNG = np.random.default_rng(0)
GRAY8 = RNG.integers(0, 256, (12, 10), dtype=np.uint8)
RGB8 = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)
RGBA8 = RNG.integers(0, 256, (12, 10, 4), dtype=np.uint8)
GRAY16 = RNG.integers(0, 65536, (12, 10), dtype=np.uint16)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR (valid CRC) claims width x height, 1-bit gray, with bogus pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------
# accepted inputs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array", [GRAY8, RGB8, RGBA8, GRAY16], ids=["gray", "rgb", "rgba", "gray16"]
)
def test_png_path_roundtrip(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "img.png"
    Image.fromarray(array).save(path)
    for source in (path, str(path)):
        out = load_image(source)
        assert out.dtype == array.dtype
        np.testing.assert_array_equal(out, array)


def test_loaded_file_is_writable(tmp_path: Path) -> None:
    path = tmp_path / "img.png"
    Image.fromarray(RGB8).save(path)
    out = load_image(path)
    assert out.flags.writeable and out.flags.c_contiguous


def test_pil_modes_l_rgb_rgba() -> None:
    for array in (GRAY8, RGB8, RGBA8):
        out = load_image(Image.fromarray(array))
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, array)


def test_pil_mode_1() -> None:
    bits = GRAY8 > 128
    out = load_image(Image.fromarray(bits))
    assert Image.fromarray(bits).mode == "1"
    assert out.dtype == np.uint8 and out.shape == bits.shape
    np.testing.assert_array_equal(out, np.where(bits, 255, 0))


def test_pil_mode_i16() -> None:
    img = Image.fromarray(GRAY16)
    assert img.mode == "I;16"
    out = load_image(img)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, GRAY16)


def test_pil_mode_i16b() -> None:
    img = Image.frombytes("I;16B", (10, 12), GRAY16.astype(">u2").tobytes())
    out = load_image(img)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, GRAY16)


def test_pil_mode_i() -> None:
    out = load_image(Image.fromarray(GRAY16.astype(np.int32)))
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, GRAY16)
    with pytest.raises(InvalidImageError, match="65535"):
        load_image(Image.fromarray(np.full((4, 4), 70000, dtype=np.int32)))
    with pytest.raises(InvalidImageError, match="65535"):
        load_image(Image.fromarray(np.full((4, 4), -1, dtype=np.int32)))


def test_pil_mode_la() -> None:
    la = np.stack([GRAY8, RGBA8[:, :, 3]], axis=2)
    img = Image.merge("LA", [Image.fromarray(GRAY8), Image.fromarray(RGBA8[:, :, 3])])
    out = load_image(img)
    assert out.shape == (12, 10, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :, 0], la[:, :, 0])
    np.testing.assert_array_equal(out[:, :, 2], la[:, :, 0])
    np.testing.assert_array_equal(out[:, :, 3], la[:, :, 1])


def test_pil_mode_p() -> None:
    img = Image.fromarray(RGB8).convert("P")
    out = load_image(img)
    assert out.shape == (12, 10, 3)
    np.testing.assert_array_equal(out, np.array(img.convert("RGB")))

    img_t = img.copy()
    img_t.info["transparency"] = 0
    out_t = load_image(img_t)
    assert out_t.shape == (12, 10, 4)
    index = np.array(img_t)
    np.testing.assert_array_equal(out_t[:, :, 3] == 0, index == 0)


def test_pil_mode_f_and_cmyk() -> None:
    f = RNG.random((6, 5), dtype=np.float32)
    out = load_image(Image.fromarray(f))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, f)
    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"):
        load_image(Image.fromarray(f * 3))
    cmyk = Image.fromarray(RGB8).convert("CMYK")
    out = load_image(cmyk)
    assert out.shape == (12, 10, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("array", [GRAY8, RGB8, RGBA8, GRAY16, RGB8.astype(np.uint16) * 257])
def test_numpy_integer(array: np.ndarray) -> None:
    out = load_image(array)
    assert out.dtype == array.dtype
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("shape", [(12, 10), (12, 10, 3), (12, 10, 4)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_float(shape, dtype) -> None:
    array = RNG.random(shape).astype(dtype)
    array.flat[0], array.flat[1] = 0.0, 1.0
    out = load_image(array)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_array_equal(out, array.astype(np.float32))


def test_numpy_channel_squeeze_and_gray_alpha() -> None:
    out = load_image(GRAY8[:, :, None])
    assert out.shape == (12, 10)
    ga = np.stack([GRAY8, RGBA8[:, :, 3]], axis=2)
    out = load_image(ga)
    assert out.shape == (12, 10, 4)
    np.testing.assert_array_equal(out[:, :, :3], np.repeat(GRAY8[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(out[:, :, 3], ga[:, :, 1])


def test_numpy_big_endian_and_non_contiguous() -> None:
    out = load_image(GRAY16.astype(">u2"))
    assert out.dtype == np.dtype(np.uint16) and out.dtype.isnative
    np.testing.assert_array_equal(out, GRAY16)
    view = RGB8[:, ::-1]
    out = load_image(view)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, view)


def test_input_array_not_modified() -> None:
    array = RGBA8.copy()
    to_rgb01(array)
    to_gray01(array)
    np.testing.assert_array_equal(array, RGBA8)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.png"
    with pytest.raises(InvalidImageError, match="does not exist") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError, match="directory"):
        load_image(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InvalidImageError, match="empty"):
        load_image(path)


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.png"
    path.write_bytes(RNG.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(InvalidImageError) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(InvalidImageError):
        load_image(path)


def test_truncated_png(tmp_path: Path) -> None:
    full = tmp_path / "full.png"
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(full)
    data = full.read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageError) as info:
        load_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 5, 3), (5, 0, 4), (0, 0)])
def test_zero_pixels(shape) -> None:
    with pytest.raises(InvalidImageError, match="0 pixels"):
        load_image(np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_too_many_pixels_array_is_not_allocated(dtype) -> None:
    # 8193 x 8192 > MAX_IMAGE_PIXELS; a broadcast view: no memory behind it.
    huge = np.broadcast_to(np.zeros((), dtype=dtype), (8193, 8192, 3))
    assert huge.shape[0] * huge.shape[1] > MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLargeError):
        load_image(huge)
    with pytest.raises(ImageTooLargeError):
        to_rgb01(huge)


def test_too_long_side_array() -> None:
    long = np.broadcast_to(np.zeros((), dtype=np.uint8), (1, MAX_IMAGE_SIDE + 1))
    with pytest.raises(ImageTooLargeError, match=str(MAX_IMAGE_SIDE)):
        load_image(long)
    ok = np.broadcast_to(np.zeros((), dtype=np.uint8), (1, MAX_IMAGE_SIDE))
    assert load_image(ok).shape == (1, MAX_IMAGE_SIDE)


@pytest.mark.parametrize(
    "width,height",
    [(40000, 40000), (9000, 9000), (8200, 8200), (MAX_IMAGE_SIDE + 1, 1)],
)
def test_huge_png_header_rejected(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_with_header(width, height))
    with pytest.raises(ImageTooLargeError):
        load_image(path)


def test_huge_png_header_rejected_without_pil_bomb_check(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "huge.png"
    path.write_bytes(_png_with_header(40000, 40000))
    with pytest.raises(ImageTooLargeError):
        load_image(path)


def test_too_large_pil_image() -> None:
    img = Image.new("1", (MAX_IMAGE_SIDE + 1, 1))
    with pytest.raises(ImageTooLargeError):
        load_image(img)


@pytest.mark.parametrize("bad", [1.5, -0.25])
def test_float_out_of_range(bad) -> None:
    array = np.full((4, 4), 0.5, dtype=np.float32)
    array[1, 2] = bad
    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"):
        load_image(array)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float_not_finite(bad) -> None:
    array = np.full((4, 4, 3), 0.5, dtype=np.float64)
    array[0, 0, 1] = bad
    with pytest.raises(InvalidImageError, match="NaN"):
        load_image(array)


@pytest.mark.parametrize(
    "dtype", [np.bool_, np.int8, np.int32, np.int64, np.uint32, np.complex64, object]
)
def test_rejected_dtypes(dtype) -> None:
    array = np.zeros((4, 4), dtype=dtype)
    with pytest.raises(InvalidImageError, match="uint8, uint16") as info:
        load_image(array)
    assert str(np.dtype(dtype)) in str(info.value)


@pytest.mark.parametrize("shape", [(16,), (2, 4, 4, 3), (4, 4, 5), (4, 4, 0)])
def test_bad_shapes(shape) -> None:
    with pytest.raises(InvalidImageError):
        load_image(np.zeros(shape, dtype=np.uint8))


def test_torch_tensor_rejected() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(InvalidImageError, match="numpy"):
        load_image(torch.zeros(4, 4))


@pytest.mark.parametrize("source", [None, 3, [[0, 1], [1, 0]], b"\x89PNG"])
def test_other_objects_rejected(source) -> None:
    with pytest.raises(InvalidImageError):
        load_image(source)


def test_errors_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_image(tmp_path / "missing.png")


# ---------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------


def test_to_rgb01_scales() -> None:
    out = to_rgb01(RGB8)
    assert out.dtype == np.float32 and out.shape == (12, 10, 3)
    np.testing.assert_allclose(out, RGB8 / 255.0, atol=1e-7)
    out16 = to_rgb01(GRAY16)
    assert out16.shape == (12, 10, 3)
    np.testing.assert_allclose(out16[:, :, 1], GRAY16 / 65535.0, atol=1e-7)
    f = RNG.random((5, 5, 3), dtype=np.float32)
    np.testing.assert_array_equal(to_rgb01(f), f)


def test_to_rgb01_gray_replicated() -> None:
    out = to_rgb01(GRAY8)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], GRAY8.astype(np.float32) / 255)


def test_to_rgb01_composites_over_white() -> None:
    rgba = np.zeros((1, 3, 4), dtype=np.uint8)
    rgba[0, :, :3] = (255, 0, 0)
    rgba[0, :, 3] = (0, 255, 51)  # transparent, opaque, 20 %
    out = to_rgb01(rgba)
    np.testing.assert_allclose(out[0, 0], [1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(out[0, 1], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(out[0, 2], [1, 0.8, 0.8], atol=1e-6)
    assert out.min() >= 0 and out.max() <= 1


def test_to_gray01() -> None:
    g = to_gray01(GRAY8)
    assert g.dtype == np.float32 and g.shape == (12, 10)
    np.testing.assert_array_equal(g, GRAY8.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(to_gray01(GRAY16), GRAY16.astype(np.float32) / np.float32(65535))
    assert to_uint8(to_gray01(GRAY8)).tolist() == GRAY8.tolist()
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(to_gray01(rgb)[0], [0.299, 0.587, 0.114, 1.0], atol=1e-6)
    transparent = np.zeros((2, 2, 4), dtype=np.uint8)
    np.testing.assert_allclose(to_gray01(transparent), 1.0, atol=1e-6)


def test_to_uint8() -> None:
    x = np.array([-0.5, 0.0, 0.5 / 255, 1.49 / 255, 0.5, 1.0, 2.0], dtype=np.float32)
    assert to_uint8(x).tolist() == [0, 0, 0, 1, 128, 255, 255]
    assert to_uint8(x).dtype == np.uint8
    with pytest.raises(InvalidInputError):
        to_uint8(GRAY8)
    with pytest.raises(InvalidInputError):
        to_uint8(np.array([np.nan], dtype=np.float32))


# ---------------------------------------------------------------------------
# saving
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("array", [GRAY8, RGB8], ids=["gray", "rgb"])
def test_save_png_roundtrip(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "a" / "b" / "out.png"
    save_image(path, array)
    np.testing.assert_array_equal(load_image(path), array)


def test_save_jpeg(tmp_path: Path) -> None:
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (32, 1))
    for name in ("out.jpg", "out.JPEG"):
        path = tmp_path / name
        save_image(str(path), np.stack([smooth] * 3, axis=2))
        assert path.read_bytes()[:2] == b"\xff\xd8"
        back = load_image(path)
        assert back.shape == (32, 32, 3)
        assert np.abs(back.astype(int) - smooth[:, :, None]).max() <= 8


@pytest.mark.parametrize(
    "name,array",
    [
        ("x.png", GRAY16),
        ("x.png", RGB8.astype(np.float32) / 255),
        ("x.png", RGBA8),
        ("x.png", np.zeros((4,), dtype=np.uint8)),
        ("x.png", np.zeros((0, 4), dtype=np.uint8)),
        ("x.png", [[0, 1]]),
        ("x.bmpx", GRAY8),
        ("noext", GRAY8),
    ],
)
def test_save_rejects(tmp_path: Path, name, array) -> None:
    with pytest.raises(InvalidInputError):
        save_image(tmp_path / name, array)
    assert not (tmp_path / name).exists()
