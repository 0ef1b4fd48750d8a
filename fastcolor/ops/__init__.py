"""Ops with a Triton kernel and a pure-PyTorch reference, and the dispatch between them
(``kernel_mode``; the kernel on CUDA tensors by default). See ``fastcolor.kernels``."""

from .dispatch import KERNEL_MODES, current_kernel_mode, kernel_mode, use_cpp, use_triton
from .dlmm import dlmm_log_prob, dlmm_nll_bits_per_dim, dlmm_sample
from .masked_conv import kept_taps, masked_conv2d, masked_conv2d_reference

__all__ = ["KERNEL_MODES", "current_kernel_mode", "dlmm_log_prob", "dlmm_nll_bits_per_dim",
           "dlmm_sample", "kept_taps", "kernel_mode", "masked_conv2d", "masked_conv2d_reference",
           "use_cpp", "use_triton"]
