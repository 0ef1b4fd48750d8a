"""Model sizes for ``fastcolor train --config NAME``.

- ``tiny``: ``FastcolorConfig.tiny`` (tests and smoke runs; seconds on a CPU);
- ``small``: what the shipped default weights use: sized so the three stages train on
  2 CPU cores in about an hour and a half at image size 128, low-res 32;
- ``default``: ``FastcolorConfig()`` (256 / 32, the paper's sizes; for a GPU);
- a path to a JSON file of a ``FastcolorConfig`` (``FastcolorConfig.to_json``).

``image_size`` / ``lowres_size`` override a preset's sizes; the conditioning net gets
``log2(image_size / lowres_size)`` stride-2 stages (the preset's widths, cut or extended
by doubling).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from ..config import ConditioningConfig, FastcolorConfig, PixelCNNConfig, UNetConfig
from ..errors import InvalidInputError

PRESETS = ("tiny", "small", "default")


def small() -> FastcolorConfig:
    return FastcolorConfig(
        image_size=128, lowres_size=32,
        pixelcnn=PixelCNNConfig(channels=48, layers=6, first_kernel=5, kernel=3,
                                head_channels=48, mixtures=4, cond_channels=48),
        conditioning=ConditioningConfig(widths=(24, 48), blocks_per_stage=1,
                                        adaptation_layers=2, out_channels=48),
        detector=UNetConfig(base_channels=16, max_channels=64, depth=5),
        polisher=UNetConfig(base_channels=16, max_channels=96, depth=5),
    )


def _resize(cfg: FastcolorConfig, image_size: int | None, lowres_size: int | None):
    S = image_size or cfg.image_size
    s = lowres_size or cfg.lowres_size
    if S % s or S < s or (S // s) & (S // s - 1):
        raise InvalidInputError(f"image_size ({S}) / lowres_size ({s}) must be a power of 2")
    stages = int(math.log2(S // s))
    widths = list(cfg.conditioning.widths)
    while len(widths) < stages:
        widths.append(widths[-1] * 2 if widths else 16)
    widths = tuple(widths[:stages]) if stages else ()
    return dataclasses.replace(cfg, image_size=S, lowres_size=s,
                               conditioning=dataclasses.replace(cfg.conditioning, widths=widths))


def resolve_config(name: str | None, image_size: int | None = None,
                   lowres_size: int | None = None) -> FastcolorConfig:
    """A preset name or a JSON path (see module doc) -> ``FastcolorConfig``."""
    name = name or "small"
    if name == "tiny":
        return FastcolorConfig.tiny(image_size or 32, lowres_size or 8)
    if name == "small":
        return _resize(small(), image_size, lowres_size)
    if name == "default":
        return _resize(FastcolorConfig(), image_size, lowres_size)
    path = Path(name)
    if not path.is_file():
        raise InvalidInputError(f"--config must be one of {', '.join(PRESETS)} or a JSON file, "
                                f"got {name!r}")
    cfg = FastcolorConfig.from_json(path.read_text())
    return _resize(cfg, image_size, lowres_size) if image_size or lowres_size else cfg
