"""Backends: which implementation runs each stage of the pipeline.

=============== ==================================================================
``reference``   PyTorch eager everywhere; naive low-res generation (the truth)
``cpp``         C++ cached generator ``fastcolor._C`` (CPU)
``triton``      Triton kernels + cached generation on CUDA
``onnxruntime`` feed-forward stages through ONNX Runtime
``tensorrt``    feed-forward stages through TensorRT engines
``auto``        the fastest one present for the device (``AUTO_PREFERENCE``)
=============== ==================================================================

A backend is an object with the four stage calls of ``ReferenceBackend`` and the
``kernel_mode`` (``fastcolor.ops.kernel_mode``) its stages run in: ``reference`` for the
reference backend (pure PyTorch, on CUDA too), ``auto`` for the others; each backend
module registers a factory and an availability check in ``_REGISTRY``. A backend that
cannot run raises ``BackendUnavailableError`` naming what is missing; it never falls
back silently.
"""

from __future__ import annotations

import importlib
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch

from .errors import BackendUnavailableError, InvalidInputError
from .generation import generate_naive

BACKEND_NAMES = ("reference", "cpp", "triton", "onnxruntime", "tensorrt")

# "auto" takes the first present backend of these, per device type.
AUTO_PREFERENCE = {"cpu": ("cpp", "reference"), "cuda": ("triton", "reference")}

# The U-Nets (detector, polisher) on the CPU: images per call on ATen's convolutions (the
# fastest per image there: 4.4 ms a tile at 2 against 5.0 at 4 and 8.6 at 16, both nets).
UNET_CPU_CHUNK = 2

_onednn_lock = threading.Lock()
_onednn_users = 0
_onednn_enabled_before = True


@contextmanager
def without_onednn():
    """PyTorch's CPU convolutions on ATen's own kernels, not oneDNN's, inside the block.
    oneDNN made the first polisher call of a process differ by up to 1e-4 from process to
    process on identical inputs (a region's color then one level off: a page's bytes
    depended on the process); ATen's give the same floats in every process and for every
    batch size. Re-entrant and thread-safe: the flag (process-wide in PyTorch) is cleared
    by the first thread in and restored by the last one out."""
    global _onednn_users, _onednn_enabled_before
    with _onednn_lock:
        if _onednn_users == 0:
            _onednn_enabled_before = torch.backends.mkldnn.set_flags(False, None, None, None)[0]
        _onednn_users += 1
    try:
        yield
    finally:
        with _onednn_lock:
            _onednn_users -= 1
            if _onednn_users == 0:
                torch.backends.mkldnn.set_flags(_onednn_enabled_before, None, None, None)


def in_chunks(step, tensors, size: int):
    """``step(*tensors)`` over the first axis in chunks of ``size`` (one call when they
    fit); a step returning a tuple gets each output concatenated (None stays None)."""
    n = tensors[0].shape[0]
    if n <= size:
        return step(*tensors)
    parts = [step(*(t[i:i + size] for t in tensors)) for i in range(0, n, size)]
    if isinstance(parts[0], tuple):           # a step with several outputs (or None)
        return tuple(None if p[0] is None else torch.cat(p) for p in zip(*parts))
    return torch.cat(parts)


def run_unet(net, *tensors: torch.Tensor) -> torch.Tensor:
    """``net(*tensors)`` over the first axis; on the CPU in chunks of ``UNET_CPU_CHUNK``
    ``without_onednn`` (the same floats in every process, whatever the batch), elsewhere
    in one call."""
    if tensors[0].device.type != "cpu":
        return net(*tensors)
    with without_onednn():
        return in_chunks(net, tensors, UNET_CPU_CHUNK)


class ReferenceBackend:
    """PyTorch eager for every stage; low-res samples from ``generate_naive`` (minutes a
    page: with ``progress`` (the default) a bar on stderr shows them once they pass 2 s;
    ``Pipeline(..., backend="reference", progress=False)`` keeps it quiet).

    Other backends subclass it and replace the stages they accelerate."""

    name = "reference"
    # the kernel mode (fastcolor.ops.kernel_mode) the pipeline runs the model stages in:
    # the reference backend is pure PyTorch everywhere, also on CUDA where "auto" would
    # put MaskedConv2d and the DLMM ops on their Triton kernels; the others take "auto"
    kernel_mode = "reference"

    def __init__(self, device: torch.device, *, progress: bool = True, **options):
        self.device = device
        self.progress = progress

    def condition(self, lowres, outline: torch.Tensor) -> torch.Tensor:
        """``LowResColorizer.condition``: outline ``(B, 1, S, S)`` -> ``(B, C, s, s)``."""
        return lowres.condition(outline)

    def condition_and_prior(self, lowres, outline: torch.Tensor):
        """``LowResColorizer.condition_and_prior``: outline ``(B, 1, S, S)`` ->
        (conditioning ``(B, C, s, s)``, the color prior's colors ``(B, 3, s, s)`` in about
        [-1, 1], or None for a model without a prior). Backends that run the conditioning
        as an exported graph take its features from the graph and the colors from the
        prior in PyTorch (``prior_colors``)."""
        if type(self).condition is ReferenceBackend.condition:
            return lowres.condition_and_prior(outline)        # one pass for both
        return self.condition(lowres, outline), prior_colors(lowres, outline)

    def generate(self, pixelcnn, cond: torch.Tensor, **kwargs) -> torch.Tensor:
        """Low-res sample ``(B, 3, s, s)``; kwargs of ``generation.prepare_inputs``."""
        return generate_naive(pixelcnn, cond, progress=self.progress, **kwargs)

    def detect(self, detector, outline: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
        """Background probability ``(B, 1, S, S)`` (``run_unet``)."""
        return run_unet(detector.probability, outline, colors)

    def polish(self, polisher, outline, colors, mask) -> torch.Tensor:
        """Polished colors ``(B, 3, S, S)`` in [-1, 1] (``run_unet``)."""
        return run_unet(polisher, outline, colors, mask)


def prior_colors(lowres, outline: torch.Tensor) -> torch.Tensor | None:
    """The color prior's colors ``(B, 3, s, s)`` of outline ``(B, 1, S, S)`` in PyTorch, or
    None for a model without a prior."""
    if lowres.prior is None:
        return None
    from .models.lowres import check_outline
    check_outline(outline, lowres.config.image_size)
    return lowres.prior(outline)[1]


class CppBackend(ReferenceBackend):
    """The C++ cached generator ``fastcolor._C`` for the low-res sample (CPU); the other
    stages stay PyTorch eager. The packed weights are kept per PixelCNN and re-packed
    when its parameters change."""

    name = "cpp"
    kernel_mode = "auto"

    def __init__(self, device: torch.device, **options):
        super().__init__(device, **options)
        self._packed: dict[int, tuple[tuple, object]] = {}

    def generate(self, pixelcnn, cond: torch.Tensor, **kwargs) -> torch.Tensor:
        from .generation.cpp import CppPixelCNN
        params = list(pixelcnn.parameters())
        key = tuple((p.data_ptr(), p._version, p.dtype) for p in params)
        cached = self._packed.get(id(pixelcnn))
        if cached is None or cached[0] != key:
            cached = (key, CppPixelCNN(pixelcnn))
            self._packed = {id(pixelcnn): cached}
        return cached[1].generate(cond, **kwargs)


def _cpp_unavailable(device: torch.device) -> str | None:
    if device.type != "cpu":
        return f"the C++ generator runs on the CPU, not on {device.type}"
    from .generation.cpp import cpp_unavailable_reason
    return cpp_unavailable_reason()


def fastest_generator(device: torch.device):
    """The fastest low-res generator present for ``device``, for backends that accelerate
    only the feed-forward stages (onnxruntime, tensorrt): C++ (or else cached PyTorch) on
    the CPU, the Triton cached generator (or else cached PyTorch) on CUDA. Returns
    ``generate(pixelcnn, cond, **kwargs)``; every choice gives the naive samples."""
    from .generation import generate_cached
    device = torch.device(device)
    if device.type == "cpu" and _cpp_unavailable(device) is None:
        return CppBackend(device).generate
    if device.type == "cuda":
        from .generation.triton_cached import generate_cached_triton, triton_unavailable_reason
        if triton_unavailable_reason(device) is None:
            return generate_cached_triton
    return generate_cached


@dataclass(frozen=True)
class BackendEntry:
    factory: Callable[..., ReferenceBackend]
    unavailable: Callable[[torch.device], str | None]  # None if it can run on the device


def _lazy(module: str, name: str):
    """``module.name`` looked up on first call: the triton and engine modules import this
    one, so they are imported only when their backend is asked for."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)
    return call


_REGISTRY: dict[str, BackendEntry] = {
    "reference": BackendEntry(ReferenceBackend, lambda device: None),
    "cpp": BackendEntry(CppBackend, _cpp_unavailable),
    "triton": BackendEntry(_lazy("fastcolor.generation.triton_cached", "TritonBackend"),
                           _lazy("fastcolor.generation.triton_cached",
                                 "triton_unavailable_reason")),
    "onnxruntime": BackendEntry(_lazy("fastcolor.engines", "onnxruntime_backend"),
                                _lazy("fastcolor.engines", "onnxruntime_unavailable")),
    "tensorrt": BackendEntry(_lazy("fastcolor.engines", "tensorrt_backend"),
                             _lazy("fastcolor.engines", "tensorrt_unavailable")),
}


def parse_device(device) -> torch.device:
    """``device`` (a string or ``torch.device``) as a ``torch.device`` of a type fastcolor
    runs on (``cpu``, ``cuda``, ``cuda:N``), present here or not; else ``InvalidInputError``."""
    if not isinstance(device, (str, torch.device)):
        raise InvalidInputError(f"device must be a string such as 'cpu' or 'cuda', got "
                                f"{type(device).__name__} {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InvalidInputError(f"unknown device {str(device)!r}: use 'cpu', 'cuda' or "
                                f"'cuda:N'") from None
    if dev.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"fastcolor does not run on device {str(dev)!r}: use 'cpu', "
                                f"'cuda' or 'cuda:N'")
    return dev


def check_device(device) -> torch.device:
    """``parse_device``, and the device is present: ``cuda`` needs a torch built with CUDA
    that sees the GPU; else ``BackendUnavailableError`` saying what to pass instead."""
    dev = parse_device(device)
    if dev.type == "cpu":
        return dev
    if torch.version.cuda is None and torch.version.hip is None:
        raise BackendUnavailableError(
            f"device {str(dev)!r}: this torch {torch.__version__} is a CPU-only build; use "
            f"device 'cpu' (CLI: --device cpu), or install a CUDA build of torch")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise BackendUnavailableError(
            f"device {str(dev)!r}: torch sees no CUDA GPU here (driver, "
            f"CUDA_VISIBLE_DEVICES); use device 'cpu' (CLI: --device cpu)")
    if dev.index is not None and dev.index >= count:
        raise BackendUnavailableError(
            f"device {str(dev)!r}: torch sees {count} GPU(s), cuda:0..cuda:{count - 1}")
    return dev


def backend_unavailable_reason(name: str, device) -> str | None:
    """None if backend ``name`` can run on ``device`` here, else what is missing."""
    if name not in _REGISTRY:
        raise InvalidInputError(f"unknown backend {name!r}; expected one of "
                                f"{('auto',) + BACKEND_NAMES}")
    return _REGISTRY[name].unavailable(torch.device(device))


def available_backends(device="cpu") -> list[str]:
    return [n for n in BACKEND_NAMES if backend_unavailable_reason(n, device) is None]


def resolve_backend(name: str, device, **options) -> ReferenceBackend:
    """The backend object for ``name`` (``"auto"``: the fastest present) on ``device``;
    ``options`` go to the backend (e.g. ``engine_dir`` for TensorRT)."""
    device = torch.device(device)
    if not isinstance(name, str):
        raise InvalidInputError(f"backend must be a string, got {name!r}")
    if name == "auto":
        # the first present in order: asking every backend would import them all
        # (onnxruntime alone costs a CPU start ~0.3 s, every CLI run and Ray actor)
        preference = AUTO_PREFERENCE["cuda" if device.type == "cuda" else "cpu"]
        name = next(n for n in preference if backend_unavailable_reason(n, device) is None)
    reason = backend_unavailable_reason(name, device)
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} cannot run here: {reason}")
    return _REGISTRY[name].factory(device, **options)
