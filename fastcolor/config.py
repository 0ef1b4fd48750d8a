"""Size configs of the three stages, as small dataclasses that round-trip through JSON.

Defaults are sized to train on 2 CPU cores in a session and still be useful; the
paper's models are larger (raise the widths for a GPU).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from .errors import InvalidInputError

# Where the pipeline's step 3b takes the figure's colors from ("auto": the color prior's
# for weights with one, else the sample's), and the prior's saturation gain, chosen on
# validation panels (README "Color prior"); here so the CLI shares them without torch.
FIGURE_COLORS = ("auto", "prior", "sample")
PRIOR_SATURATION = 1.4
MAX_PRIOR_SATURATION = 4.0


@dataclass(frozen=True)
class PixelCNNConfig:
    """Conditional gated PixelCNN with a DLMM head over RGB."""

    channels: int = 64          # feature maps per stack (each gate computes 2x this)
    layers: int = 8             # gated blocks (vertical + horizontal stack each)
    first_kernel: int = 5       # odd; first (mask A) layer kernel
    kernel: int = 3             # odd; later (mask B) layers
    head_channels: int = 64     # hidden width of the 1x1 output head
    mixtures: int = 5           # K: DLMM components (head emits 10 * K channels)
    cond_channels: int = 64     # channels of the conditioning features fed to every block

    @property
    def param_channels(self) -> int:
        return 10 * self.mixtures


@dataclass(frozen=True)
class ConditioningConfig:
    """Conditioning (ResNet-style encoder, image_size -> lowres_size) + adaptation net."""

    widths: tuple[int, ...] = (16, 32, 64)   # one stride-2 stage each (3 stages: stride 8)
    blocks_per_stage: int = 1                 # residual blocks after each downsampling
    adaptation_layers: int = 2                # 3x3 convs at low resolution
    out_channels: int = 64                    # = PixelCNNConfig.cond_channels
    context_dilations: tuple[int, ...] = ()   # dilated residual blocks at low resolution
    prior_widths: tuple[int, ...] = ()        # color prior (models.color_prior): () = none,
                                              # else 3 widths: 2s, s, s/2
    prior_dilations: tuple[int, ...] = (1, 2, 4, 8)   # its dilated blocks at s/2


@dataclass(frozen=True)
class UNetConfig:
    """pix2pix U-Net generator: ``depth`` 4x4 stride-2 downsamplings, skips, InstanceNorm."""

    base_channels: int = 16
    max_channels: int = 128
    depth: int = 6


@dataclass(frozen=True)
class FastcolorConfig:
    """Everything that fixes the shapes of a fastcolor model (saved with the weights)."""

    image_size: int = 256      # S: working size of the U-Nets and the conditioning net
    lowres_size: int = 32      # low-res sample size (the paper: 32)
    pixelcnn: PixelCNNConfig = field(default_factory=PixelCNNConfig)
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)
    detector: UNetConfig = field(default_factory=UNetConfig)
    polisher: UNetConfig = field(default_factory=UNetConfig)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        s, lr = self.image_size, self.lowres_size
        if s < 8 or lr < 2 or s % lr:
            raise InvalidInputError(f"image_size ({s}) must be a multiple of lowres_size ({lr})")
        ratio = s // lr
        stages = len(self.conditioning.widths)
        if 2 ** stages != ratio:
            raise InvalidInputError(
                f"conditioning net has {stages} stride-2 stages (stride {2 ** stages}), but "
                f"image_size / lowres_size = {ratio}; give it log2({ratio}) widths")
        for key in ("context_dilations", "prior_widths", "prior_dilations"):
            values = getattr(self.conditioning, key)
            if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in values):
                raise InvalidInputError(f"conditioning.{key} must be integers >= 1, "
                                        f"got {values!r}")
        if len(self.conditioning.prior_widths) not in (0, 3):
            raise InvalidInputError("conditioning.prior_widths must be empty (no color prior) "
                                    f"or 3 widths, got {self.conditioning.prior_widths!r}")
        if self.conditioning.prior_widths and (lr % 2 or ratio < 2):
            raise InvalidInputError("the color prior needs an even lowres_size and image_size "
                                    f">= 2 lowres_size, got {s} / {lr}")
        if self.conditioning.out_channels != self.pixelcnn.cond_channels:
            raise InvalidInputError("conditioning.out_channels must equal pixelcnn.cond_channels")
        p = self.pixelcnn
        for name in ("first_kernel", "kernel"):
            k = getattr(p, name)
            if k < 1 or k % 2 == 0:
                raise InvalidInputError(f"pixelcnn.{name} must be odd and positive, got {k}")
        if min(p.channels, p.layers, p.mixtures, p.head_channels, p.cond_channels) < 1:
            raise InvalidInputError(f"pixelcnn sizes must be positive: {p}")
        for name in ("detector", "polisher"):
            u = getattr(self, name)
            if u.depth < 1 or u.base_channels < 1 or u.max_channels < u.base_channels:
                raise InvalidInputError(f"{name}: bad U-Net config {u}")

    def to_dict(self) -> dict:
        """Plain JSON-able dict; a conditioning net without context blocks or color prior
        is written without their keys, as before they existed (so weight files without
        them still read in older versions)."""
        d = dataclasses.asdict(self)
        if not self.conditioning.context_dilations:
            del d["conditioning"]["context_dilations"]
        if not self.conditioning.prior_widths:
            del d["conditioning"]["prior_widths"], d["conditioning"]["prior_dilations"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "FastcolorConfig":
        if not isinstance(d, dict) or not all(
                isinstance(d.get(k, {}), dict)
                for k in ("pixelcnn", "conditioning", "detector", "polisher")):
            raise InvalidInputError(f"bad fastcolor config: expected an object of objects, got {d!r:.200}")
        try:
            cond = dict(d.get("conditioning", {}))
            for key in ("widths", "context_dilations", "prior_widths", "prior_dilations"):
                if key in cond:
                    cond[key] = tuple(cond[key])
            return cls(
                image_size=d.get("image_size", 256),
                lowres_size=d.get("lowres_size", 32),
                pixelcnn=PixelCNNConfig(**d.get("pixelcnn", {})),
                conditioning=ConditioningConfig(**cond),
                detector=UNetConfig(**d.get("detector", {})),
                polisher=UNetConfig(**d.get("polisher", {})),
            )
        except (TypeError, ValueError) as e:  # unknown field, or a value of the wrong type
            raise InvalidInputError(f"bad fastcolor config: {e}") from None

    @classmethod
    def from_json(cls, text: str) -> "FastcolorConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise InvalidInputError(f"config is not valid JSON: {e}") from None

    @classmethod
    def tiny(cls, image_size: int = 32, lowres_size: int = 8) -> "FastcolorConfig":
        """A very small model for tests (seconds on a CPU)."""
        stages = int(round(math.log2(image_size // lowres_size)))
        return cls(
            image_size=image_size,
            lowres_size=lowres_size,
            pixelcnn=PixelCNNConfig(channels=8, layers=3, first_kernel=3, kernel=3,
                                    head_channels=8, mixtures=3, cond_channels=8),
            conditioning=ConditioningConfig(widths=(8,) * stages, blocks_per_stage=1,
                                            adaptation_layers=1, out_channels=8),
            detector=UNetConfig(base_channels=4, max_channels=8, depth=3),
            polisher=UNetConfig(base_channels=4, max_channels=8, depth=3),
        )
