"""TensorRT optimization profiles: the (batch, height, width) range an engine accepts.

A shape is written ``BxHxW`` (``1x256x256``: batch 1, 256 x 256 pixels); a profile is
three shapes, min <= opt <= max in every dimension. The engine runs any shape in that
box and is tuned for ``opt``. The U-Net stages take any H and W (they pad to a multiple
of ``2**depth`` inside the graph); the conditioning stage only ``S x S`` (the model's
``image_size``), so its profile may vary the batch only. The pipeline runs every stage
at ``(samples, S, S)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidInputError
from .graphs import check_stage
from .onnx_export import MAX_BATCH, MAX_SIDE

Shape = tuple[int, int, int]

_SHAPE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_shape(value) -> Shape:
    """``"BxHxW"`` (e.g. ``"4x512x512"``) or a sequence of 3 ints -> ``(B, H, W)``."""
    if isinstance(value, str):
        m = _SHAPE_RE.match(value)
        if not m:
            raise InvalidInputError(
                f"a shape is BATCHxHEIGHTxWIDTH, e.g. 1x256x256; got {value!r}")
        shape = tuple(int(g) for g in m.groups())
    else:
        try:
            shape = tuple(value)
        except TypeError:
            raise InvalidInputError(f"a shape is (batch, height, width), got {value!r}") from None
        if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool)
                                      for v in shape):
            raise InvalidInputError(f"a shape is three ints (batch, height, width), got {value!r}")
    b, h, w = shape
    if min(shape) < 1:
        raise InvalidInputError(f"shape {format_shape(shape)}: every dimension must be >= 1")
    if b > MAX_BATCH:
        raise InvalidInputError(f"shape {format_shape(shape)}: batch must be <= {MAX_BATCH}")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise InvalidInputError(f"shape {format_shape(shape)}: sides must be <= {MAX_SIDE}")
    return shape


def format_shape(shape) -> str:
    return "x".join(str(v) for v in shape)


@dataclass(frozen=True)
class ShapeProfile:
    """min / opt / max ``(batch, height, width)`` of one engine's inputs."""

    min: Shape
    opt: Shape
    max: Shape

    @classmethod
    def make(cls, min, opt=None, max=None) -> "ShapeProfile":
        """From shapes or ``"BxHxW"`` strings; ``opt`` defaults to ``min``, ``max`` to
        ``opt``. Checks min <= opt <= max."""
        lo = parse_shape(min)
        mid = parse_shape(opt) if opt is not None else lo
        hi = parse_shape(max) if max is not None else mid
        profile = cls(lo, mid, hi)
        profile.check_order()
        return profile

    @classmethod
    def for_pipeline(cls, image_size: int, max_batch: int = 8) -> "ShapeProfile":
        """What ``Pipeline`` needs: ``S x S`` at batch 1 .. ``max_batch``, tuned for 1."""
        return cls.make((1, image_size, image_size), (1, image_size, image_size),
                        (max_batch, image_size, image_size))

    def check_order(self) -> None:
        names = ("batch", "height", "width")
        for i, name in enumerate(names):
            if not self.min[i] <= self.opt[i] <= self.max[i]:
                raise InvalidInputError(
                    f"shape profile must have min <= opt <= max in every dimension; {name}: "
                    f"min {self.min[i]}, opt {self.opt[i]}, max {self.max[i]} "
                    f"(profile {self})")

    def check_stage(self, stage: str, image_size: int) -> None:
        """The conditioning stage is built for ``S x S`` only."""
        spec = check_stage(stage)
        if not spec.dynamic_hw:
            for shape in (self.min, self.opt, self.max):
                if shape[1:] != (image_size, image_size):
                    raise InvalidInputError(
                        f"the {stage} stage takes {image_size} x {image_size} outlines only "
                        f"(the model's image_size); profile {self} varies H or W. Use "
                        f"Bx{image_size}x{image_size} shapes for it")

    def contains(self, shape) -> bool:
        return all(lo <= v <= hi for lo, v, hi in zip(self.min, shape, self.max))

    def input_shapes(self, stage: str) -> dict[str, tuple[tuple[int, ...], ...]]:
        """``{input name: (min, opt, max)}`` as 4-D NCHW shapes, for TensorRT."""
        spec = check_stage(stage)
        return {name: tuple((s[0], c, s[1], s[2]) for s in (self.min, self.opt, self.max))
                for name, c in spec.inputs}

    def to_dict(self) -> dict:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, d) -> "ShapeProfile":
        if not isinstance(d, dict) or set(d) != {"min", "opt", "max"}:
            raise InvalidInputError(f"a shape profile is {{min, opt, max}}, got {d!r}")
        return cls.make(d["min"], d["opt"], d["max"])

    def __str__(self) -> str:
        return (f"min {format_shape(self.min)}, opt {format_shape(self.opt)}, "
                f"max {format_shape(self.max)}")


__all__ = ["ShapeProfile", "format_shape", "parse_shape"]
