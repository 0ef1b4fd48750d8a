"""Weight files: safetensors holding a ``FastcolorModel`` state dict, its config and a
sha256 of the tensors.

The metadata (all strings, as safetensors requires) holds ``fastcolor_config`` (JSON),
``fastcolor_version`` and ``sha256``: the hex digest of the tensors' canonical bytes
(names sorted; for each its name, dtype, shape and raw little-endian data). Weights
written by ``fastcolor train`` also hold ``fastcolor_training`` (JSON, see
``fastcolor.train.trainer``: the data cache's fingerprint, the steps of each stage, the
base weights' sha256 with ``--init``); files without it load the same
(:func:`read_training` gives ``None``). Loading
recomputes it, so a flipped byte, a truncated file, NaN/Inf values or tensors that do
not fit the config each raise a ``WeightsError``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from . import __version__
from .atomic import atomic_path
from .config import FastcolorConfig
from .errors import InvalidInputError, WeightsError, WeightsNotFoundError

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "default.safetensors"


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """Hex sha256 of a state dict's canonical bytes (independent of file layout)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(json.dumps(list(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_weights(model, path, training: dict | None = None) -> str:
    """Write ``model`` (a ``FastcolorModel``) to ``path`` (.safetensors); return the sha256.
    ``training``: what the weights were trained from, stored as ``fastcolor_training``."""
    from safetensors.torch import save_file

    check_path(path, "the weights file")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    check_finite(tensors)
    digest = tensors_sha256(tensors)
    meta = {"fastcolor_config": model.config.to_json(), "fastcolor_version": __version__,
            "sha256": digest}
    if training is not None:
        meta["fastcolor_training"] = json.dumps(training, sort_keys=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return digest


def read_training(path) -> dict | None:
    """The ``fastcolor_training`` metadata of a weight file (``None`` when it has none, as
    the files written before it and by ``save_pretrained``); the tensors are not read."""
    from safetensors import SafetensorError, safe_open

    check_path(path, "a weights file")
    if not Path(path).is_file():
        raise WeightsNotFoundError(f"no weights file at {str(path)!r}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{str(path)!r} is not a readable safetensors file: {e}") from None
    if "fastcolor_training" not in meta:
        return None
    try:
        return json.loads(meta["fastcolor_training"])
    except json.JSONDecodeError as e:
        raise WeightsError(f"{str(path)!r} has bad training metadata: {e}") from None


def check_path(path, what: str) -> None:
    """Raise ``InvalidInputError`` unless ``path`` is a ``str`` or ``os.PathLike``."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(f"{what} must be a path (str or pathlib.Path), got "
                                f"{type(path).__name__} {path!r}")


def check_finite(tensors: dict[str, torch.Tensor]) -> None:
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise WeightsError(f"weights contain NaN or Inf values in {name!r}")


def load_weights(path, expected_sha256: str | None = None):
    """Read ``path`` -> ``(config, state_dict, sha256)``, checking everything in the module
    doc (and ``expected_sha256`` if given)."""
    from safetensors import SafetensorError
    from safetensors import safe_open

    check_path(path, "a weights file")
    if expected_sha256 is not None and not isinstance(expected_sha256, str):
        raise InvalidInputError(f"sha256 must be a hex string, got "
                                f"{type(expected_sha256).__name__} {expected_sha256!r}")
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"no weights file at {str(path)!r}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"{str(path)!r} is not a readable safetensors file: {e}") from None
    for key in ("fastcolor_config", "sha256"):
        if key not in meta:
            raise WeightsError(f"{str(path)!r} lacks the {key!r} metadata of a fastcolor "
                               f"weight file (save it with Pipeline.save_pretrained)")
    try:
        config = FastcolorConfig.from_json(meta["fastcolor_config"])
    except InvalidInputError as e:
        raise WeightsError(f"{str(path)!r} has a bad config: {e}") from None
    digest = tensors_sha256(tensors)
    if digest != meta["sha256"]:
        raise WeightsError(f"{str(path)!r} is corrupt: sha256 of its tensors is {digest}, "
                           f"the file records {meta['sha256']}")
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise WeightsError(f"{str(path)!r} has sha256 {digest}, expected {expected_sha256}")
    check_finite(tensors)
    return config, tensors, digest


def load_state_into(model, tensors: dict[str, torch.Tensor], source: str = "weights") -> None:
    """Copy ``tensors`` into ``model``; raise ``WeightsError`` naming every missing,
    unexpected or mis-shaped tensor."""
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    shapes = [f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(tensors)) if tensors[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected),
                             ("wrong shape", shapes)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{label}: {', '.join(items[:5])}{more}")
        raise WeightsError(f"{source} do not match the model config; " + "; ".join(parts))
    model.load_state_dict(tensors)


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def describe(model) -> str:
    """One line per stage with its parameter count."""
    rows = [("low-res conditioning", model.lowres.conditioning),
            ("low-res adaptation", model.lowres.adaptation),
            ("low-res PixelCNN", model.lowres.pixelcnn),
            *([("low-res color prior", model.lowres.prior)] if model.lowres.prior is not None
              else []),
            ("background detector", model.detector), ("polishing net", model.polisher)]
    total = sum(parameter_count(m) for _, m in rows)
    lines = [f"{name:22s} {_fmt_params(parameter_count(m)):>9s}" for name, m in rows]
    lines.append(f"{'total':22s} {_fmt_params(total):>9s}")
    return "\n".join(lines)

