"""Triton kernels of fastcolor, installed as ``fastcolor.kernels``.

Each kernel has a pure-PyTorch reference in ``fastcolor`` (the truth) and a dispatcher
in ``fastcolor.ops`` that uses the kernel on CUDA tensors:

==================  ==========================================  ===============================
kernel module       what it computes                            reference
==================  ==========================================  ===============================
``masked_conv2d``   implicit-GEMM masked convolution over the   ``MaskedConv2d`` (``F.conv2d``
                    kept taps only; bias, optional gate fused   with the masked weight)
``dlmm_sample``     Gumbel-max + logistic sample + R->G->B      ``fastcolor.dlmm.dlmm_sample``
                    coupling + 8-bit quantization, one pass
``dlmm_nll``        per-pixel DLMM log-likelihood and its       ``fastcolor.dlmm.dlmm_log_prob``
                    gradient w.r.t. the parameters, one pass
==================  ==========================================  ===============================

Importing this package never imports triton (GPU-less installs may not have it); the
kernel modules import it, and ``fastcolor.ops`` imports them only when a kernel runs.
``runtime`` says where kernels may run; ``jit_math`` holds the elementwise helpers.
"""

from __future__ import annotations

KERNELS: tuple[str, ...] = ("masked_conv2d", "dlmm_sample", "dlmm_nll")


def triton_installed() -> bool:
    """Whether the ``triton`` package imports here (imports it: call on use, not at
    import time)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True
