"""Layered outputs of a colored page: Photoshop (``.psd``), OpenRaster (``.ora``) and a
folder of layer PNGs, for colorists who work in layers.

The layers, bottom to top (:data:`LAYER_NAMES`), all of the page's size:

- ``background``: the background color where ``result.background_mask`` is set,
  transparent elsewhere; a page without a background color gets an opaque white paper
  layer instead;
- ``flats``: every region its color (``result.flats``), transparent on the background
  regions so the background layer shows through;
- ``lines``: black ink on transparency, alpha ``255 - result.outline`` (line art drawn in
  colored ink: its colors, ``result.line_color``).

Normal ("src-over") blending of these gives ``flats * gray / 255``: the colored page,
``result.image``. Each layered file also stores that flattened page itself (the PSD's
merged image section, the ORA's ``mergedimage.png``) as ``result.image`` exactly, not
a re-composite.

A result made with ``flats=False`` has no flats: its soft colors were multiplied with
the ink and cannot be taken apart again, so layered output refuses it with
:class:`~fastcolor.errors.InvalidInputError` (write ``.png``/``.jpg`` instead).

Every file goes through :mod:`fastcolor.atomic`: an interrupted write never leaves a
partial file under its final name.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Union
from xml.etree import ElementTree

import numpy as np
from PIL import Image

from .atomic import atomic_path, write_atomic
from .errors import BackendUnavailableError, InvalidInputError
from .imageio import save_image

PathLike = Union[str, "os.PathLike[str]"]

LAYER_NAMES = ("background", "flats", "lines")          # bottom to top
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")              # the flat page (save_image)
LAYERED_SUFFIXES = (".psd", ".ora")
SAVE_SUFFIXES = IMAGE_SUFFIXES + LAYERED_SUFFIXES       # what ColorizeResult.save writes
# write_layer_pngs' files, in the order they are written
LAYER_FILES = ("lines.png", "flats.png", "background_mask.png", "regions.png",
               "region_colors.json")
GRAY16_MAX_REGIONS = 65535     # up to this many regions, regions.png is 16-bit gray
THUMBNAIL_SIZE = 256           # the ORA thumbnail's longer side, at most
PAPER = (255, 255, 255)


def _check_layered(result, what: str) -> None:
    if result.flats is None:
        raise InvalidInputError(
            f"{what} needs flats, and this page was colored with flats=False (--no-flats): "
            f"its soft colors are multiplied with the ink and cannot be split into layers; "
            f"color it with flats, or write a .png/.jpg")


def _background(result) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """``(mask, color)``: where the background layer paints its color; an empty mask
    when the page has no background color."""
    color = result.background_color
    if color is None:
        return np.zeros(result.outline.shape, bool), None
    return np.asarray(result.background_mask, bool), tuple(int(c) for c in color)


def _rgba(rgb, alpha: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W, 4)``: ``rgb`` (an ``(H, W, 3)`` array or one color) with ``alpha``."""
    h, w = alpha.shape
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = rgb
    out[..., 3] = alpha
    return out


def layer_arrays(result) -> dict[str, np.ndarray]:
    """The three layers as uint8 RGBA ``(H, W, 4)`` arrays, bottom to top
    (:data:`LAYER_NAMES`); see the module's docstring. Needs flats."""
    _check_layered(result, "layered output")
    mask, color = _background(result)
    if color is None:
        background = _rgba(PAPER, np.full(mask.shape, 255, np.uint8))
    else:
        background = _rgba(color, np.where(mask, 255, 0).astype(np.uint8))
    flats = _rgba(result.flats, np.where(mask, 0, 255).astype(np.uint8))
    ink = 0 if result.line_color is None else result.line_color   # colored ink: its colors
    lines = _rgba(ink, 255 - np.asarray(result.outline, np.uint8))
    return {"background": background, "flats": flats, "lines": lines}


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _write_png(path: Path, image: Image.Image) -> Path:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


# ---- Photoshop ----------------------------------------------------------------------------
def _psd_tools():
    """``(PSDImage, PixelLayer, PSD)`` from psd-tools, or a clear error without it."""
    try:
        from psd_tools import PSDImage
        from psd_tools.api.layers import PixelLayer
        from psd_tools.psd import PSD
    except ImportError as exc:
        raise BackendUnavailableError(
            f"writing .psd needs psd-tools ({exc}): pip install 'psd-tools>=1.26' "
            f"(Python 3.11+), or write .ora, which Krita, GIMP and MyPaint open") from None
    if not hasattr(PixelLayer, "fromarray"):
        raise BackendUnavailableError("writing .psd needs psd-tools 1.26 or newer: pip "
                                      "install -U psd-tools")
    return PSDImage, PixelLayer, PSD


def write_psd(path: PathLike, result) -> Path:
    """Write ``result`` as a Photoshop file (RGB, 8 bits a channel) with the layers
    ``background``, ``flats`` and ``lines`` (bottom to top) and ``result.image`` as its
    merged image. Made with ``psd-tools``; returns the path."""
    layers = layer_arrays(result)
    PSDImage, PixelLayer, PSD = _psd_tools()
    h, w = result.image.shape[:2]
    doc = PSDImage.new("RGB", (w, h), color=PAPER)
    for name in LAYER_NAMES:
        layer = PixelLayer.fromarray(layers[name], doc, name=name)
        layer.name = name      # also stores the Unicode name block Photoshop reads first
    # psd-tools writes its own composite of the layers as the merged image; replace it
    # by the page itself, so the file's flattened image is result.image exactly.
    staged = io.BytesIO()
    doc.save(staged)
    staged.seek(0)
    record = PSD.read(staged)
    image = np.ascontiguousarray(result.image)
    record.image_data.set_data([image[..., c].tobytes() for c in range(3)], record.header)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        record.write(f)
    return Path(path)


# ---- OpenRaster ---------------------------------------------------------------------------
def _stack_xml(w: int, h: int) -> bytes:
    image = ElementTree.Element("image", version="0.0.5", w=str(w), h=str(h),
                                xres="72", yres="72")
    stack = ElementTree.SubElement(image, "stack")
    for name in reversed(LAYER_NAMES):                  # the stack lists the top first
        ElementTree.SubElement(stack, "layer", name=name, src=f"data/{name}.png", x="0",
                               y="0", opacity="1.000", visibility="visible",
                               **{"composite-op": "svg:src-over"})
    return ElementTree.tostring(image, encoding="UTF-8", xml_declaration=True)


def write_ora(path: PathLike, result) -> Path:
    """Write ``result`` as OpenRaster (``.ora``, read by Krita, GIMP and MyPaint): a zip
    of ``mimetype`` (first, stored), ``stack.xml``, ``data/<layer>.png`` (RGBA) for the
    layers ``lines``, ``flats``, ``background`` (top to bottom), ``mergedimage.png``
    (``result.image``) and ``Thumbnails/thumbnail.png`` (at most 256 px). Returns the
    path."""
    layers = layer_arrays(result)
    h, w = result.image.shape[:2]
    merged = Image.fromarray(np.ascontiguousarray(result.image))
    thumbnail = merged.copy()
    thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as z:
        # The spec: "mimetype" is the first entry, uncompressed, so the file type can
        # be read at a fixed offset. PNGs are compressed already: stored too.
        z.writestr("mimetype", "image/openraster", compress_type=zipfile.ZIP_STORED)
        z.writestr("stack.xml", _stack_xml(w, h), compress_type=zipfile.ZIP_DEFLATED)
        for name in reversed(LAYER_NAMES):
            z.writestr(f"data/{name}.png", _png_bytes(Image.fromarray(layers[name])))
        z.writestr("mergedimage.png", _png_bytes(merged))
        z.writestr("Thumbnails/thumbnail.png", _png_bytes(thumbnail))
    return Path(path)


# ---- a folder of PNGs ---------------------------------------------------------------------
def region_map_image(regions: np.ndarray, n: int) -> tuple[Image.Image, str]:
    """The region labels as a lossless PNG image and a description of the encoding:
    16-bit gray (the label itself) for up to 65535 regions, else RGB with
    ``label = R * 65536 + G * 256 + B``."""
    labels = np.asarray(regions)
    if n <= GRAY16_MAX_REGIONS:
        return Image.fromarray(labels.astype(np.uint16)), "gray16: label = value"
    lab = labels.astype(np.uint32)
    rgb = np.stack([(lab >> 16) & 255, (lab >> 8) & 255, lab & 255], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8)), "rgb24: label = R * 65536 + G * 256 + B"


def write_layer_pngs(folder: PathLike, result) -> list[Path]:
    """Write the page's layers into ``folder`` (created if missing), for ``--layers``:

    - ``lines.png``: RGBA, black with alpha ``255 - outline``;
    - ``flats.png``: RGB, every region its color (``result.flats``);
    - ``background_mask.png``: L, 255 on the background, 0 elsewhere;
    - ``regions.png``: the region map: 16-bit gray (the label) for up to 65535 regions,
      else RGB with ``label = R * 65536 + G * 256 + B``;
    - ``region_colors.json``: ``{"regions": n, "colors": [[r, g, b], ...],
      "background_color": [r, g, b] or null, "background_regions": [label, ...],
      "regions_png": the encoding above}``.

    Each file is written atomically (the folder as a whole is not). Needs flats and
    regions. Returns the paths, in :data:`LAYER_FILES` order."""
    _check_layered(result, "--layers")
    if result.regions is None or result.region_colors is None:
        raise InvalidInputError("--layers needs the page's regions and region colors")
    folder = Path(folder)
    layers = layer_arrays(result)
    mask, color = _background(result)
    colors = np.asarray(result.region_colors, np.uint8)
    n = len(colors)
    regions_png, encoding = region_map_image(result.regions, n)
    table = {"regions": n, "colors": colors.tolist(),
             "background_color": None if color is None else list(color),
             "background_regions": np.unique(result.regions[mask]).tolist(),
             "regions_png": encoding}
    paths = [folder / name for name in LAYER_FILES]
    _write_png(paths[0], Image.fromarray(layers["lines"]))
    save_image(paths[1], result.flats)
    _write_png(paths[2], Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)))
    _write_png(paths[3], regions_png)
    write_atomic(paths[4], json.dumps(table, indent=1) + "\n")
    return paths


# ---- by extension -------------------------------------------------------------------------
def save_result(path: PathLike, result) -> None:
    """``ColorizeResult.save``: ``.png``/``.jpg``/``.jpeg`` the colored page,
    ``.psd`` :func:`write_psd`, ``.ora`` :func:`write_ora`."""
    suffix = Path(path).suffix.lower()
    if suffix == ".psd":
        write_psd(path, result)
    elif suffix == ".ora":
        write_ora(path, result)
    elif suffix in IMAGE_SUFFIXES:
        save_image(path, result.image)
    else:
        raise InvalidInputError(
            f"cannot tell what to write to '{path}': use a .png, .jpg or .jpeg extension "
            f"(the colored page) or .psd or .ora (a layered file)")


__all__ = ["LAYER_FILES", "LAYER_NAMES", "SAVE_SUFFIXES", "layer_arrays", "region_map_image",
           "save_result", "write_layer_pngs", "write_ora", "write_psd"]
