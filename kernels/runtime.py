"""Where kernels may run: CUDA tensors, or CPU tensors under the Triton interpreter.

``TRITON_INTERPRET=1`` must be set before triton is first imported (triton decides at
``@triton.jit`` time whether a kernel is compiled or interpreted); tests set it in
``tests/conftest.py``.
"""

from __future__ import annotations

import torch
from triton import knobs


def interpreting() -> bool:
    """True when ``@triton.jit`` kernels run in the Triton interpreter (on the CPU)."""
    return bool(knobs.runtime.interpret)


def check_launchable(op: str, *tensors: torch.Tensor) -> None:
    """Raise ``RuntimeError`` unless every tensor can be handed to a kernel: all on one
    CUDA device, or all on the CPU while the interpreter is active."""
    devices = {t.device for t in tensors}
    if len(devices) != 1:
        raise RuntimeError(f"{op}: all tensors must be on one device, got "
                           f"{sorted(map(str, devices))}")
    device = devices.pop()
    if device.type == "cuda":
        return
    if device.type == "cpu" and interpreting():
        return
    raise RuntimeError(
        f"{op}: the Triton kernel needs CUDA tensors (got {device}); CPU tensors run only "
        "under the Triton interpreter (TRITON_INTERPRET=1 set before triton is imported)")


def launch_options() -> dict:
    """Compile options for kernels that must round like the PyTorch reference: no
    multiply-add contraction into FMA (an FMA rounds once where the reference rounds
    twice, which can move a sample across an 8-bit bin edge)."""
    return {"enable_fp_fusion": False}
