"""``fastcolor figure``: the paper's Figure 2, reproduced on validation panels.

One row per image: outline | low-res sample | background mask | without detector | with
detector | ground truth, under a row of column labels; for weights whose figure takes the
color prior's colors (the pipeline's step 3b) a "color prior" column (those low-res
colors) follows the sample. The two colored results come from
the same seed (the same low-res sample), so they differ only by the detector. The
low-res images are shown with nearest-neighbor upscaling (their 32 x 32 pixels stay
visible); the mask is white where the detector finds background.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import InvalidInputError

COLUMNS = ("outline", "low-res sample", "background mask", "without detector",
           "with detector", "ground truth")
PRIOR_COLUMNS = COLUMNS[:2] + ("color prior",) + COLUMNS[2:]
LOWRES = ("low-res sample", "color prior")     # shown with their cells visible


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:          # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _cell(img: np.ndarray, cell: int, nearest: bool = False) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    h, w = img.shape[:2]
    scale = cell / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    small = cv2.resize(img, (nw, nh), interpolation=interp)
    out = np.full((cell, cell, 3), 255, np.uint8)
    y, x = (cell - nh) // 2, (cell - nw) // 2
    out[y:y + nh, x:x + nw] = small
    return out


def figure_rows(pipe, items, seed: int = 0, temperature: float = 1.0) -> list[list[np.ndarray]]:
    """The images of each row (uint8 RGB, at the items' sizes): the six of ``COLUMNS``,
    and for weights whose figure takes the color prior's colors (the pipeline's step 3b)
    those low-res colors after the sample (``PRIOR_COLUMNS``)."""
    rows = []
    for i, item in enumerate(items):
        det = pipe(item.outline, seed=seed + i, extract_outline=False, temperature=temperature)
        nodet = pipe(item.outline, seed=seed + i, extract_outline=False,
                     temperature=temperature, detect_background=False)
        mask = np.where(det.background_mask, np.uint8(255), np.uint8(0))
        prior = det.extras.get("figure_lowres")
        rows.append([item.outline, det.lowres, *([] if prior is None else [prior]), mask,
                     nodet.image, det.image, item.color])
    return rows


def render_grid(rows, cell: int = 160, pad: int = 6, labels=COLUMNS) -> np.ndarray:
    """Rows of images -> one labeled uint8 RGB grid."""
    if not rows:
        raise InvalidInputError("the figure needs at least one image")
    ncol = len(labels)
    font_size = max(10, cell // 11)
    header = font_size + 2 * pad
    H = header + len(rows) * (cell + pad) + pad
    W = ncol * (cell + pad) + pad
    canvas = np.full((H, W, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            y, x = header + r * (cell + pad), pad + c * (cell + pad)
            canvas[y:y + cell, x:x + cell] = _cell(img, cell, nearest=labels[c] in LOWRES)
    im = Image.fromarray(canvas)
    draw = ImageDraw.Draw(im)
    font = _font(font_size)
    for c, label in enumerate(labels):
        x0 = pad + c * (cell + pad)
        box = draw.textbbox((0, 0), label, font=font)
        tw = box[2] - box[0]
        draw.text((x0 + (cell - tw) / 2, pad), label, fill=(0, 0, 0), font=font)
    return np.array(im)


def make_figure(weights=None, data=None, out="figure.png", n: int = 4, split: str = "val",
                seed: int = 0, backend: str = "auto", cell: int = 160, outline: str = "line",
                start: int = 0, temperature: float = 1.0) -> Path:
    """``fastcolor figure``: write the grid for ``n`` panels of ``split`` to ``out``."""
    from .evaluate import cache_items
    from .imageio import save_image
    from .pipeline import Pipeline
    if n < 1:
        raise InvalidInputError(f"--n must be at least 1, got {n}")
    pipe = Pipeline.from_pretrained(weights, backend=backend)
    items, _ = cache_items(data, split, start + n, outline)
    items = items[start:start + n]
    rows = figure_rows(pipe, items, seed, temperature)
    grid = render_grid(rows, cell=cell,
                       labels=PRIOR_COLUMNS if len(rows[0]) == len(PRIOR_COLUMNS) else COLUMNS)
    out = Path(out)
    save_image(out, grid)
    return out
