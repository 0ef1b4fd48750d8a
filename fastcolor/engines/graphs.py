"""The feed-forward stages as exportable graphs: what ``torch.onnx.export`` traces.

Three stages leave PyTorch for a deployment engine (the autoregressive PixelCNN stays
with the cached generators):

============== ======================================== ==================================
stage          inputs                                   output
============== ======================================== ==================================
conditioning   ``outline (B, 1, S, S)``                 ``features (B, C, s, s)``
detector       ``outline (B, 1, H, W)``,                ``probability (B, 1, H, W)``
               ``colors (B, 3, H, W)``                  (the sigmoid included)
polisher       ``outline``, ``colors``,                 ``polished (B, 3, H, W)``
               ``mask (B, 1, H, W)``                    (the tanh included)
============== ======================================== ==================================

Batch, height and width are dynamic (the conditioning stage's ``S`` is fixed by the
model config). ``UNetGenerator.forward`` pads only when ``H`` or ``W`` is not a
multiple of ``2**depth``, a Python branch on the shape that a trace would freeze, so the
U-Net graphs here always pad (by ``(-H) % m``, computed from the input's shape inside the
graph, possibly 0) and always crop. Every norm is InstanceNorm or GroupNorm, so a batch
equals single runs.

``precision`` ``"fp16"`` / ``"bf16"`` builds a strongly typed graph: float32 inputs are
cast to the low precision, the weights are stored in it, and the output is cast back
to float32 (TensorRT 11 removed the FP16/BF16 builder flags; the precision lives in
the graph).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError
from ..models.unet import UNetGenerator

STAGES = ("conditioning", "detector", "polisher")

PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
# the dtype the graph computes in; tf32 is an fp32 graph that TensorRT may run in TF32
GRAPH_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
                "bf16": torch.bfloat16}


@dataclass(frozen=True)
class StageSpec:
    """Names and channels of a stage's graph inputs and output."""

    name: str
    inputs: tuple[tuple[str, int], ...]    # (name, channels)
    output: str
    dynamic_hw: bool                        # False: H = W = the config's image_size


STAGE_SPECS = {
    "conditioning": StageSpec("conditioning", (("outline", 1),), "features", False),
    "detector": StageSpec("detector", (("outline", 1), ("colors", 3)), "probability", True),
    "polisher": StageSpec("polisher", (("outline", 1), ("colors", 3), ("mask", 1)),
                          "polished", True),
}


def check_stage(stage: str) -> StageSpec:
    if stage not in STAGE_SPECS:
        raise InvalidInputError(f"unknown stage {stage!r}; expected one of {STAGES}")
    return STAGE_SPECS[stage]


def parse_stages(stages) -> tuple[str, ...]:
    """``"detector,polisher"`` or an iterable of names -> checked, de-duplicated tuple."""
    if isinstance(stages, str):
        stages = [s.strip() for s in stages.split(",") if s.strip()]
    out = []
    for s in stages:
        check_stage(s)
        if s not in out:
            out.append(s)
    if not out:
        raise InvalidInputError(f"no stages given; expected some of {STAGES}")
    return tuple(out)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def check_unet_inputs(outline, *others) -> None:
    """The shape checks of ``BackgroundDetector`` / ``PolishingNet`` (``others``: colors,
    then mask) for backends that run their graphs."""
    from ..models.stages import _check_same
    if not isinstance(outline, torch.Tensor) or outline.dim() != 4 or outline.shape[1] != 1:
        shape = tuple(outline.shape) if isinstance(outline, torch.Tensor) else type(outline)
        raise InvalidInputError(f"outline must be a (B, 1, H, W) tensor, got {shape}")
    for t, c, name in zip(others, (3, 1), ("colors", "mask")):
        _check_same(name, t, c, outline)


class PaddedUNet(nn.Module):
    """``UNetGenerator`` with unconditional replicate padding to a multiple of
    ``2**depth`` and the crop back: the same function as ``UNetGenerator.forward`` for
    every size, without a branch on the shape."""

    def __init__(self, unet: UNetGenerator):
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        m = self.unet.multiple
        ph, pw = (m - h % m) % m, (m - w % m) % m
        top, left = ph // 2, pw // 2
        x = F.pad(x, (left, pw - left, top, ph - top), mode="replicate")
        skips = []
        for layer in self.unet.down:
            x = layer(x)
            skips.append(x)
        for i, layer in enumerate(self.unet.up):
            if i > 0:
                x = torch.cat([x, skips[-1 - i]], dim=1)
            x = layer(x)
        return x[:, :, top:top + h, left:left + w]


class _Typed(nn.Module):
    """Base: float32 in, compute in ``dtype``, float32 out."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.dtype = dtype

    def _in(self, *tensors):
        return [t.to(self.dtype) for t in tensors]


class ConditioningGraph(_Typed):
    """``LowResColorizer.condition`` without the Python-side input checks."""

    def __init__(self, lowres, dtype=torch.float32):
        super().__init__(dtype)
        self.lowres = lowres      # the export traces only what the conditioning uses

    def forward(self, outline):
        (outline,) = self._in(outline)
        return self.lowres.condition_and_prior(outline)[0].to(torch.float32)


class DetectorGraph(_Typed):
    """``BackgroundDetector.probability``."""

    def __init__(self, detector, dtype=torch.float32):
        super().__init__(dtype)
        self.unet = PaddedUNet(detector.unet)

    def forward(self, outline, colors):
        outline, colors = self._in(outline, colors)
        return torch.sigmoid(self.unet(torch.cat([outline, colors], dim=1))).to(torch.float32)


class PolisherGraph(_Typed):
    """``PolishingNet.forward``."""

    def __init__(self, polisher, dtype=torch.float32):
        super().__init__(dtype)
        self.unet = PaddedUNet(polisher.unet)

    def forward(self, outline, colors, mask):
        outline, colors, mask = self._in(outline, colors, mask)
        x = torch.cat([outline, colors, mask], dim=1)
        return torch.tanh(self.unet(x)).to(torch.float32)


def stage_graph(model, stage: str, precision: str = "fp32") -> nn.Module:
    """The exportable graph of ``stage`` of ``model`` (a ``FastcolorModel``), in eval
    mode, on the CPU, with its weights in the precision's dtype (a copy when that is not
    the model's own)."""
    check_stage(stage)
    dtype = GRAPH_DTYPES[check_precision(precision)]
    part = {"conditioning": model.lowres, "detector": model.detector,
            "polisher": model.polisher}[stage]
    part = copy.deepcopy(part).to(device="cpu", dtype=dtype).eval()
    cls = {"conditioning": ConditioningGraph, "detector": DetectorGraph,
           "polisher": PolisherGraph}[stage]
    return cls(part, dtype).eval()


def example_inputs(config, stage: str, batch: int = 2, height: int | None = None,
                   width: int | None = None, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Float32 inputs of the stage's shapes and value ranges (outline in [0, 1], colors
    in [-1, 1], mask in {0, 1}); H = W = ``image_size`` unless given."""
    spec = check_stage(stage)
    S = config.image_size
    h = S if height is None or not spec.dynamic_hw else height
    w = S if width is None or not spec.dynamic_hw else width
    g = torch.Generator().manual_seed(seed)
    out = []
    for name, c in spec.inputs:
        t = torch.rand(batch, c, h, w, generator=g)
        if name == "colors":
            t = t * 2 - 1
        elif name == "mask":
            t = (t < 0.5).float()
        out.append(t)
    return tuple(out)
