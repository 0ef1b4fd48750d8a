"""Image input/output and validation.

Every public entry point of fastcolor that takes an image goes through
:func:`load_image`, which accepts a file path, a ``PIL.Image.Image`` or a numpy
array and returns one validated numpy array:

* dtype ``uint8``, ``uint16`` or ``float32`` (float values finite and in [0, 1]);
* shape ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA;
* ``1 <= H, W <= MAX_IMAGE_SIDE`` and ``H * W <= MAX_IMAGE_PIXELS``.

:func:`to_rgb01` and :func:`to_gray01` turn such an array into float32 in [0, 1]
(transparent pixels composited over white paper); :func:`to_uint8` goes back to
8 bits; :func:`save_image` writes an 8-bit result to PNG or JPEG.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fastcolor.atomic import atomic_path
from fastcolor.errors import ImageTooLargeError, InvalidImageError, InvalidInputError

__all__ = [
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "ImageSource",
    "load_image",
    "load_image_bytes",
    "to_rgb01",
    "to_gray01",
    "to_uint8",
    "save_image",
]

#: Largest accepted image, in pixels (H * W).
MAX_IMAGE_PIXELS = 8192 * 8192
#: Largest accepted height or width, in pixels.
MAX_IMAGE_SIDE = 32768

ImageSource = Union[str, "os.PathLike[str]", Image.Image, np.ndarray]

_ACCEPTED_DTYPES = "uint8, uint16, or float16/float32/float64 with values in [0, 1]"
_ACCEPTED_SHAPES = "(H, W), (H, W, 1), (H, W, 2) gray+alpha, (H, W, 3) RGB or (H, W, 4) RGBA"
# Errors PIL raises for files it cannot identify or decode.
_PIL_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)
# ITU-R BT.601 luma weights.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# ---------------------------------------------------------------------------
# size checks
# ---------------------------------------------------------------------------


def _check_size(height: int, width: int, what: str) -> None:
    """Raise if an image of ``height x width`` pixels is empty or too large."""
    if height <= 0 or width <= 0:
        raise InvalidImageError(f"{what} has 0 pixels (size {height}x{width}, HxW)")
    if height > MAX_IMAGE_SIDE or width > MAX_IMAGE_SIDE:
        raise ImageTooLargeError(
            f"{what} is {height}x{width} (HxW); a side may be at most "
            f"{MAX_IMAGE_SIDE} pixels"
        )
    if height * width > MAX_IMAGE_PIXELS:
        raise ImageTooLargeError(
            f"{what} is {height}x{width} (HxW) = {height * width} pixels; at most "
            f"{MAX_IMAGE_PIXELS} pixels (8192 x 8192) are accepted"
        )


# ---------------------------------------------------------------------------
# numpy validation
# ---------------------------------------------------------------------------


def _validate_array(arr: np.ndarray, what: str) -> np.ndarray:
    """Validate and normalize a numpy image (see :func:`load_image`)."""
    if arr.ndim not in (2, 3):
        raise InvalidImageError(
            f"{what} has {arr.ndim} dimensions (shape {arr.shape}); expected {_ACCEPTED_SHAPES}"
        )
    if arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4):
        raise InvalidImageError(
            f"{what} has {arr.shape[2]} channels (shape {arr.shape}); expected {_ACCEPTED_SHAPES}"
        )
    # Size first: nothing below may touch (or copy) the pixels of a huge array.
    _check_size(int(arr.shape[0]), int(arr.shape[1]), what)

    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "u" and size in (1, 2):
        arr = arr.astype(np.uint8 if size == 1 else np.uint16, copy=False)
    elif kind == "f" and size in (2, 4, 8):
        arr = arr.astype(np.float32, copy=False)
        if not np.isfinite(arr).all():
            raise InvalidImageError(f"{what} (dtype float) contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidImageError(
                f"{what} is float with values in [{lo:g}, {hi:g}]; float images must lie in "
                "[0, 1] (scale 8-bit data to uint8 or divide by 255)"
            )
    else:
        raise InvalidImageError(
            f"{what} has dtype {arr.dtype}, which is not accepted; expected {_ACCEPTED_DTYPES}"
        )

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] == 2:
        gray, alpha = arr[:, :, 0], arr[:, :, 1]
        arr = np.stack([gray, gray, gray, alpha], axis=2)
    return np.ascontiguousarray(arr)


# ---------------------------------------------------------------------------
# PIL conversion
# ---------------------------------------------------------------------------


def _check_palette(img: Image.Image, what: str) -> None:
    """A palette image must carry its palette: PIL decodes one whose PLTE chunk is lost
    and would make it a black (or gray) page without a word."""
    if img.mode in ("P", "PA") and img.palette is None:
        raise InvalidImageError(f"{what} is corrupt: a palette image (mode {img.mode!r}) "
                                f"without its palette")


def _pil_to_array(img: Image.Image, what: str) -> np.ndarray:
    """Convert a loaded PIL image to a numpy array of an accepted dtype and shape."""
    _check_palette(img, what)
    mode = img.mode
    # np.array (not np.asarray): a writable array that owns its memory.
    if mode in ("L", "RGB", "RGBA"):
        return np.array(img)
    if mode == "1":
        return np.array(img.convert("L"))
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)  # also turns big-endian into native
    if mode == "I":
        arr = np.asarray(img)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise InvalidImageError(
                f"{what} is a 32-bit integer image (PIL mode 'I') with values in "
                f"[{lo}, {hi}]; only values in [0, 65535] (16-bit) are accepted"
            )
        return arr.astype(np.uint16)
    if mode == "F":
        return np.array(img, dtype=np.float32)  # range checked by _validate_array
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or img.has_transparency_data
        return np.array(img.convert("RGBA" if has_alpha else "RGB"))
    if mode in ("LA", "La", "RGBa"):
        return np.array(img.convert("RGBA"))
    try:  # CMYK, YCbCr, LAB, HSV, RGBX, ...
        return np.array(img.convert("RGB"))
    except ValueError as exc:
        raise InvalidImageError(
            f"{what} has PIL mode {mode!r}, which cannot be converted to RGB"
        ) from exc


def _from_pil(img: Image.Image, what: str) -> np.ndarray:
    width, height = img.size
    _check_size(height, width, what)
    try:
        img.load()
    except _PIL_READ_ERRORS as exc:
        raise InvalidImageError(f"{what} cannot be decoded: {exc}") from exc
    return _validate_array(_pil_to_array(img, what), what)


def _from_path(source: Union[str, "os.PathLike[str]"]) -> np.ndarray:
    path = Path(source)
    what = f"image file '{path}'"
    if not path.exists():
        raise InvalidImageError(f"{what} does not exist")
    if path.is_dir():
        raise InvalidImageError(f"{what} is a directory, not an image file")
    if path.stat().st_size == 0:
        raise InvalidImageError(f"{what} is empty (0 bytes)")
    return _decode_file(path, what)


def _decode_file(fp, what: str) -> np.ndarray:
    """Open ``fp`` (a path or a binary file object), check its size from the header,
    then decode it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(
            f"{what} is too large (PIL: {exc}); fastcolor accepts at most {MAX_IMAGE_PIXELS} "
            f"pixels and {MAX_IMAGE_SIDE} pixels a side"
        ) from exc
    except _PIL_READ_ERRORS as exc:
        raise InvalidImageError(f"{what} is not a readable image: {exc}") from exc

    with img:
        width, height = img.size  # from the header: nothing decoded yet
        _check_size(height, width, what)
        try:
            img.load()  # truncated or corrupt pixel data fails here
            # transpose (a full copy) only when the EXIF orientation asks for it
            turned = img.getexif().get(0x0112, 1) not in (0, 1)
            oriented = ImageOps.exif_transpose(img) if turned else img
        except _PIL_READ_ERRORS as exc:
            raise InvalidImageError(f"{what} is corrupt or truncated: {exc}") from exc
        _check_palette(img, what)   # exif_transpose's copy makes a palette up
        return _from_pil(oriented, what)


def load_image_bytes(data: bytes, what: str = "the uploaded image") -> np.ndarray:
    """:func:`load_image` for the bytes of an image file (an upload): the same checks,
    the size read from the header before any pixel is decoded; nothing touches the
    filesystem. ``what`` names the image in error messages."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImageError(f"load_image_bytes expects bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise InvalidImageError(f"{what} is empty (0 bytes)")
    return _decode_file(io.BytesIO(bytes(data)), what)


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def load_image(source: ImageSource) -> np.ndarray:
    """Load and validate an image.

    Args:
        source: a file path (``str`` or ``os.PathLike``; any format PIL reads, the
            first frame of an animation, EXIF orientation applied), a
            ``PIL.Image.Image``, or a numpy array.

    Returns:
        A C-contiguous numpy array, dtype ``uint8``, ``uint16`` or ``float32``
        (float in [0, 1]), shape ``(H, W)`` gray, ``(H, W, 3)`` RGB or
        ``(H, W, 4)`` RGBA. ``(H, W, 1)`` is squeezed to ``(H, W)``; ``(H, W, 2)``
        gray+alpha becomes RGBA. PIL modes: L/RGB/RGBA as they are; I;16* and I
        (values 0..65535) -> uint16; 1 -> uint8 0/255; P/PA -> RGBA when the image
        has transparency, else RGB; LA -> RGBA; F -> float32 in [0, 1]; other
        modes (CMYK, YCbCr, ...) -> RGB. A valid, contiguous numpy input of an
        exact accepted dtype and shape is returned as is (not copied); it is never
        modified.

    Raises:
        InvalidImageError: missing, empty, corrupt or truncated file, directory,
            0-pixel image, unsupported dtype/shape/channel count, float values that
            are not finite or outside [0, 1], or an object that is not an image
            (torch tensors included: pass numpy, PIL or a path).
        ImageTooLargeError: more than ``MAX_IMAGE_PIXELS`` pixels, or a side longer
            than ``MAX_IMAGE_SIDE`` (for files, checked from the header before any
            pixel is decoded).
    """
    if isinstance(source, np.ndarray):
        return _validate_array(source, "image array")
    if isinstance(source, Image.Image):
        return _from_pil(source, "PIL image")
    if isinstance(source, (str, os.PathLike)):
        return _from_path(source)
    if type(source).__module__.split(".")[0] == "torch":
        raise InvalidImageError(
            "load_image does not take torch tensors; pass a numpy array, a PIL image "
            "or a file path (the Pipeline also takes outline tensors: (H, W), (1, H, W) or (B, 1, H, W))"
        )
    raise InvalidImageError(
        f"cannot read an image from a {type(source).__name__}; pass a file path, "
        "a PIL image or a numpy array"
    )


def to_rgb01(image: ImageSource) -> np.ndarray:
    """RGB float32 ``(H, W, 3)`` in [0, 1] from anything :func:`load_image` takes.

    uint8 is divided by 255, uint16 by 65535, float is kept; gray is replicated to
    three channels; RGBA is alpha-composited over white paper.
    """
    return _rgb01(load_image(image))


def _rgb01(arr: np.ndarray) -> np.ndarray:
    """:func:`to_rgb01` of an array already validated by :func:`load_image`."""
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / np.float32(255)
    elif arr.dtype == np.uint16:
        x = arr.astype(np.float32) / np.float32(65535)
    else:
        x = arr
    if x.ndim == 2:
        return np.repeat(x[:, :, None], 3, axis=2)
    if x.shape[2] == 4:
        alpha = x[:, :, 3:4]
        x = x[:, :, :3] * alpha + (np.float32(1) - alpha)
        return np.clip(x, 0.0, 1.0, out=x)
    return np.array(x, dtype=np.float32, copy=True)


def to_gray01(image: ImageSource) -> np.ndarray:
    """Gray float32 ``(H, W)`` in [0, 1] from anything :func:`load_image` takes.

    Luminance ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601) of :func:`to_rgb01`.
    A gray input maps exactly to ``value / 255`` (uint8) or ``value / 65535`` (uint16).
    """
    arr = load_image(image)
    if arr.ndim == 2:
        if arr.dtype == np.uint8:
            return arr.astype(np.float32) / np.float32(255)
        if arr.dtype == np.uint16:
            return arr.astype(np.float32) / np.float32(65535)
        return arr.copy()
    gray = _rgb01(arr) @ _LUMA
    return np.clip(gray, 0.0, 1.0, out=gray)


def to_uint8(image01: np.ndarray) -> np.ndarray:
    """uint8 array (same shape) from a float array in [0, 1]: ``round(x * 255)``, clipped.

    Raises:
        InvalidInputError: the input is not a floating-point array or holds NaN/Inf.
    """
    arr = np.asarray(image01)
    if arr.dtype.kind != "f":
        raise InvalidInputError(
            f"to_uint8 expects a float array in [0, 1], got dtype {arr.dtype}"
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError("to_uint8 input contains NaN or infinite values")
    return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)


_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def save_image(path: Union[str, "os.PathLike[str]"], array: np.ndarray) -> None:
    """Save a uint8 ``(H, W)`` gray or ``(H, W, 3)`` RGB array as PNG or JPEG.

    The format follows the extension (``.png``, ``.jpg``, ``.jpeg``; JPEG at
    quality 95); missing parent directories are created. The file is written under a
    temporary name and renamed into place (``fastcolor.atomic``): an interrupted save
    never leaves a partial file at ``path``.

    Raises:
        InvalidInputError: wrong type, dtype, shape, 0 pixels or unknown extension.
        OutputPathError: the file cannot be written there (permissions, a folder in the
            way, disk full).
    """
    if not isinstance(array, np.ndarray):
        raise InvalidInputError(f"save_image expects a numpy array, got {type(array).__name__}")
    if array.dtype != np.uint8:
        raise InvalidInputError(f"save_image expects dtype uint8, got {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise InvalidInputError(
            f"save_image expects shape (H, W) or (H, W, 3), got {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidInputError(f"save_image got an image with 0 pixels (shape {array.shape})")
    out = Path(path)
    fmt = _SAVE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InvalidInputError(
            f"cannot tell the image format of '{out}': use a .png, .jpg or .jpeg extension"
        )
    img = Image.fromarray(np.ascontiguousarray(array))
    with atomic_path(out) as tmp:
        if fmt == "JPEG":
            img.save(tmp, format=fmt, quality=95)
        else:
            img.save(tmp, format=fmt)
