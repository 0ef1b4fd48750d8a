"""Palette lock: every region color snapped to the nearest color of a fixed palette.

::

    pipe("page.png", palette=["#d03040", "#f2d0b0", "40,40,120"])   # a list of colors
    pipe("page.png", palette="character_sheet.png")                 # an image's flat colors

A palette is a list of colors (``"R,G,B"``, ``"#rrggbb"``, 3-tuples, or a uint8 ``(k, 3)``
array) or an image (path, PIL, numpy ``(H, W, 3|4)``) whose flat colors form it: every
exact color that covers at least ``MIN_SHARE`` of the image's (opaque) pixels.
"Nearest" is CIEDE2000 between the CIELAB colors (D65; ``fastcolor.evaluate``), the
same distance ``fastcolor eval`` reports. The pipeline snaps the colors of the regions
the model colored; hint-stroke colors, the background color and the paper outside the
panels stay as they are (give the background with ``background=``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InvalidInputError

__all__ = ["MIN_SHARE", "parse_palette", "palette_from_image", "snap_to_palette"]

MIN_SHARE = 0.005       # an image color is in the palette when it covers >= 0.5 %
MAX_COLORS = 4096


def palette_from_image(image, min_share: float = MIN_SHARE) -> np.ndarray:
    """The flat colors of an image: uint8 ``(k, 3)``, the exact 8-bit colors covering at
    least ``min_share`` of its opaque pixels, most frequent first."""
    from .imageio import load_image, to_rgb01, to_uint8
    arr = load_image(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    opaque = None
    if arr.ndim == 3 and arr.shape[2] == 4:
        alpha = arr[..., 3].astype(np.float64) / (255.0 if arr.dtype == np.uint8 else
                                                 65535.0 if arr.dtype == np.uint16 else 1.0)
        opaque = alpha >= 0.5
        arr = arr[..., :3]
    rgb = arr if arr.dtype == np.uint8 else to_uint8(to_rgb01(arr))
    px = rgb.reshape(-1, 3) if opaque is None else rgb[opaque]
    if not len(px):
        raise InvalidInputError("the palette image has no opaque pixels")
    packed = (px[:, 0].astype(np.int64) << 16) | (px[:, 1].astype(np.int64) << 8) | px[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    keep = counts >= min_share * len(px)
    if not keep.any():
        raise InvalidInputError(
            f"the palette image has no flat colors (none covers {min_share:.1%} of it; a "
            "photo or a JPEG has none): pass a flat-colored image or a list of colors")
    order = np.argsort(-counts[keep], kind="stable")
    v = values[keep][order]
    return np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], 1).astype(np.uint8)


def _split_colors(text: str) -> list[str]:
    """``"#aa0000,#00bb00"`` / ``"255,0,0;0,170,0"`` / ``"#aa0000 255,0,0"`` -> items."""
    parts = [p for p in text.replace(";", " ").split() if p]
    out = []
    for p in parts:
        if "#" in p or not all(c.isdigit() or c == "," for c in p):
            out += [q for q in p.split(",") if q]         # hex colors, comma-separated
        else:
            out.append(p)
    return out


def parse_palette(palette) -> np.ndarray:
    """A palette (see module doc) -> uint8 ``(k, 3)``, k >= 1. A string is a file when
    one exists at that path, otherwise colors separated by ``;``, spaces, or (hex)
    commas."""
    from .pipeline import parse_color
    if palette is None:
        raise InvalidInputError("palette is None")
    if isinstance(palette, (str, Path)):
        if Path(palette).is_file():
            return palette_from_image(palette)
        if isinstance(palette, Path):
            raise InvalidInputError(f"palette image {str(palette)!r} does not exist")
        items = _split_colors(palette)
        if not items:
            raise InvalidInputError("the palette is empty: give colors or an image")
        try:
            return np.array([parse_color(c) for c in items], np.uint8)
        except InvalidInputError as e:
            raise InvalidInputError(
                f"palette {palette!r} is neither an image file nor a list of colors "
                f"('#rrggbb,#rrggbb' or 'R,G,B;R,G,B'): {e}") from None
    if isinstance(palette, np.ndarray) and palette.ndim == 2 and palette.shape[1] == 3 \
            and palette.dtype != np.bool_ and palette.shape[0] <= MAX_COLORS \
            and np.issubdtype(palette.dtype, np.integer):
        palette = list(palette)                      # a (k, 3) array of colors
    elif isinstance(palette, np.ndarray) or hasattr(palette, "getpixel"):
        return palette_from_image(palette)           # an image (numpy or PIL)
    if not isinstance(palette, (list, tuple)):
        raise InvalidInputError(f"palette must be a list of colors or an image, got "
                                f"{type(palette).__name__}")
    if not palette:
        raise InvalidInputError("the palette is empty: give at least one color")
    if len(palette) > MAX_COLORS:
        raise InvalidInputError(f"a palette holds at most {MAX_COLORS} colors, got {len(palette)}")
    return np.array([parse_color(c) for c in palette], np.uint8)


def snap_to_palette(colors: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Each uint8 RGB color ``(n, 3)`` replaced by the palette color ``(k, 3)`` nearest
    to it in CIEDE2000 (ties: the earlier palette color)."""
    from .evaluate import ciede2000, rgb_to_lab
    colors = np.asarray(colors, np.uint8).reshape(-1, 3)
    if not len(colors):
        return colors.copy()
    d = ciede2000(rgb_to_lab(colors)[:, None], rgb_to_lab(palette)[None])
    return palette[np.argmin(d, axis=1)]
