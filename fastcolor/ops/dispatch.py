"""When an op of ``fastcolor.ops`` runs its Triton kernel instead of its reference.

``"auto"`` (the default): the kernel for CUDA tensors when triton is installed, the
pure-PyTorch reference otherwise (CPU tensors, or CUDA without triton). ``"reference"``:
always the reference. ``"triton"``: always the kernel; on CPU tensors that needs the
Triton interpreter (``TRITON_INTERPRET=1`` before triton is imported), which is how the
tests prove the kernels without a GPU::

    with fastcolor.ops.kernel_mode("triton"):
        y = conv(x)            # MaskedConv2d runs the Triton kernel on CPU tensors
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

import torch

from ..errors import BackendUnavailableError, InvalidInputError

KERNEL_MODES = ("auto", "reference", "triton")
_mode: ContextVar[str] = ContextVar("fastcolor_kernel_mode", default="auto")
_triton_installed: bool | None = None


def triton_installed() -> bool:
    """Whether triton imports here (checked once, on first use)."""
    global _triton_installed
    if _triton_installed is None:
        from fastcolor.kernels import triton_installed as probe
        _triton_installed = probe()
    return _triton_installed


@contextlib.contextmanager
def kernel_mode(mode: str):
    """Run the ops inside the ``with`` block in ``mode`` (see the module doc)."""
    if mode not in KERNEL_MODES:
        raise InvalidInputError(f"kernel mode must be one of {KERNEL_MODES}, got {mode!r}")
    token = _mode.set(mode)
    try:
        yield
    finally:
        _mode.reset(token)


def current_kernel_mode() -> str:
    return _mode.get()


def use_triton(*tensors: torch.Tensor) -> bool:
    """Whether an op on ``tensors`` should run its Triton kernel in the current mode."""
    mode = _mode.get()
    if mode == "reference":
        return False
    if mode == "triton":
        if not triton_installed():
            raise BackendUnavailableError(
                "kernel mode 'triton' needs the triton package (pip install triton)")
        return True
    return all(t.is_cuda for t in tensors) and triton_installed()


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The dtype autocast computes convolutions in on ``device`` inside an enabled
    ``torch.autocast`` region, else None (kernel paths cast like autocast would)."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return None
