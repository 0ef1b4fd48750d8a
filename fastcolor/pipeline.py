"""``Pipeline``: line art in, colored page out (DESIGN.md's three stages end to end).

::

    pipe = fastcolor.Pipeline.from_pretrained("weights.safetensors")
    result = pipe("page.png", seed=1)          # ColorizeResult
    result.image                               # uint8 (H, W, 3), ink lines black on top
    variants = pipe("page.png", samples=4)     # list of 4 ColorizeResult
"""

from __future__ import annotations

import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from . import outline as outline_mod
from .backends import resolve_backend
from .config import FastcolorConfig
from .dlmm import check_temperature, sample_noise
from .errors import InvalidInputError
from .imageio import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, load_image, save_image
from .models import FastcolorModel
from .weights import DEFAULT_WEIGHTS, load_state_into, load_weights, save_weights

_MAX_SEED = 2 ** 64 - 1  # the largest seed torch.Generator.manual_seed takes


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
        return cls(np.clip(np.rint(colors * 255), 0, 255).astype(np.uint8), mask)

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

    image: uint8 ``(H, W, 3)``; lowres: uint8 ``(s, s, 3)`` (the low-res sample);
    background_mask: bool ``(H, W)`` (all False without the detector);
    background_color: the RGB painted on the background, or None when none was found;
    outline: uint8 ``(H, W)``, 0 = ink; seed: the seed the noise was drawn from."""

    image: np.ndarray
    lowres: np.ndarray
    background_mask: np.ndarray
    background_color: tuple[int, int, int] | None
    outline: np.ndarray
    seed: int
    extras: dict = field(default_factory=dict, repr=False)

    def to_pil(self):
        from PIL import Image
        return Image.fromarray(self.image)

    def save(self, path) -> None:
        save_image(path, self.image)


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
        torch.manual_seed(seed)
        return cls(FastcolorModel(config or FastcolorConfig()), **kwargs)

    def save_pretrained(self, path) -> str:
        """Write the weights (safetensors + config + sha256); returns the sha256."""
        self.weights_sha256 = save_weights(self.model, path)
        return self.weights_sha256

    # ---- inputs ---------------------------------------------------------------------
    def _load_outline(self, item, extract_outline) -> np.ndarray:
        """Anything the pipeline takes -> ink ``(H, W)`` float32 in [0, 1], 1 = ink."""
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
                    f"1 = ink, got {t.dtype} {tuple(item.shape)}")
            h, w = t.shape
            if h == 0 or w == 0:
                raise InvalidInputError(f"outline has 0 pixels: {tuple(t.shape)}")
            if h * w > MAX_IMAGE_PIXELS or max(h, w) > MAX_IMAGE_SIDE:
                from .errors import ImageTooLargeError
                raise ImageTooLargeError(f"outline of {w} x {h} exceeds the limit of "
                                         f"{MAX_IMAGE_PIXELS} pixels / {MAX_IMAGE_SIDE} per side")
            if not bool(torch.isfinite(t).all()) or float(t.min()) < 0 or float(t.max()) > 1:
                raise InvalidInputError("an outline tensor must hold finite values in [0, 1]")
            return t.to(torch.float32).cpu().numpy()
        if not (isinstance(extract_outline, (bool, np.bool_)) or (
                isinstance(extract_outline, str) and extract_outline == "auto")):
            raise InvalidInputError(f"extract_outline must be 'auto', True or False, got {extract_outline!r}")
        line_art = "auto" if isinstance(extract_outline, str) else not bool(extract_outline)
        arr = load_image(item)
        return outline_mod.to_ink(outline_mod.extract(arr, line_art=line_art))

    def _hints_tensor(self, hints, count: int):
        if hints is None:
            return None, None
        s = self.config.lowres_size
        if not isinstance(hints, Hints):
            hints = Hints.from_image(hints, s)
        hints.validate(s)
        colors = torch.from_numpy(np.ascontiguousarray(hints.colors))  # any strides
        colors = colors.permute(2, 0, 1).to(self.dtype) / 127.5 - 1
        mask = torch.from_numpy(np.ascontiguousarray(hints.mask))
        return (colors.unsqueeze(0).expand(count, -1, -1, -1).to(self.device),
                mask.unsqueeze(0).expand(count, -1, -1).to(self.device))

    # ---- the pipeline ---------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, images, *, seed: int | None = None, samples: int = 1, hints=None,
                 background=None, detect_background: bool = True, temperature: float = 1.0,
                 threshold: float = 0.5, extract_outline="auto"):
        """Color one page or a list of pages.

        images: a path, PIL image, numpy array (gray/RGB/RGBA, uint8/uint16/float in
        [0, 1]; a colored or shaded page is turned into its outline first) or a float
        outline tensor (H, W) or (1, H, W) in [0, 1] with 1 = ink; or a list of these;
        a (B, 1, H, W) outline tensor counts as a list of B outlines.
        seed: image ``i`` of a list draws its noise from ``seed + i`` (None: a random seed,
        recorded in the result). samples: variants per image. hints: ``Hints`` or an RGBA
        hint image. background: RGB for the detected background (default: its mean
        low-res color). detect_background=False: the paper's ablation (no detector).

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
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise InvalidInputError(f"samples must be an integer >= 1, got {samples!r}")
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
        bg_rgb = None if background is None else parse_color(background)
        hint_colors, hint_mask = self._hints_tensor(hints, samples)

        results = []
        for i, item in enumerate(items):
            ink = self._load_outline(item, extract_outline)
            results.append(self._colorize_one(ink, seed + i, samples, hint_colors, hint_mask,
                                              bg_rgb, detect_background, temperature, threshold))
        results = [r[0] if samples == 1 else r for r in results]
        return results[0] if single else results

    def _colorize_one(self, ink, seed, samples, hint_colors, hint_mask, bg_rgb,
                      detect_background, temperature, threshold):
        cfg, model = self.config, self.model
        S, s = cfg.image_size, cfg.lowres_size
        H, W = ink.shape
        small = np.clip(_resize(ink, S, S), 0, 1)
        outline_t = torch.from_numpy(small).to(self.device, self.dtype)[None, None]
        outline_t = outline_t.expand(samples, -1, -1, -1).contiguous()

        cond = self.backend.condition(model.lowres, outline_t)
        gen = torch.Generator().manual_seed(seed)
        noise = sample_noise(samples, cfg.pixelcnn.mixtures, s, s, generator=gen,
                             dtype=self.dtype, device=self.device)
        lowres = self.backend.generate(model.lowres.pixelcnn, cond, noise=noise,
                                       hints=hint_colors, hint_mask=hint_mask,
                                       temperature=temperature)
        up = F.interpolate(lowres, size=(S, S), mode="bilinear", align_corners=False)

        if detect_background:
            prob = self.backend.detect(model.detector, outline_t, up)   # (n, 1, S, S)
            mask = prob > threshold
            area = mask.sum(dim=(2, 3))                                 # (n, 1)
            mean = (up * mask).sum(dim=(2, 3)) / area.clamp(min=1)      # (n, 3)
            if bg_rgb is not None:
                mean = torch.tensor(bg_rgb, dtype=self.dtype, device=self.device) / 127.5 - 1
                mean = mean.expand(samples, 3)
            bg = torch.round((mean + 1) * 127.5) / 127.5 - 1            # an exact 8-bit color
            colors = torch.where(mask, bg[:, :, None, None], up)
        else:
            prob = torch.zeros(samples, 1, S, S, dtype=self.dtype, device=self.device)
            mask = prob > threshold
            area = mask.sum(dim=(2, 3))
            bg = None
            colors = up
        polished = self.backend.polish(model.polisher, outline_t, colors, mask.to(self.dtype))

        polished_np = ((polished + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
        prob_np = prob[:, 0].float().cpu().numpy()
        lowres_np = torch.round((lowres + 1) * 127.5).clamp(0, 255).to(torch.uint8)
        lowres_np = lowres_np.permute(0, 2, 3, 1).cpu().numpy()
        outline_u8 = np.clip(np.rint((1 - ink) * 255), 0, 255).astype(np.uint8)
        paper = (1.0 - ink)[..., None]
        out = []
        for n in range(samples):
            color = _resize(polished_np[n], W, H)
            bg_mask = _resize(prob_np[n], W, H) > threshold if detect_background \
                else np.zeros((H, W), bool)
            bg_color = None
            if bg is not None and int(area[n, 0]) > 0:
                bg_color = tuple(int(v) for v in torch.round((bg[n] + 1) * 127.5).tolist())
                color[bg_mask] = np.asarray(bg_color, np.float32) / 255.0
            image = np.clip(np.rint(color * paper * 255), 0, 255).astype(np.uint8)
            out.append(ColorizeResult(image=image, lowres=lowres_np[n], background_mask=bg_mask,
                                      background_color=bg_color, outline=outline_u8, seed=seed,
                                      extras={"sample_index": n}))
        return out

    def __repr__(self) -> str:
        return (f"Pipeline(backend={self.backend.name!r}, device={str(self.device)!r}, "
                f"dtype={self.dtype}, image_size={self.config.image_size}, "
                f"lowres_size={self.config.lowres_size})")

