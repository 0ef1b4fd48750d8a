"""Backends: which implementation runs each stage.

=============== ==================================================================
``reference``   PyTorch eager everywhere; naive low-res generation (the truth)
``cpp``         C++ cached generator ``fastcolor._C`` (CPU)       -- not built yet
``triton``      Triton kernels + cached generation on CUDA       -- not built yet
``onnxruntime`` U-Nets through ONNX Runtime                      -- not built yet
``tensorrt``    U-Nets through TensorRT engines                  -- not built yet
``auto``        the fastest one present for the device
=============== ==================================================================

A backend that cannot run raises ``BackendUnavailableError`` naming what is missing; it
never falls back silently.
"""

from __future__ import annotations

import torch

from .errors import BackendUnavailableError, InvalidInputError
from .generation import generate_naive

BACKEND_NAMES = ("reference", "cpp", "triton", "onnxruntime", "tensorrt")

# What each backend still lacks in this version of fastcolor (the issue that brings it).
_NOT_YET = {
    "cpp": "the C++ cached generator fastcolor._C (issue: C++ extension)",
    "triton": "the Triton kernels and CUDA cached generator (issue: Triton kernels)",
    "onnxruntime": "the ONNX export and ONNX Runtime runner (issue: Deployment)",
    "tensorrt": "the TensorRT engine builder and runner (issue: Deployment)",
}


# "auto" takes the first present backend of these, per device type.
AUTO_PREFERENCE = {"cpu": ("cpp", "reference"), "cuda": ("triton", "reference")}


class ReferenceBackend:
    """PyTorch eager; low-res samples from ``generate_naive``."""

    name = "reference"

    def generate(self, pixelcnn, cond, **kwargs) -> torch.Tensor:
        return generate_naive(pixelcnn, cond, **kwargs)


def backend_unavailable_reason(name: str, device: torch.device) -> str | None:
    """None if backend ``name`` can run on ``device`` here, else what is missing."""
    if name not in BACKEND_NAMES:
        raise InvalidInputError(f"unknown backend {name!r}; expected one of "
                                f"{('auto',) + BACKEND_NAMES}")
    if name == "reference":
        return None
    from . import __version__
    return f"fastcolor {__version__} does not include {_NOT_YET[name]}"


def available_backends(device="cpu") -> list[str]:
    device = torch.device(device)
    return [n for n in BACKEND_NAMES if backend_unavailable_reason(n, device) is None]


def resolve_backend(name: str, device) -> ReferenceBackend:
    """The backend object for ``name`` (``"auto"``: the fastest present) on ``device``."""
    device = torch.device(device)
    if not isinstance(name, str):
        raise InvalidInputError(f"backend must be a string, got {name!r}")
    if name == "auto":
        preference = AUTO_PREFERENCE["cuda" if device.type == "cuda" else "cpu"]
        present = available_backends(device)
        name = next(n for n in preference if n in present)
    reason = backend_unavailable_reason(name, device)
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} cannot run here: {reason}")
    return ReferenceBackend()
