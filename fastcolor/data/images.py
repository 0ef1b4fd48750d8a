"""``fastcolor data build --images DIR``: a folder of colored pages -> a training cache.

The paper's workflow (issue 17): train on one series' colored episodes, then color new
outlines of that series. Any folder of colored pages or webtoon strips (PNG, JPEG, WebP,
any size, searched recursively) becomes a cache in the format of ``cache`` that
``fastcolor train`` reads like the OpenMoji one (``composition`` ``"images"``):

* **pages**: each file is decoded (``imageio.load_image``: RGBA composited over white,
  grayscale replicated to RGB, 16 bits reduced to 8); a file that cannot be read
  (corrupt, truncated, not an image, too large) is reported by name and skipped, never
  fatal; identical pages (the same decoded pixels, by sha256) are kept once;
* **split by page**: the unique pages are ordered by a seeded hash of their pixels and
  the first ``round(val_fraction * pages)`` (at least one when there are two pages or
  more and ``val_fraction > 0``) are validation pages: panels of one page are never on
  both sides, and adding pages to the folder does not move the others;
* **panels**: ``fastcolor.panels.find_panels`` on the page's gray (BT.601), each panel
  far from square (a tall strip panel) cut with ``tile_box`` into tiles of aspect at
  most 1.5, each letterboxed into ``size x size`` like the pipeline does
  (``pipeline.letterbox``, centered, padded with white paper);
* ``line`` and ``extracted``: the outline made **the paper's way**,
  ``outline.extract(color, line_art=False)``: Canny edges of each channel ORed with the
  dark pixels, on the letterboxed panel. A colored page has no separate line art, and
  this is the outline the paper trained on; the flats' ink finder would only keep the
  dark strokes and drop the color boundaries the model must learn to respect, and
  ``fastcolor colorize`` extracts outlines of colored inputs the same way, so training
  and use see alike outlines. Both arrays hold the same outline;
* ``background``: derived from the colored panel itself,
  ``evaluate.estimate_background`` (the most frequent color's connected pieces of at
  least 1 % of the panel, ink excluded) on the panel's content (the letterbox padding is
  never background); ``bg_color`` is the mean color under it. A panel where none is
  found (no dominant color) still counts: background all False, ``bg_color`` white;
* ``emoji`` holds ``relative/path.png#k`` (the page and the piece), ``flags`` 0.

``index.json`` adds ``source`` (the folder), ``pages`` (files found, read, used,
duplicates, skipped with their errors, pages per split) and per split its page list.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import FastcolorError
from .build import _progress
from .cache import FORMAT, SHARD_SIZE, SPLITS, PanelSet, write_index, write_shard
from .openmoji import DataError
from .panels import Panel

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
WHITE = (255, 255, 255)


def list_images(folder) -> list[Path]:
    """The PNG/JPEG/WebP files under ``folder`` (recursive, hidden ones left out), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"--images {str(folder)!r} is not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_page(path) -> np.ndarray:
    """A page as RGB uint8 ``(H, W, 3)`` (alpha over white, gray replicated)."""
    from ..imageio import load_image, to_rgb01, to_uint8
    arr = load_image(path)
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        return arr
    if arr.dtype == np.uint8 and arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    return to_uint8(to_rgb01(arr))


def page_hash(rgb: np.ndarray) -> str:
    h = hashlib.sha256(repr(rgb.shape).encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def split_pages(hashes: list[str], val_fraction: float, seed: int) -> set[str]:
    """The validation pages among ``hashes`` (unique): see the module doc."""
    if not hashes or val_fraction <= 0:
        return set()
    n_val = round(val_fraction * len(hashes))
    if len(hashes) >= 2:
        n_val = min(max(1, n_val), len(hashes) - 1)
    order = sorted(hashes, key=lambda h: hashlib.sha256(f"{seed}:{h}".encode()).hexdigest())
    return set(order[:n_val])


def page_panels(rgb: np.ndarray, size: int, name: str) -> list[Panel]:
    """The training panels of one page (see the module doc)."""
    from ..evaluate import estimate_background
    from ..flats import line_art_gray
    from ..outline import extract
    from ..panels import find_panels, tile_box
    from ..pipeline import letterbox

    out = []
    gray = line_art_gray(rgb)
    for box in find_panels(gray):
        for tile in tile_box(box):
            crop = np.ascontiguousarray(rgb[tile.slice])
            color, (top, left, h, w) = letterbox(crop, size, fill=255)
            background = np.zeros((size, size), bool)
            background[top:top + h, left:left + w] = estimate_background(
                np.ascontiguousarray(color[top:top + h, left:left + w]))
            bg_color = tuple(int(round(v)) for v in color[background].mean(axis=0)) \
                if background.any() else WHITE
            outline = extract(color, line_art=False)
            out.append(Panel(color=color, line=outline, extracted=outline.copy(),
                             background=background, bg_color=bg_color,
                             emoji=(f"{name}#{len(out)}",)))
    return out


def build_from_images(folder, out, *, size: int = 128, val_fraction: float = 0.1,
                      seed: int = 0, progress: bool = True) -> dict:
    """Build a training cache in ``out`` from the colored pages under ``folder`` (see the
    module doc); returns its index."""
    if size < 16:
        raise DataError(f"--size must be at least 16, got {size}")
    if not 0 <= val_fraction < 1:
        raise DataError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    t0 = time.time()
    folder = Path(folder)
    files = list_images(folder)
    if not files:
        raise DataError(f"no PNG, JPEG or WebP pages under {str(folder)!r}")
    out = Path(out)
    if out.resolve() == folder.resolve():
        raise DataError("--out must not be the --images folder")
    out.mkdir(parents=True, exist_ok=True)

    skipped, duplicates, pages = [], [], {}      # pages: hash -> relative name
    for path in _progress(files, progress, desc="scan pages", unit="page"):
        name = path.relative_to(folder).as_posix()
        try:
            digest = page_hash(read_page(path))
        except (FastcolorError, OSError, ValueError) as e:
            skipped.append({"file": name, "error": str(e)})
            print(f"skipped {name}: {e}", flush=True)
            continue
        if digest in pages:
            duplicates.append({"file": name, "same_as": pages[digest]})
        else:
            pages[digest] = name
    if not pages:
        raise DataError(f"none of the {len(files)} image files under {str(folder)!r} "
                        f"could be read")
    val = split_pages(list(pages), val_fraction, seed)
    names = {s: sorted(pages[h] for h in pages if (h in val) == (s == "val")) for s in SPLITS}

    for old in list(out.glob("train-*.npz")) + list(out.glob("val-*.npz")):
        old.unlink()
    index = {
        "format": FORMAT, "size": size, "seed": seed, "val_fraction": val_fraction,
        "composition": "images", "fastcolor_version": __version__,
        "source": str(folder.resolve()),
        "outline": "extracted (Canny + dark pixels, outline.extract line_art=False)",
        "background": "estimated (evaluate.estimate_background)",
        "pages": {"files": len(files), "read": len(files) - len(skipped),
                  "used": len(pages), "duplicates": duplicates, "skipped": skipped,
                  **{s: len(names[s]) for s in SPLITS}},
        "splits": {},
    }
    for split in SPLITS:
        info = {"panels": 0, "shards": [], "pages": names[split],
                "pages_without_background": 0}
        index["splits"][split] = info
        buf, color_sum = [], np.zeros(3)

        def flush():
            name = f"{split}-{len(info['shards']):05d}.npz"
            write_shard(out / name, PanelSet.stack(buf))
            info["shards"].append(name)
            info["panels"] += len(buf)
            buf.clear()

        for name in _progress(names[split], progress, desc=f"{split} pages", unit="page"):
            try:
                panels = page_panels(read_page(folder / name), size, name)
            except (FastcolorError, OSError, ValueError) as e:   # changed since the scan
                skipped.append({"file": name, "error": str(e)})
                print(f"skipped {name}: {e}", flush=True)
                continue
            info["pages_without_background"] += not any(p.background.any() for p in panels)
            for p in panels:
                color_sum += p.color.reshape(-1, 3).mean(axis=0)
                buf.append(p)
                if len(buf) == SHARD_SIZE:
                    flush()
        if buf:
            flush()
        if split == "train" and info["panels"]:
            index["train_mean_color"] = [float(v) for v in color_sum / info["panels"]]
    index["build_seconds"] = round(time.time() - t0, 1)
    write_index(out, index)
    return index
