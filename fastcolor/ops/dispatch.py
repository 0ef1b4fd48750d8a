"""Which path an op runs: its reference (the truth) or a fast path. One mechanism for
the whole library: the Triton ops of ``fastcolor.ops`` and the C++ ops
(``fastcolor.flats``) both ask here.

``"auto"`` (the default): the Triton kernel for CUDA tensors when triton is installed,
the C++ path of a C++ op when ``fastcolor._C`` is built, the reference otherwise.
``"reference"``: always the reference. ``"triton"``: always the Triton kernel; on CPU
tensors that needs the Triton interpreter (``TRITON_INTERPRET=1`` before triton is
imported), which is how the tests prove the kernels without a GPU. ``"cpp"``: always the
C++ path (``BackendUnavailableError`` if the extension is not built). A mode that names
a path an op does not have leaves that op on its reference::

    with fastcolor.ops.kernel_mode("triton"):
        y = conv(x)            # MaskedConv2d runs the Triton kernel on CPU tensors
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

import torch

from ..errors import BackendUnavailableError, InvalidInputError

KERNEL_MODES = ("auto", "reference", "triton", "cpp")
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
    if mode in ("reference", "cpp"):
        return False
    if mode == "triton":
        if not triton_installed():
            raise BackendUnavailableError(
                "kernel mode 'triton' needs the triton package (pip install triton)")
        return True
    return all(t.is_cuda for t in tensors) and triton_installed()


def use_cpp(op: str) -> bool:
    """Whether a C++ op (``fastcolor.flats``) should run ``fastcolor._C.<op>``: in "auto"
    when the extension is built and has ``op`` (an extension built before the op was
    added runs the reference), in "cpp" always (or ``BackendUnavailableError``)."""
    from ..generation.cpp import cpp_unavailable_reason, load_extension
    mode = _mode.get()
    if mode not in ("auto", "cpp"):
        return False
    reason = cpp_unavailable_reason()
    if reason is None and not hasattr(load_extension(), op):
        reason = (f"the built fastcolor._C has no {op} (built from older sources); rebuild "
                  "it with `pip install --no-build-isolation -e .`")
    if reason is not None and mode == "cpp":
        raise BackendUnavailableError(f"kernel mode 'cpp': {reason}")
    return reason is None


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The dtype autocast computes convolutions in on ``device`` inside an enabled
    ``torch.autocast`` region, else None (kernel paths cast like autocast would)."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return None
