"""The studio's results: what a recolor needs of a colored page, kept in a bounded store.

A recolor changes the color of some regions and composes the page again
(``fastcolor.flats.paint_regions`` + ``compose``): no sampling, milliseconds. Results made
from one another share their region map and line art, and the store counts each array
once, so a long chain of recolors costs one image each.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InvalidInputError
from ..flats import compose, paint_regions

#: the arrays of a StoredResult that count against the store's bytes
_ARRAYS = ("image", "outline", "regions", "region_colors", "is_bg", "line_color", "hosts")


@dataclass
class StoredResult:
    """One colored page: ``image`` uint8 ``(H, W, 3)``, ``outline`` uint8 ``(H, W)`` (0 =
    ink); with flats ``regions`` int32 ``(H, W)``, ``region_colors`` uint8 ``(n, 3)`` and
    ``is_bg`` bool ``(n,)`` (the background regions, which the background color paints);
    without flats those three are None and the page cannot be recolored."""

    image: np.ndarray
    outline: np.ndarray
    background_color: tuple[int, int, int] | None
    seed: int
    regions: np.ndarray | None = None
    region_colors: np.ndarray | None = None
    is_bg: np.ndarray | None = None
    variants: list = field(default_factory=list)   # ids of the variants it was made with
    line_color: np.ndarray | None = None            # line art in colored ink: its colors
    hosts: np.ndarray | None = None     # the region each follows (hatching strips: their host)

    @classmethod
    def from_result(cls, result) -> "StoredResult":
        """From a ``fastcolor.ColorizeResult``."""
        if result.region_colors is None or result.flats is None:
            return cls(image=result.image, outline=result.outline, seed=result.seed,
                       background_color=result.background_color,
                       line_color=result.line_color)
        regions = result.regions
        is_bg = np.zeros(len(result.region_colors), bool)
        is_bg[regions[result.background_mask]] = True
        return cls(image=result.image, outline=result.outline, seed=result.seed,
                   background_color=result.background_color, regions=regions,
                   region_colors=result.region_colors, is_bg=is_bg,
                   line_color=result.line_color, hosts=result.region_hosts)

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    @property
    def has_flats(self) -> bool:
        return self.regions is not None

    def _need_flats(self, what: str) -> None:
        if not self.has_flats:
            raise InvalidInputError(f"{what} needs flats: this page was colored with flats "
                                    "off; color it again with flats on")

    def region_at(self, x: int, y: int) -> int:
        """The region under pixel ``(x, y)``."""
        self._need_flats("a click on a region")
        h, w = self.shape
        if not (0 <= x < w and 0 <= y < h):
            raise InvalidInputError(f"point ({x}, {y}) is outside the page ({w} x {h})")
        return int(self.regions[y, x])

    def recolor(self, points, colors, background=None) -> "StoredResult":
        """A new result: the region under each point ``(x, y)`` takes its color (RGB
        tuples, one per point), and so do the strips of hatching that follow it (a strip
        clicked itself is colored alone and follows nothing after); ``background`` (RGB
        or None) paints every background region. Shares ``regions`` and ``outline`` with
        this one."""
        self._need_flats("recoloring")
        palette = self.region_colors.copy()
        is_bg, bg_color = self.is_bg, self.background_color
        labels = [self.region_at(x, y) for x, y in points]
        if background is not None:
            if not is_bg.any():
                raise InvalidInputError("no background was found on this page: click the "
                                        "regions to color instead")
            palette[is_bg] = background
            bg_color = tuple(background)
        hosts = self.hosts
        if labels:
            is_bg = is_bg.copy()        # a region colored by hand is no longer background
            if hosts is not None:       # a strip clicked itself stops following its host
                hosts = hosts.copy()
                hosts[labels] = labels
            for label, color in zip(labels, colors):
                # the strips of hatching on a region follow it (fastcolor.flats.hatching)
                follow = [label] if hosts is None else np.flatnonzero(hosts == label)
                palette[follow] = color
                is_bg[follow] = False
        image = compose(paint_regions(self.regions, palette), self.outline, self.line_color)
        return replace(self, image=image, region_colors=palette, is_bg=is_bg, hosts=hosts,
                       background_color=bg_color if is_bg.any() else None, variants=[])

    def flats(self) -> np.ndarray:
        self._need_flats("the flats layer")
        return paint_regions(self.regions, self.region_colors)

    def to_result(self):
        """A ``fastcolor.ColorizeResult`` (for ``save``: layered files)."""
        from ..pipeline import ColorizeResult
        self._need_flats("a layered file")
        return ColorizeResult(image=self.image, lowres=None, outline=self.outline,
                              background_mask=self.is_bg[self.regions],
                              background_color=self.background_color, seed=self.seed,
                              flats=self.flats(), regions=self.regions,
                              region_colors=self.region_colors, line_color=self.line_color,
                              region_hosts=self.hosts)

    def arrays(self) -> list[np.ndarray]:
        return [a for a in (getattr(self, name) for name in _ARRAYS) if a is not None]


class StoreFullError(Exception):
    """One result is larger than the whole store."""


class ResultStore:
    """Results by unguessable id (``secrets.token_urlsafe``), at most ``max_count`` of
    them and ``max_bytes`` of arrays (an array shared by several results counted once);
    the least recently used go first, and a result unused for ``ttl_s`` seconds expires.
    Thread-safe."""

    def __init__(self, max_count: int = 256, max_bytes: int = 1 << 30, ttl_s: float = 3600.0,
                 clock=time.monotonic):
        if max_count < 1 or max_bytes < 1 or ttl_s <= 0:
            raise ValueError("max_count, max_bytes and ttl_s must be positive")
        self.max_count, self.max_bytes, self.ttl_s, self._clock = max_count, max_bytes, ttl_s, clock
        self._items: OrderedDict[str, tuple[StoredResult, float]] = OrderedDict()
        self._refs: dict[int, list] = {}    # id(array) -> [array, count]
        self._nbytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def __len__(self) -> int:
        return len(self._items)

    def _count(self, entry: StoredResult, step: int) -> None:
        for arr in entry.arrays():
            ref = self._refs.get(id(arr))
            if ref is None:
                ref = self._refs[id(arr)] = [arr, 0]
                self._nbytes += arr.nbytes
            ref[1] += step
            if ref[1] == 0:
                del self._refs[id(arr)]
                self._nbytes -= arr.nbytes

    def _drop(self, rid: str) -> None:
        entry, _ = self._items.pop(rid)
        self._count(entry, -1)

    def _expire(self, now: float) -> None:
        while self._items:
            rid, (_, used) = next(iter(self._items.items()))
            if now - used < self.ttl_s:
                break
            self._drop(rid)

    def new_id(self) -> str:
        return secrets.token_urlsafe(18)

    def put_many(self, entries: list[StoredResult]) -> list[str]:
        """Store ``entries`` (the variants of one page, or one recolor) and return their
        ids; older results make room."""
        own = {id(a): a.nbytes for e in entries for a in e.arrays()}
        if sum(own.values()) > self.max_bytes or len(entries) > self.max_count:
            raise StoreFullError(
                f"the result needs {sum(own.values()) / 2**20:.0f} MiB, more than this "
                f"server keeps ({self.max_bytes / 2**20:.0f} MiB): send a smaller page or "
                "ask for fewer variants")
        with self._lock:
            now = self._clock()
            self._expire(now)
            ids = [self.new_id() for _ in entries]
            for rid, entry in zip(ids, entries):
                self._items[rid] = (entry, now)
                self._count(entry, +1)
            while len(self._items) > self.max_count or self._nbytes > self.max_bytes:
                oldest = next(iter(self._items))
                if oldest in ids:
                    break                # cannot happen: checked above
                self._drop(oldest)
            return ids

    def get(self, rid: str) -> StoredResult | None:
        with self._lock:
            self._expire(self._clock())
            item = self._items.get(rid)
            if item is None:
                return None
            self._items[rid] = (item[0], self._clock())
            self._items.move_to_end(rid)
            return item[0]
