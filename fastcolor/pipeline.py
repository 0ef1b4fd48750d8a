"""``Pipeline``: line art in, colored page out (docs/design.md's steps end to end).

::

    pipe = fastcolor.Pipeline.from_pretrained("weights.safetensors")
    result = pipe("page.png", seed=1)          # ColorizeResult
    result.image                               # uint8 (H, W, 3), ink lines black on top
    variants = pipe("page.png", samples=4)     # list of 4 ColorizeResult
"""

from __future__ import annotations

import contextlib
import numbers
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from . import outline as outline_mod
from .backends import in_chunks, resolve_backend
from .config import FIGURE_COLORS, MAX_PRIOR_SATURATION, PRIOR_SATURATION, FastcolorConfig
from .dlmm import check_temperature, sample_noise
from .errors import InvalidInputError
from .flats import (compose, default_min_area, find_ink, find_regions, hint_region_colors,
                    ink_threshold, paint_regions, region_colors, region_is_background)
from .flats.balloons import find_balloons
from .flats.colors import region_samples
from .flats.consensus import PaintVotes, painted_regions
from .flats.hatching import sliver_hosts
from .flats.split import split_by_background
from .imageio import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, load_image, save_image, to_uint8
from .models import FastcolorModel
from .ops.dispatch import kernel_mode
from .panels import Box, blend_weights, find_panels, tile_box
from .weights import DEFAULT_WEIGHTS, load_state_into, load_weights, save_weights

_MAX_SEED = 2 ** 64 - 1  # the largest seed torch.Generator.manual_seed takes
MAX_CONSENSUS = 64       # voters per page (each one a sample through steps 3-6b)
MODEL_BATCH = 16         # tiles per model call (bounded memory on long strips)


@dataclass
class Hints:
    """Low-res color hints: ``colors`` uint8 ``(s, s, 3)``, ``mask`` bool ``(s, s)``;
    generation writes ``colors`` where ``mask`` is set instead of sampling."""

    colors: np.ndarray
    mask: np.ndarray

    @classmethod
    def from_image(cls, image, size: int) -> "Hints":
        """From an RGBA image of any size (path, PIL or array): a low-res cell is hinted
        when at least a quarter of it is opaque (alpha >= 0.5); its color is the mean of
        its opaque pixels."""
        arr = load_image(image)
        if arr.ndim != 3 or arr.shape[2] != 4:
            raise InvalidInputError("a hint image must be RGBA: opaque pixels are the hints")
        scale = 255.0 if arr.dtype == np.uint8 else 65535.0 if arr.dtype == np.uint16 else 1.0
        rgba = arr.astype(np.float32) / scale
        opaque = (rgba[..., 3] >= 0.5).astype(np.float32)
        premul = rgba[..., :3] * opaque[..., None]
        cover = cv2.resize(opaque, (size, size), interpolation=cv2.INTER_AREA)
        color = cv2.resize(premul, (size, size), interpolation=cv2.INTER_AREA)
        mask = cover >= 0.25
        colors = np.where(mask[..., None], color / np.maximum(cover, 1e-6)[..., None], 0)
        return cls(to_uint8(colors.astype(np.float32)), mask)

    def validate(self, size: int) -> None:
        c, m = np.asarray(self.colors), np.asarray(self.mask)
        if c.shape != (size, size, 3) or c.dtype != np.uint8:
            raise InvalidInputError(
                f"Hints.colors must be uint8 ({size}, {size}, 3), got {c.dtype} {c.shape}")
        if m.shape != (size, size) or m.dtype != np.bool_:
            raise InvalidInputError(f"Hints.mask must be bool ({size}, {size}), got {m.dtype} {m.shape}")


@dataclass
class ColorizeResult:
    """One colored page.

    image: uint8 ``(H, W, 3)``: the flats with the line art multiplied over them (or,
    with ``flats=False``, the polished colors with the ink on top);
    lowres: uint8 ``(s, s, 3)`` (the low-res sample, over the letterboxed page);
    background_mask: bool ``(H, W)`` (all False without the detector; with flats, the
    union of the background regions);
    background_color: the RGB painted on the background, or None when none was found;
    outline: uint8 ``(H, W)``, 0 = ink; seed: the seed the noise was drawn from;
    flats: uint8 ``(H, W, 3)``, every region its one color, no lines (None with
    ``flats=False``); regions: int32 ``(H, W)`` region labels ``0..n-1`` (None with
    ``flats=False`` and no hint strokes); region_colors: uint8 ``(n, 3)``, the color of
    each region (``flats == region_colors[regions]``); line_color: uint8 ``(H, W, 3)``,
    the color of line art drawn in colored ink (the lines are drawn in it), None for
    black ink; region_hosts: int64 ``(n,)``, the region whose color each region follows
    (a strip of hatching its host, ``fastcolor.flats.hatching``; every other region
    itself), None without flats; panels: the panel boxes
    (``fastcolor.panels.Box``) the page was colored by, in reading order; extras:
    ``sample_index``; ``outline``, how the outline was made (``inverted`` True for
    white-on-black art that was inverted, ``stretched`` for a scan or pencil put on
    clean paper, ``source``); ``tiles`` (the boxes the model colored); ``tile_lowres``
    (their low-res samples; ``lowres`` is the first); ``figure_colors`` ("prior" or
    "sample", step 3b) and, with "prior", ``figure_lowres`` (the first tile's low-res
    colors the figure was painted from, uint8 ``(s, s, 3)``); ``timings`` (seconds per step for
    the page: load, outline, panels, condition, generate, detect, polish, flats,
    compose; the model steps and flats labelling shared by all samples)."""

    image: np.ndarray
    lowres: np.ndarray
    background_mask: np.ndarray
    background_color: tuple[int, int, int] | None
    outline: np.ndarray
    seed: int
    flats: np.ndarray | None = None
    regions: np.ndarray | None = None
    region_colors: np.ndarray | None = None
    panels: list = field(default_factory=list)
    extras: dict = field(default_factory=dict, repr=False)
    line_color: np.ndarray | None = field(default=None, repr=False)
    region_hosts: np.ndarray | None = field(default=None, repr=False)

    def to_pil(self):
        from PIL import Image
        return Image.fromarray(self.image)

    def save(self, path) -> None:
        """Write the page to ``path``, by its extension: ``.png``, ``.jpg``, ``.jpeg`` the
        colored image; ``.psd`` (Photoshop) or ``.ora`` (OpenRaster) a layered file with
        the layers ``background``, ``flats`` and ``lines`` and ``image`` as its flattened
        image (``fastcolor.layers``; needs flats: a ``flats=False`` result raises
        ``InvalidInputError``). Any other extension raises ``InvalidInputError``. The file
        is written atomically (``fastcolor.atomic``)."""
        from .layers import save_result
        save_result(path, self)


@dataclass
class Tile:
    """One model input: a piece of a panel letterboxed into the model's square.

    panel: index of its panel in ``Page.panels``; box: where it lies on the page;
    square: float32 ``(S, S)`` ink (1 = ink), padded with paper; inner: ``(top, left, h,
    w)`` of the box's pixels inside the square."""

    panel: int
    box: Box
    square: np.ndarray
    inner: tuple[int, int, int, int]


@dataclass
class Page:
    """One page on its way through the pipeline (step 1's output).

    gray: uint8 ``(H, W)``, the line art as drawn (0 = ink, 255 = paper); panels: the panel
    boxes in reading order (``fastcolor.panels``; the whole page with ``panels=False``);
    tiles: the model inputs, panel by panel (a panel far from square is cut into
    overlapping tiles); regions: int32 ``(H, W)`` flat regions (None when not needed);
    region_ink: bool ``(H, W)``, the ink the regions were cut by; region_facts: what step
    6b found about ``regions`` ("hosts", "balloons"), kept for every sample; strokes: uint8 RGBA
    ``(H, W, 4)`` page-sized hint strokes, or None; hinted: the regions they touch and
    their colors (``fastcolor.flats.hint_region_colors``), or None; min_area: the
    smallest region the flats keep (``find_regions``' own default when not given); info:
    how the outline was made
    (``fastcolor.outline.extract_with_info``); ink: uint8 ``(H, W, 3)``, the color of
    line art drawn in colored ink (``fastcolor.outline.ink_colors``), None for black ink;
    timings: seconds per step so far."""

    gray: np.ndarray
    panels: list
    tiles: list
    ink: np.ndarray | None = None
    regions: np.ndarray | None = None
    region_ink: np.ndarray | None = None
    region_facts: dict = field(default_factory=dict)
    strokes: np.ndarray | None = None
    hinted: tuple | None = None
    min_area: int = 16
    info: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def parse_color(color) -> tuple[int, int, int]:
    """``(r, g, b)`` ints 0..255, ``"r,g,b"`` or ``"#rrggbb"`` -> ``(r, g, b)``."""
    if isinstance(color, str):
        s = color.strip()
        if re.fullmatch(r"#?[0-9a-fA-F]{6}", s):
            s = s.lstrip("#")
            return tuple(int(s[i:i + 2], 16) for i in (0, 2, 4))
        parts = s.split(",")
    else:
        parts = list(color) if isinstance(color, (tuple, list, np.ndarray)) else None
    try:
        if parts is None or len(parts) != 3:
            raise ValueError
        rgb = tuple(int(p) for p in parts)
        if any(isinstance(p, float) and not float(p).is_integer() for p in parts):
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"a color must be three integers 0..255 ('R,G,B', '#rrggbb' or a tuple), got {color!r}") from None
    if any(v < 0 or v > 255 for v in rgb):
        raise InvalidInputError(f"color components must be in 0..255, got {rgb}")
    return rgb


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    shrink = width * height < arr.shape[0] * arr.shape[1]
    return cv2.resize(arr, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@contextlib.contextmanager
def _timed(timings: dict, step: str):
    """Add the wall time of the ``with`` block to ``timings[step]`` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - start


def letterbox(image: np.ndarray, size: int, nearest: bool = False, fill=0):
    """``image`` ``(H, W)`` or ``(H, W, C)`` fitted undistorted into ``size x size``: the
    longer side scaled to ``size`` (area average / bilinear, or ``nearest`` for layers whose
    colors must stay exact), centered, the rest ``fill`` (0: paper for an ink map,
    transparent for RGBA; 255: paper for a gray page). Returns ``(square, (top, left, h,
    w))``, the box the image fills inside the square."""
    H, W = image.shape[:2]
    longer = max(H, W)
    h, w = max(1, round(H * size / longer)), max(1, round(W * size / longer))
    top, left = (size - h) // 2, (size - w) // 2
    square = np.full((size, size) + image.shape[2:], fill, image.dtype)
    fitted = cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST) if nearest \
        else _resize(image, w, h)
    square[top:top + h, left:left + w] = fitted.reshape((h, w) + image.shape[2:])
    return square, (top, left, h, w)


def to_uint8_rgb(colors: torch.Tensor) -> np.ndarray:
    """Colors ``(3, h, w)`` in [-1, 1] -> uint8 ``(h, w, 3)`` (the model's 8-bit levels)."""
    return torch.round((colors + 1) * 127.5).clamp(0, 255).to(torch.uint8) \
        .permute(1, 2, 0).cpu().numpy()


class Pipeline:
    """The fastcolor pipeline: outline -> low-res sample -> background -> polished page.

    Build it with ``from_pretrained(path)`` (or no path: the shipped default weights),
    ``random(config, seed)`` (untrained, for tests), or from a ``FastcolorModel``.
    ``backend``: see ``fastcolor.backends`` ("auto" picks the fastest one present);
    ``backend_options`` go to it (e.g. ``engine_dir=`` for TensorRT).
    """

    def __init__(self, model: FastcolorModel | None = None, *, backend: str = "auto",
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 weights_sha256: str | None = None, **backend_options):
        from .backends import check_device, parse_device
        if dtype not in (torch.float32, torch.float64):
            raise InvalidInputError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if model is not None and not isinstance(model, FastcolorModel):
            raise InvalidInputError(
                f"model must be a FastcolorModel or None, got {type(model).__name__}; to load "
                f"a weights file use Pipeline.from_pretrained(path)")
        model = model if model is not None else FastcolorModel(FastcolorConfig())
        device = parse_device(device)          # 'bogus' -> InvalidInputError
        self.dtype = dtype
        self.backend = resolve_backend(backend, device, **backend_options)
        self.device = check_device(device)     # CUDA asked for where there is none
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.config: FastcolorConfig = model.config
        self.weights_sha256 = weights_sha256
        # backends that run exported graphs (onnxruntime, tensorrt) need the weights and
        # their sha256 (the key of their export cache / the check of their engines)
        bind = getattr(self.backend, "bind", None)
        if bind is not None:
            bind(self.model, weights_sha256)

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path=None, *, sha256: str | None = None, **kwargs) -> "Pipeline":
        """Load weights saved by ``save_pretrained`` (``path`` None: the shipped defaults)."""
        if path is None:
            path = DEFAULT_WEIGHTS
            if not Path(path).is_file():
                from .errors import WeightsNotFoundError
                raise WeightsNotFoundError(
                    f"this fastcolor installation lacks its default weights ({path}); "
                    "reinstall it, or pass a weights file (fastcolor colorize --weights W, "
                    "Pipeline.from_pretrained(path))")
        config, tensors, digest = load_weights(path, expected_sha256=sha256)
        model = FastcolorModel(config)
        stored = next((t.dtype for t in tensors.values() if t.is_floating_point()), None)
        if stored in (torch.float32, torch.float64):
            model = model.to(stored)   # load without rounding; __init__ casts to `dtype`
        load_state_into(model, tensors, source=f"weights {str(path)!r}")
        return cls(model, weights_sha256=digest, **kwargs)

    @classmethod
    def random(cls, config: FastcolorConfig | None = None, seed: int = 0, **kwargs) -> "Pipeline":
        """Untrained weights drawn from ``seed`` (tests, benchmarks, shape checks)."""
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
        torch.manual_seed(int(seed))
        return cls(FastcolorModel(config or FastcolorConfig()), **kwargs)

    def save_pretrained(self, path) -> str:
        """Write the weights (safetensors + config + sha256); returns the sha256."""
        self.weights_sha256 = save_weights(self.model, path)
        return self.weights_sha256

    # ---- inputs ---------------------------------------------------------------------
    def _load_outline(self, item, extract_outline, timings=None):
        """Anything the pipeline takes -> (the line art's 8-bit gray, uint8 ``(H, W)``,
        0 = ink; what was done to get it: ``fastcolor.outline.extract_with_info``'s info, e.g.
        ``inverted`` for white-on-black art, ``stretched`` for a scan or pencil; the ink's
        colors, uint8 ``(H, W, 3)``, for line art drawn in colored ink, else None).

        The float convention: numpy arrays, PIL images and files are *images*, as in every
        image library: float 1.0 (uint8 255) is white paper. Torch tensors are *outlines*:
        float, 1.0 = ink. So ``torch.from_numpy(page)`` would be the page inverted; such a
        tensor (more than half ink: no line art is) is refused with an error that says to
        pass the numpy array itself, or ``1 - tensor``. A real outline that is mostly ink
        can be passed as an image (uint8, 0 = ink) with ``extract_outline=False``."""
        if isinstance(item, torch.Tensor):
            if item.is_meta or item.layout != torch.strided:
                where = "on the meta device (it has no values)" if item.is_meta \
                    else f"{item.layout} (not dense)"
                raise InvalidInputError(
                    f"an outline tensor must be a dense tensor with values; this one is "
                    f"{where}: pass a dense CPU or CUDA tensor, a numpy array or a file")
            t = item.detach()
            if t.dim() == 3 and t.shape[0] == 1:
                t = t[0]
            if t.dim() != 2 or not t.is_floating_point():
                raise InvalidInputError(
                    f"a tensor input is an outline: float (H, W) or (1, H, W) in [0, 1] with "
                    f"1 = ink, got {t.dtype} {tuple(item.shape)}; pass an image (1 or 255 = "
                    f"paper) as a numpy array (tensor.numpy()), a PIL image or a file")
            h, w = t.shape
            if h == 0 or w == 0:
                raise InvalidInputError(f"outline has 0 pixels: {tuple(t.shape)}")
            if h * w > MAX_IMAGE_PIXELS or max(h, w) > MAX_IMAGE_SIDE:
                from .errors import ImageTooLargeError
                raise ImageTooLargeError(f"outline of {w} x {h} exceeds the limit of "
                                         f"{MAX_IMAGE_PIXELS} pixels / {MAX_IMAGE_SIDE} per side")
            if not bool(torch.isfinite(t).all()) or float(t.min()) < 0 or float(t.max()) > 1:
                raise InvalidInputError("an outline tensor must hold finite values in [0, 1]")
            mean = float(t.mean())
            if mean > 0.5:
                raise InvalidInputError(
                    f"this outline tensor is {mean:.0%} ink (tensors are outlines with 1 = "
                    f"ink): it looks like an image with 1 = paper, e.g. torch.from_numpy(page). "
                    f"Pass the numpy array itself (images: 1.0 = paper), or 1 - tensor if it "
                    f"is an outline with 1 = paper")
            gray = torch.round((1 - t.to(torch.float32)) * 255).to(torch.uint8)
            return gray.cpu().numpy(), {"source": "outline tensor"}, None
        if not (isinstance(extract_outline, (bool, np.bool_)) or (
                isinstance(extract_outline, str) and extract_outline == "auto")):
            raise InvalidInputError(f"extract_outline must be 'auto', True or False, got {extract_outline!r}")
        line_art = "auto" if isinstance(extract_outline, str) else not bool(extract_outline)
        timings = {} if timings is None else timings
        with _timed(timings, "load"):
            arr = load_image(item)
        with _timed(timings, "outline"):
            gray, info = outline_mod.extract_with_info(arr, line_art=line_art)
            ink = outline_mod.ink_colors(arr, gray) if info.get("colored_lines") else None
        return gray, info, ink

    def _lowres_hints(self, page: Page, hints, count: int):
        """Per tile: ``Hints`` as given, or the low-res grid of the regions the page's
        hint strokes color (letterboxed like the tile) -> (colors (count * T, 3, s, s) in
        [-1, 1], mask (count * T, s, s)) ordered like the model's batch, or (None, None)."""
        s = self.config.lowres_size
        if page.strokes is None and hints is None:
            return None, None
        grids = []
        if page.strokes is not None:
            layer = self._hinted_regions_layer(page)
            for tile in page.tiles:
                grids.append(Hints.from_image(self._letterbox_tile(layer, tile), s))
        else:
            grids = [hints] * len(page.tiles)
        colors, masks = [], []
        for grid in grids:
            grid.validate(s)
            colors.append(torch.from_numpy(np.ascontiguousarray(grid.colors)).permute(2, 0, 1))
            masks.append(torch.from_numpy(np.ascontiguousarray(grid.mask)))
        colors = torch.stack(colors).to(self.dtype) / 127.5 - 1
        masks = torch.stack(masks)
        return (colors.repeat(count, 1, 1, 1).to(self.device),
                masks.repeat(count, 1, 1).to(self.device))

    def _letterbox_tile(self, image: np.ndarray, tile: Tile, nearest: bool = True) -> np.ndarray:
        return letterbox(image[tile.box.slice], self.config.image_size, nearest=nearest)[0]

    @staticmethod
    def _hinted_regions_layer(page: Page) -> np.ndarray:
        """RGBA ``(H, W, 4)``: the regions the strokes touch filled with their color,
        transparent elsewhere."""
        regions, colors = page.hinted
        layer = np.zeros((int(page.regions.max()) + 1, 4), np.uint8)
        layer[regions, :3] = colors
        layer[regions, 3] = 255
        return layer[page.regions]

    @staticmethod
    def _load_strokes(hints) -> np.ndarray:
        """The hint image (path, PIL or array), once per call: RGBA uint8 ``(h, w, 4)``."""
        arr = load_image(hints)
        if arr.ndim != 3 or arr.shape[2] != 4:
            raise InvalidInputError("a hint image must be RGBA: opaque pixels are the hints")
        if arr.dtype != np.uint8:
            scale = 65535.0 if arr.dtype == np.uint16 else 1.0
            arr = to_uint8(arr.astype(np.float32) / np.float32(scale))
        return arr

    @staticmethod
    def _page_strokes(hints, shape) -> np.ndarray | None:
        """The stroke layer (from :meth:`_load_strokes`) at the page's size (None for
        ``Hints`` / None)."""
        if hints is None or isinstance(hints, Hints):
            return None
        arr = hints
        H, W = shape
        h, w = arr.shape[:2]
        if (h, w) != (H, W):
            if abs(h * W - w * H) > max(h, w, H, W):      # not the page's shape
                raise InvalidInputError(
                    f"the hint image is {w} x {h} but the page is {W} x {H}: draw the hint "
                    "strokes on a transparent layer of the page's size (or its shape), or "
                    "pass low-res fastcolor.Hints")
            arr = cv2.resize(arr, (W, H), interpolation=cv2.INTER_NEAREST)
        return arr

    # ---- the pipeline ---------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, images, *, seed: int | None = None, samples: int = 1, hints=None,
                 background=None, detect_background: bool = True, temperature: float = 1.0,
                 threshold: float = 0.5, extract_outline="auto", flats: bool = True,
                 gap: int | None = None, min_area: int | None = None, panels: bool = True,
                 palette=None, split: bool = True, balloons: bool = True,
                 consensus: int = 1, figure_colors: str = "auto",
                 prior_saturation: float = PRIOR_SATURATION):
        """Color one page or a list of pages.

        images: a path, PIL image, numpy array (gray/RGB/RGBA, uint8/uint16/float in
        [0, 1]; a colored or shaded page is turned into its outline first) or a float
        outline tensor (H, W) or (1, H, W) in [0, 1] with 1 = ink; or a list of these;
        a (B, 1, H, W) outline tensor counts as a list of B outlines.
        seed: image ``i`` of a list draws its noise from ``seed + i`` (None: a random seed,
        recorded in the result). samples: variants per image.
        hints: an RGBA image of the page's size (or shape): strokes or dots on a
        transparent layer; every region a stroke touches takes that stroke's color
        exactly, and the hinted regions condition the low-res sample; or low-res
        ``Hints`` (a color per cell of the ``s x s`` grid over the letterboxed page).
        background: RGB for the detected background (default: its mean low-res color).
        detect_background=False: the paper's ablation (no detector).
        flats: every closed region of the line art one color (``fastcolor.flats``; ``gap``
        and ``min_area`` as in ``fastcolor.flats.find_regions``); False: the polished
        colors as they are (soft).
        split: with flats and the detector, a large region the detector sees as part
        background and part figure (line art that does not close) is cut along its mask,
        each part flat (``fastcolor.flats.split``); False: regions stay as the lines cut
        them.
        balloons: with flats, speech balloons (closed rounded shapes holding a line of
        lettering, ``fastcolor.flats.balloons``) stay white; False: the model colors
        them like any region. Hint strokes override it.
        consensus: with flats, this many samples of the page vote (step 6c,
        ``fastcolor.flats.consensus``; all ``samples`` when they are more): a figure
        region keeps its color only where most of them paint it, else it stays white
        paper; the samples beyond ``samples`` are drawn for the vote only (sample ``n`` is
        the same sample whatever the count). 1: no vote.
        panels: color the page panel by panel (``fastcolor.panels``: paper gutters; a
        panel far from square in overlapping tiles), each letterboxed into the model's
        square; gutters and margins stay white paper. Panel ``k`` draws its noise from
        ``seed + k``. False: the whole page is one panel.
        palette: a list of colors or an image whose flat colors form the palette
        (``fastcolor.palette``): every region color the model chose snaps to the nearest
        palette color (CIEDE2000); hint-stroke and background colors stay. Needs flats.
        figure_colors: where the figure's colors come from (step 3b): "prior" the color
        prior's (``models.color_prior``; the same for every seed and sample, which then
        differ in the background), "sample" the low-res sample's (the paper's: every
        sample its own colors), "auto" the prior's for weights that have one.
        prior_saturation: with the prior's colors, their saturation gain (0: gray, 1: as
        the prior says; the default was chosen on validation panels), at most 4.

        Returns a ``ColorizeResult`` (one image, samples=1), a list of ``samples`` results
        (one image), or a list of those (a list of images)."""
        if isinstance(images, torch.Tensor) and images.dim() == 4:
            if images.shape[1] != 1:
                raise InvalidInputError(
                    f"a 4-D outline tensor must be (B, 1, H, W), got {tuple(images.shape)}")
            images = list(images)          # a batch of outlines: one result each
        single = not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        if not items:
            raise InvalidInputError("no images given")
        if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 1:
            raise InvalidInputError(f"samples must be an integer >= 1, got {samples!r}")
        samples = int(samples)
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
        seed = int(seed)
        if seed + len(items) - 1 > _MAX_SEED:  # image i uses seed + i; torch takes < 2**64
            raise InvalidInputError(
                f"seed must be at most {_MAX_SEED - len(items) + 1} for {len(items)} image(s) "
                f"(image i draws from seed + i, which must fit in 64 bits), got {seed}")
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
            raise InvalidInputError(f"temperature must be a number >= 0, got {temperature!r}")
        check_temperature(temperature)
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
                or not 0 < threshold < 1:
            raise InvalidInputError(f"threshold must be in (0, 1), got {threshold!r}")
        for name, value in (("flats", flats), ("panels", panels), ("split", split),
                            ("balloons", balloons)):
            if not isinstance(value, (bool, np.bool_)):
                raise InvalidInputError(f"{name} must be True or False, got {value!r}")
        for name, value in (("gap", gap), ("min_area", min_area)):
            if value is not None and (isinstance(value, bool) or
                                      not isinstance(value, numbers.Integral) or value < 0):
                raise InvalidInputError(f"{name} must be an integer >= 0 or None, got {value!r}")
        if isinstance(consensus, bool) or not isinstance(consensus, numbers.Integral) \
                or not 1 <= consensus <= MAX_CONSENSUS:
            raise InvalidInputError(
                f"consensus must be an integer in 1..{MAX_CONSENSUS}, got {consensus!r}")
        figure_colors = self.resolve_figure_colors(figure_colors, prior_saturation)
        bg_rgb = None if background is None else parse_color(background)
        if isinstance(hints, Hints):
            hints.validate(self.config.lowres_size)
        elif hints is not None:
            hints = self._load_strokes(hints)           # read once for every page
        lock = None
        if palette is not None:
            from .palette import parse_palette
            if not flats:
                raise InvalidInputError("palette= snaps region colors: it needs flats=True")
            lock = parse_palette(palette)
        options = dict(lock=lock, samples=samples, hints=hints, bg_rgb=bg_rgb,
                       detect_background=detect_background, temperature=temperature,
                       threshold=threshold, flats=bool(flats), gap=gap, min_area=min_area,
                       panels=bool(panels), split=bool(split), balloons=bool(balloons),
                       consensus=int(consensus), figure_colors=figure_colors,
                       prior_saturation=float(prior_saturation))
        results = []
        for i, item in enumerate(items):
            page = self._prepare(item, extract_outline, **options)
            results.append(self._colorize_page(page, seed + i, **options))
        results = [r[0] if samples == 1 else r for r in results]
        return results[0] if single else results

    def _colorize_page(self, page: Page, seed: int, *, samples, hints, bg_rgb,
                       detect_background, temperature, threshold, flats, lock=None,
                       split=True, balloons=True, consensus=1, figure_colors="sample",
                       prior_saturation=PRIOR_SATURATION, **_):
        """Steps 2-7 for one prepared page -> ``samples`` results. The model runs on every
        tile of every panel (``drawn x tiles`` inputs, in chunks of ``MODEL_BATCH``;
        ``drawn``: ``samples``, or the ``consensus`` voters when more)."""
        T, clock = len(page.tiles), page.timings
        drawn = max(samples, consensus) if flats else samples
        with kernel_mode(self.backend.kernel_mode):    # "reference": pure PyTorch everywhere
            outline = self._condition_input(page, drawn)                # (drawn * T, 1, S, S)
            with _timed(clock, "condition"):                                             # 2
                cond, prior = self._batched(
                    lambda o: self._condition(o, with_prior=figure_colors == "prior"),
                    outline[:T])
                cond = cond.repeat(drawn, 1, 1, 1)
            with _timed(clock, "generate"):
                hint_grid = self._lowres_hints(page, hints, drawn)
                lowres = self._generate(cond, seed, page, hint_grid, temperature, drawn)  # 3
                figure = self._figure_colors(lowres, prior, hint_grid, figure_colors,    # 3b
                                             prior_saturation, drawn)
            with _timed(clock, "detect"):
                colors, prob, mask, bg = self._detect(outline, lowres, figure, page,     # 4
                                                      bg_rgb, detect_background, threshold,
                                                      drawn)
            with _timed(clock, "polish"):
                polished = self._batched(self._polish, outline, colors, mask)            # 5
        votes = PaintVotes(page.regions) if flats and consensus > 1 else None
        kept = []                              # per returned sample: (fields, bg, flats)
        for n in range(drawn):
            part = slice(n * T, (n + 1) * T)
            with _timed(clock, "compose"):
                fields = self._panel_fields(page, polished[part], prob[part, 0])
            bg_color = self._background_color(bg, mask[part], n)
            flat = None
            if flats:
                with _timed(clock, "flats"):
                    regions = self._split_regions(page, fields, bg_color,           # 6a
                                                  detect_background and split, threshold)
                    palette, is_bg = self._flats(page, regions, fields, bg_color,   # 6b
                                                 detect_background, threshold, lock,
                                                 balloons)
                    if votes is not None:
                        votes.add(regions, painted_regions(palette))
                flat = (regions, palette, is_bg)
            if n < samples:
                kept.append((fields, bg_color, flat))
        if votes is not None:
            with _timed(clock, "flats"):                                            # 6c
                kept = [(f, b, self._consensus(page, flat, votes)) for f, b, flat in kept]
        out = []
        for n, (fields, bg_color, flat) in enumerate(kept):
            part = slice(n * T, (n + 1) * T)
            if flats:
                regions, palette, is_bg = flat
                with _timed(clock, "flats"):
                    palette, hosts = self._host_strips(page, regions, palette, is_bg)
                with _timed(clock, "compose"):
                    result = self._compose_flats(page, regions, palette, is_bg,     # 7
                                                 bg_color, hosts)
            else:
                with _timed(clock, "compose"):
                    result = self._compose_soft(page, fields, bg_color,             # 7
                                                detect_background, threshold)
            result.lowres, result.seed = self._lowres_u8(lowres[n * T]), seed
            result.panels = list(page.panels)
            result.extras = {"sample_index": n, "outline": dict(page.info),
                             "tiles": [t.box for t in page.tiles],
                             "tile_lowres": [self._lowres_u8(x) for x in lowres[part]],
                             "figure_colors": figure_colors, "timings": clock}
            if figure is not lowres:
                result.extras["figure_lowres"] = self._lowres_u8(figure[n * T])
            out.append(result)
        return out

    def resolve_figure_colors(self, figure_colors, prior_saturation) -> str:
        """``figure_colors`` resolved to "prior" or "sample". InvalidInputError for a value
        not in ``FIGURE_COLORS``, for "prior" with weights that have no color prior, and for
        a ``prior_saturation`` outside 0..``MAX_PRIOR_SATURATION``."""
        if not isinstance(figure_colors, str) or figure_colors not in FIGURE_COLORS:
            raise InvalidInputError(f"figure_colors must be one of {', '.join(FIGURE_COLORS)}, "
                                    f"got {figure_colors!r}")
        has_prior = self.model.lowres.prior is not None
        if figure_colors == "prior" and not has_prior:
            raise InvalidInputError(
                "figure_colors='prior': these weights have no color prior (config "
                "conditioning.prior_widths); use 'sample' or 'auto'")
        if isinstance(prior_saturation, bool) or not isinstance(prior_saturation, numbers.Real) \
                or not 0 <= prior_saturation <= MAX_PRIOR_SATURATION:
            raise InvalidInputError(f"prior_saturation must be a number in 0..{MAX_PRIOR_SATURATION:g}"
                                    f", got {prior_saturation!r}")
        if figure_colors == "auto":
            return "prior" if has_prior else "sample"
        return figure_colors

    def _batched(self, step, *tensors: torch.Tensor):
        """``step`` over the first axis in chunks of ``MODEL_BATCH`` (bounded memory for
        pages with many tiles); a step returning a tuple gets each output concatenated."""
        return in_chunks(step, tensors, MODEL_BATCH)

    # ---- 1. prepare ---------------------------------------------------------------------
    def _prepare(self, item, extract_outline, *, hints, flats, gap, min_area, panels,
                 **_) -> Page:
        """Load the page, find its panels and cut them into tiles letterboxed into the
        model's square and, when flats or hint strokes need them, find its regions."""
        timings = {}
        gray, info, ink = self._load_outline(item, extract_outline, timings)
        H, W = gray.shape
        with _timed(timings, "panels"):
            boxes = find_panels(gray) if panels else []
        if len(boxes) <= 1:                   # one panel: the whole page, margins included
            boxes = [Box(0, 0, H, W)]
        tiles = []
        for k, box in enumerate(boxes):
            for tb in tile_box(box):
                small, inner = letterbox(gray[tb.slice], self.config.image_size, fill=255)
                square = (255 - small.astype(np.float32)) / np.float32(255)     # 1 = ink
                tiles.append(Tile(k, tb, np.clip(square, 0, 1), inner))
        page = Page(gray=gray, panels=boxes, tiles=tiles, ink=ink, info=info, timings=timings)
        page.strokes = self._page_strokes(hints, gray.shape)
        if flats or page.strokes is not None:
            with _timed(timings, "flats"):
                threshold = ink_threshold(gray)
                page.region_ink = find_ink(gray, threshold)
                page.regions = find_regions(gray, gap=gap, min_area=min_area,
                                            threshold=threshold)
                page.min_area = (default_min_area(*gray.shape) if min_area is None
                                 else int(min_area))
        if page.strokes is not None:
            page.hinted = hint_region_colors(page.regions, page.strokes)
        return page

    def _condition_input(self, page: Page, samples: int) -> torch.Tensor:
        squares = torch.from_numpy(np.stack([t.square for t in page.tiles]))[:, None]
        return squares.to(self.device, self.dtype).repeat(samples, 1, 1, 1)

    # ---- 2. condition -------------------------------------------------------------------
    def _condition(self, outline: torch.Tensor, with_prior: bool):
        """Outline ``(n, 1, S, S)`` -> (conditioning features ``(n, C, s, s)``, the color
        prior's colors ``(n, 3, s, s)`` in about [-1, 1], or None when step 3b does not
        paint with them)."""
        if with_prior:
            return self.backend.condition_and_prior(self.model.lowres, outline)
        return self.backend.condition(self.model.lowres, outline), None

    # ---- 3. generate --------------------------------------------------------------------
    def _noise(self, page: Page, seed: int, samples: int) -> torch.Tensor:
        """Uniform noise ``(samples * T, K + 3, s, s)``: panel ``k`` draws its tiles' noise
        from ``seed + k`` (mod 2**64), so a panel colored alone with that seed comes out
        the same; sample ``n`` of tile ``j`` is row ``n * T_k + j`` of the panel's draw."""
        cfg, s = self.config, self.config.lowres_size
        T = len(page.tiles)
        noise = torch.empty(samples * T, cfg.pixelcnn.mixtures + 3, s, s, dtype=self.dtype)
        for k in range(len(page.panels)):
            idx = [i for i, t in enumerate(page.tiles) if t.panel == k]
            gen = torch.Generator().manual_seed((seed + k) % 2 ** 64)
            draw = sample_noise(samples * len(idx), cfg.pixelcnn.mixtures, s, s, generator=gen,
                                dtype=self.dtype)
            for n in range(samples):
                noise[[n * T + i for i in idx]] = draw[n * len(idx):(n + 1) * len(idx)]
        return noise.to(self.device)

    def _generate(self, cond, seed, page, hint_grid, temperature, samples) -> torch.Tensor:
        """The low-res samples ``(samples * T, 3, s, s)`` in [-1, 1]; ``hint_grid``: what
        ``_lowres_hints`` returns for the page."""
        noise = self._noise(page, seed, samples)
        hint_colors, hint_mask = hint_grid
        pixelcnn = self.model.lowres.pixelcnn

        def run(c, z, *h):
            return self.backend.generate(pixelcnn, c, noise=z, hints=h[0] if h else None,
                                         hint_mask=h[1] if h else None,
                                         temperature=temperature)
        if hint_colors is None:
            return self._batched(run, cond, noise)
        return self._batched(run, cond, noise, hint_colors, hint_mask)

    @staticmethod
    def _figure_colors(lowres, prior, hint_grid, mode: str, saturation: float,
                       samples: int) -> torch.Tensor:
        """3b. The low-res colors ``(samples * T, 3, s, s)`` in [-1, 1] the polisher paints
        the figure (all but the detected background) from: ``mode`` "sample" the samples'
        own (the paper's); "prior" the color prior's, saturation scaled by ``saturation``
        (``m + g (c - m)``, ``m`` the mean of a cell's three channels; clamped), the same
        for every sample, the cells of hints keeping the hints' colors. The samples still
        pick the background and its color (step 4)."""
        if mode == "sample":
            return lowres
        gray = prior.mean(dim=1, keepdim=True)
        colors = (gray + saturation * (prior - gray)).clamp(-1, 1).repeat(samples, 1, 1, 1)
        hint_colors, hint_mask = hint_grid
        if hint_colors is not None:
            colors = torch.where(hint_mask[:, None], hint_colors, colors)
        return colors.to(lowres.dtype)

    # ---- 4. detect ----------------------------------------------------------------------
    def _detect(self, outline, lowres, figure, page, bg_rgb, detect_background, threshold,
                samples):
        """Background probability and mask ``(samples * T, 1, S, S)`` from the low-res
        samples; the colors the polisher gets (the figure's low-res colors of step 3b
        upsampled, the background one 8-bit color); ``bg`` ``(samples, 3)`` in [-1, 1]:
        one background color per page and sample (the mean low-res sample color under the
        mask over all its tiles, letterbox padding left out), or None without the
        detector."""
        S = self.config.image_size
        up = F.interpolate(lowres, size=(S, S), mode="bilinear", align_corners=False)
        up_figure = up if figure is lowres else F.interpolate(
            figure, size=(S, S), mode="bilinear", align_corners=False)
        if not detect_background:
            prob = torch.zeros(up.shape[0], 1, S, S, dtype=self.dtype, device=self.device)
            return up_figure, prob, prob > threshold, None
        prob = self._batched(lambda o, u: self.backend.detect(self.model.detector, o, u),
                             outline, up)
        mask = (prob > threshold) & self._inside(page, samples)
        if bg_rgb is not None:
            mean = torch.tensor(bg_rgb, dtype=self.dtype, device=self.device) / 127.5 - 1
            mean = mean.expand(samples, 3)
        else:
            T = len(page.tiles)
            total = (up * mask).sum(dim=(2, 3)).view(samples, T, 3).sum(1)
            area = mask.sum(dim=(2, 3)).view(samples, T, 1).sum(1)
            mean = total / area.clamp(min=1)
        bg = torch.round((mean + 1) * 127.5) / 127.5 - 1                # an exact 8-bit color
        bg_tiles = bg.repeat_interleave(len(page.tiles), dim=0)
        return torch.where(mask, bg_tiles[:, :, None, None], up_figure), prob, mask, bg

    def _inside(self, page: Page, samples: int) -> torch.Tensor:
        """bool ``(samples * T, 1, S, S)``: the page's pixels of each square (not padding)."""
        S = self.config.image_size
        inside = torch.zeros(len(page.tiles), 1, S, S, dtype=torch.bool)
        for i, t in enumerate(page.tiles):
            top, left, h, w = t.inner
            inside[i, :, top:top + h, left:left + w] = True
        return inside.repeat(samples, 1, 1, 1).to(self.device)

    @staticmethod
    def _background_color(bg, mask, n: int):
        if bg is None or not bool(mask.any()):
            return None
        return tuple(int(v) for v in torch.round((bg[n] + 1) * 127.5).tolist())

    # ---- 5. polish ----------------------------------------------------------------------
    def _polish(self, outline, colors, mask) -> torch.Tensor:
        """Polished colors ``(n, 3, S, S)`` in [-1, 1]."""
        return self.backend.polish(self.model.polisher, outline, colors, mask.to(self.dtype))

    @staticmethod
    def _panel_fields(page: Page, polished, prob) -> list:
        """Per panel ``(box, rgb, probability)``: its tiles' polished colors (float32
        ``(h, w, 3)`` in [0, 1]) and background probability ``(h, w)`` cropped out of
        their squares and blended (linear cross-fades over the overlaps) at the model's
        scale of the panel."""
        fields = []
        for k, box in enumerate(page.panels):
            idx = [i for i, t in enumerate(page.tiles) if t.panel == k]
            first = page.tiles[idx[0]]
            scale = first.inner[2] / first.box.height
            fh, fw = max(1, round(box.height * scale)), max(1, round(box.width * scale))
            acc = np.zeros((fh, fw, 4), np.float32)
            places = []                             # the tiles at the field's scale
            for t in (page.tiles[i] for i in idx):
                y0 = min(fh - 1, round((t.box.top - box.top) * scale))
                x0 = min(fw - 1, round((t.box.left - box.left) * scale))
                y1 = max(y0 + 1, min(fh, round((t.box.bottom - box.top) * scale)))
                x1 = max(x0 + 1, min(fw, round((t.box.right - box.left) * scale)))
                places.append(Box(y0, x0, y1 - y0, x1 - x0))
            weights = blend_weights(Box(0, 0, fh, fw), places)   # sum to 1: no normalizing
            for i, place, w in zip(idx, places, weights):
                top, left, h, wd = page.tiles[i].inner
                rgb = ((polished[i, :, top:top + h, left:left + wd] + 1) / 2).clamp(0, 1)
                both = torch.cat([rgb, prob[i:i + 1, top:top + h, left:left + wd]])
                piece = _resize(both.permute(1, 2, 0).float().cpu().numpy(), place.width,
                                place.height).reshape(place.height, place.width, 4)
                acc[place.slice] += piece * w[..., None]
            fields.append((box, np.ascontiguousarray(acc[..., :3]),
                           np.ascontiguousarray(acc[..., 3])))
        return fields

    # ---- 6. flats -----------------------------------------------------------------------
    @staticmethod
    def _split_regions(page: Page, fields, bg_color, detect_background, threshold):
        """The page's regions, those the detector sees as part background and part
        figure (line art that does not close) cut along its mask
        (``fastcolor.flats.split``); hinted regions stay whole."""
        if not detect_background or bg_color is None:
            return page.regions
        keep = None if page.hinted is None else page.hinted[0]
        return split_by_background(page.regions, page.region_ink,
                                   [(box, p) for box, _, p in fields], threshold,
                                   page.min_area, keep=keep)

    def _flats(self, page: Page, labels, fields, bg_color, detect_background, threshold,
               lock=None, balloons=True):
        """One color per region of ``labels`` -> (palette uint8 ``(n, 3)``, background
        regions bool ``(n,)``): the robust color of its polished pixels; background
        regions the one background color; speech balloons white (``balloons``); regions
        hint strokes touch exactly the stroke's color; regions mostly outside every panel
        (gutters, margins) white paper. The strips of hatching follow their hosts after
        the vote (``_host_strips``)."""
        n = int(labels.max()) + 1
        regions, (rgb, bgprob), inside = region_samples(
            labels, page.region_ink, [(box, [c, p]) for box, c, p in fields])
        palette = np.full((n, 3), 255, np.uint8)
        colored = np.bincount(regions[inside], minlength=n) * 2 > np.bincount(regions, minlength=n)
        if colored.any():
            keep = inside & colored[regions]
            ids = np.flatnonzero(colored)
            remap = np.cumsum(colored) - 1
            palette[ids] = region_colors(remap[regions[keep]], rgb[keep], len(ids))
        is_bg = np.zeros(n, bool)
        if detect_background and bg_color is not None and colored.any():
            is_bg[ids] = region_is_background(remap[regions[keep]], bgprob[keep], len(ids),
                                              threshold)
            palette[is_bg] = bg_color
        if lock is not None:                  # palette lock: the model's colors only
            from .palette import snap_to_palette
            snap = colored & ~is_bg
            palette[snap] = snap_to_palette(palette[snap], lock)
        if balloons:                          # speech balloons: white paper
            balloon = self._region_fact(page, labels, "balloons",
                                        lambda lab, ink: find_balloons(lab, ink, page.gray))
            palette[balloon], is_bg[balloon] = 255, False
        if page.hinted is not None:
            hinted, hint_colors = page.hinted
            palette[hinted] = hint_colors
            is_bg[hinted] = False
        return palette, is_bg

    @staticmethod
    def _consensus(page: Page, flat: tuple, votes: PaintVotes) -> tuple:
        """Step 6c for one returned sample's ``(regions, palette, is_bg)``: a figure
        region most of the page's voters leave white becomes white paper
        (``fastcolor.flats.consensus``); background and hinted regions keep theirs."""
        regions, palette, is_bg = flat
        paper = (votes.shares(regions) <= 0.5) & ~is_bg
        if page.hinted is not None:           # 6a keeps hinted regions whole, ids and all
            paper[page.hinted[0]] = False
        palette = palette.copy()
        palette[paper] = 255
        return regions, palette, is_bg

    def _host_strips(self, page: Page, labels, palette, is_bg):
        """The strips of hatching the color of the region they shade when the detector
        put both on the same side (a figure hatched all over has no host of its own: its
        strips would take the background's); a hinted strip keeps its stroke's color.
        Returns (palette, each region's host int64 ``(n,)``)."""
        n = len(palette)
        hosts = self._region_fact(page, labels, "hosts", sliver_hosts)
        hosted = (hosts != np.arange(n)) & (is_bg[hosts] == is_bg)
        if page.hinted is not None:
            hosted[page.hinted[0]] = False
        palette = palette.copy()
        palette[hosted] = palette[hosts[hosted]]
        return palette, np.where(hosted, hosts, np.arange(n))

    @staticmethod
    def _region_fact(page: Page, labels, name: str, find) -> np.ndarray:
        """``find(labels, page.region_ink)`` (``sliver_hosts``, ``find_balloons``): computed
        once for the page's own regions (every sample shares them unless 6a cut them)."""
        if labels is not page.regions:
            return find(labels, page.region_ink)
        if name not in page.region_facts:
            page.region_facts[name] = find(labels, page.region_ink)
        return page.region_facts[name]

    # ---- 7. compose ---------------------------------------------------------------------
    @staticmethod
    def _compose_flats(page: Page, labels, palette, is_bg, bg_color,
                       hosts=None) -> ColorizeResult:
        flats = paint_regions(labels, palette)
        bg_mask = is_bg[labels]
        return ColorizeResult(image=compose(flats, page.gray, page.ink), lowres=None,
                              background_mask=bg_mask,
                              background_color=bg_color if is_bg.any() else None,
                              outline=page.gray, seed=0, flats=flats, regions=labels,
                              region_colors=palette, line_color=page.ink,
                              region_hosts=hosts)

    @staticmethod
    def _compose_soft(page: Page, fields, bg_color, detect_background,
                      threshold) -> ColorizeResult:
        """The polished colors resized to each panel, the background one color, ink on
        top; outside the panels white paper."""
        H, W = page.gray.shape
        image = np.repeat(page.gray[..., None], 3, axis=2) if page.ink is None else \
            compose(np.full((H, W, 3), 255, np.uint8), page.gray, page.ink)
        bg_mask = np.zeros((H, W), bool)
        for box, rgb, prob in fields:           # 8-bit before resizing: bounded memory
            rgb8 = to_uint8(rgb)
            color = _resize(rgb8, box.width, box.height).reshape(box.height, box.width, 3)
            if detect_background:
                bg_mask[box.slice] = _resize(prob, box.width, box.height) > threshold
            if bg_color is not None:
                color[bg_mask[box.slice]] = bg_color
            image[box.slice] = compose(color, page.gray[box.slice],
                                       None if page.ink is None else page.ink[box.slice])
        return ColorizeResult(image=image, lowres=None, background_mask=bg_mask,
                              background_color=bg_color if bg_mask.any() else None,
                              outline=page.gray, seed=0, regions=page.regions,
                              line_color=page.ink)

    @staticmethod
    def _lowres_u8(lowres) -> np.ndarray:
        return to_uint8_rgb(lowres)

    # ---- series -------------------------------------------------------------------
    @torch.no_grad()
    def colorize_series(self, pages, *, reference=None, seed: int | None = None, **options):
        """Color a series of pages so the same drawing keeps its colors.

        pages: a list of pages (anything ``__call__`` takes). reference: a colored page
        (path, PIL, numpy RGB; ``fastcolor.series.prepare_reference``); None: the first
        page, colored as ``__call__`` colors it. Every other page is registered to it
        figure by figure and its regions take the reference's colors under them
        (``fastcolor.series.transfer_colors``; one hint-stroke pixel in each); regions
        with no counterpart are colored by the model, conditioned on those.
        Page ``i`` draws from ``seed + i``; ``options`` as for ``__call__`` (not
        ``hints``, ``samples`` or ``flats=False``; ``split`` defaults to False here: a cut
        made along one page's detector mask has no counterpart on the next page, so the
        colors carried from page to page are those of the regions the lines make).
        Returns a list of ``ColorizeResult``;
        ``extras["series"]`` holds the match (reference region per region, -1 none) and
        ``extras["timings"]["series"]`` the seconds the matching took."""
        from .series import Reference, prepare_reference, series_hints, transfer_colors
        if not isinstance(pages, (list, tuple)) or not pages:
            raise InvalidInputError("colorize_series takes a non-empty list of pages")
        for bad in ("hints", "samples"):
            if bad in options:
                raise InvalidInputError(f"colorize_series sets {bad}= itself; leave it out")
        if options.get("flats", True) is not True:
            raise InvalidInputError("colorize_series carries region colors: it needs flats")
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0 \
                or seed + len(pages) - 1 > _MAX_SEED:
            raise InvalidInputError(f"seed must be an integer in 0..{_MAX_SEED - len(pages) + 1}"
                                    f", got {seed!r}")
        extract = options.pop("extract_outline", "auto")
        options.setdefault("split", False)
        gap, min_area = options.get("gap"), options.get("min_area")
        ref = None
        if reference is not None:
            ref = prepare_reference(reference, gap=gap, min_area=min_area)
        results = []
        for i, item in enumerate(pages):
            timings = {}
            gray, info, ink = self._load_outline(item, extract, timings)
            strokes, match, t0 = None, None, time.perf_counter()
            if ref is not None:
                labels = find_regions(gray, gap=gap, min_area=min_area)
                colors, match = transfer_colors(ref, labels, find_ink(gray))
                own = np.where(match >= 0, np.arange(len(match)), -1)
                strokes = series_hints(labels, own, colors)
            spent = time.perf_counter() - t0
            result = self(gray, seed=seed + i, hints=strokes, extract_outline=False, **options)
            if ink is not None:                  # line art in colored ink: its own colors
                result.image = compose(result.flats, result.outline, ink)
                result.line_color = ink
            result.extras["outline"] = info
            result.extras["timings"] = {**result.extras["timings"], **timings, "series": spent}
            result.extras["series"] = match
            if ref is None:
                ref = Reference.from_page(result.image, result.regions, find_ink(gray))
            results.append(result)
        return results

    def __repr__(self) -> str:
        return (f"Pipeline(backend={self.backend.name!r}, device={str(self.device)!r}, "
                f"dtype={self.dtype}, image_size={self.config.image_size}, "
                f"lowres_size={self.config.lowres_size})")

