"""The metadata file beside each TensorRT engine, and the check that refuses an engine
built for something else.

A TensorRT engine is compiled for one TensorRT version and one GPU architecture, and
holds one set of weights; ``<stage>.engine`` comes with ``<stage>.json``:

=================== ====================================================================
fastcolor_version   the library that exported the graph (its graphs may change)
weights_sha256      the weights baked into the engine (``Pipeline.weights_sha256``)
tensorrt_version    ``tensorrt.__version__`` of the builder
gpu_name            ``torch.cuda.get_device_name`` of the builder's GPU
compute_capability  ``"8.6"``, ``"9.0"``...
precision           fp32, tf32, fp16 or bf16
profile             ``{"min": [B, H, W], "opt": [...], "max": [...]}``
stage, image_size   the stage and the model's working size S
=================== ====================================================================

``check_metadata`` compares it with the running library, weights, TensorRT and GPU and
raises ``EngineMismatchError`` listing every difference and how to rebuild.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic import write_atomic
from ..errors import InvalidInputError
from .errors import EngineError, EngineMismatchError
from .graphs import check_precision, check_stage
from .profiles import ShapeProfile

METADATA_FORMAT = 1


@dataclass(frozen=True)
class EngineMetadata:
    stage: str
    precision: str
    fastcolor_version: str
    weights_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    profile: ShapeProfile
    image_size: int
    extra: dict = field(default_factory=dict)   # informational: torch version, build time

    def __post_init__(self):
        check_stage(self.stage)
        check_precision(self.precision)
        if not isinstance(self.profile, ShapeProfile):
            raise InvalidInputError("EngineMetadata.profile must be a ShapeProfile")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["profile"] = self.profile.to_dict()
        d["format"] = METADATA_FORMAT
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EngineMetadata":
        keys = {"stage", "precision", "fastcolor_version", "weights_sha256", "tensorrt_version",
                "gpu_name", "compute_capability", "profile", "image_size"}
        if not isinstance(d, dict) or not keys <= set(d):
            missing = sorted(keys - set(d)) if isinstance(d, dict) else sorted(keys)
            raise EngineError(f"engine metadata lacks {', '.join(missing)}")
        if d.get("format") != METADATA_FORMAT:
            raise EngineError(f"engine metadata format {d.get('format')!r} is not "
                              f"{METADATA_FORMAT}: rebuild the engine with this fastcolor")
        try:
            return cls(stage=d["stage"], precision=d["precision"],
                       fastcolor_version=str(d["fastcolor_version"]),
                       weights_sha256=str(d["weights_sha256"]),
                       tensorrt_version=str(d["tensorrt_version"]), gpu_name=str(d["gpu_name"]),
                       compute_capability=str(d["compute_capability"]),
                       profile=ShapeProfile.from_dict(d["profile"]),
                       image_size=int(d["image_size"]), extra=dict(d.get("extra", {})))
        except (InvalidInputError, TypeError, ValueError) as e:
            raise EngineError(f"bad engine metadata: {e}") from None

    def write(self, path) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path) -> "EngineMetadata":
        path = Path(path)
        if not path.is_file():
            raise EngineError(f"no engine metadata file at {str(path)!r} (each engine needs "
                              f"the .json that fastcolor build-engine writes beside it)")
        try:
            d = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise EngineError(f"{str(path)!r} is not readable engine metadata: {e}") from None
        return cls.from_dict(d)


def engine_paths(engine_dir, stage: str) -> tuple[Path, Path]:
    """``(engine file, metadata file)`` of ``stage`` in ``engine_dir``."""
    d, name = Path(engine_dir), check_stage(stage).name
    return d / f"{name}.engine", d / f"{name}.json"


def check_metadata(meta: EngineMetadata, *, fastcolor_version: str, weights_sha256: str,
                   tensorrt_version: str, gpu_name: str, compute_capability: str,
                   image_size: int | None = None, stage: str | None = None,
                   source: str = "engine") -> None:
    """Raise ``EngineMismatchError`` unless ``meta`` was built for exactly these; the
    message lists every difference and the command that rebuilds the engine."""
    problems = []

    def cmp(what, built, running):
        if str(built) != str(running):
            problems.append(f"{what}: built for {built}, running {running}")

    if stage is not None:
        cmp("stage", meta.stage, stage)
    cmp("fastcolor version", meta.fastcolor_version, fastcolor_version)
    cmp("weights sha256", meta.weights_sha256, weights_sha256)
    cmp("TensorRT version", meta.tensorrt_version, tensorrt_version)
    cmp("GPU", meta.gpu_name, gpu_name)
    cmp("GPU compute capability", meta.compute_capability, compute_capability)
    if image_size is not None:
        cmp("model image_size", meta.image_size, image_size)
        if not meta.profile.contains((1, image_size, image_size)):
            problems.append(f"shape profile ({meta.profile}) does not contain the pipeline's "
                            f"working shape 1x{image_size}x{image_size}")
    if problems:
        raise EngineMismatchError(
            f"{source} cannot run here: " + "; ".join(problems) + ". TensorRT engines are "
            f"tied to one TensorRT version, GPU and set of weights: rebuild on this machine "
            f"with fastcolor build-engine --weights W --stages {meta.stage} --out DIR")


__all__ = ["EngineMetadata", "METADATA_FORMAT", "check_metadata", "engine_paths"]
