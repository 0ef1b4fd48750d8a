"""DLMM ops dispatched to the fused Triton kernels (``fastcolor.kernels.dlmm_sample`` and
``fastcolor.kernels.dlmm_nll``) or to their references in ``fastcolor.dlmm``.

Same arguments and results as the references, plus ``seed`` for sampling: noise drawn by
the path that runs (the kernel's counter-based Philox on the kernel path, a
``torch.Generator`` seeded with it on the reference path; the two streams differ).
"""

from __future__ import annotations

import math

import torch

from .. import dlmm as reference
from ..errors import InvalidInputError
from .dispatch import autocast_dtype, use_triton


def dlmm_sample(params: torch.Tensor, noise: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None, seed: int | None = None,
                rng_offset: int = 0, temperature: float = 1.0) -> torch.Tensor:
    """RGB ``(B, 3, H, W)`` on the 8-bit levels from params ``(B, 10K, H, W)``.

    Noise source, first given wins: ``noise`` (uniform ``(B, K + 3, H, W)``), ``seed``
    (an int in 0 .. 2**31 - 1; ``rng_offset`` shifts the kernel's Philox counters so
    repeated calls with one seed draw fresh noise), ``generator`` or the global torch
    RNG (``fastcolor.dlmm.sample_noise``, on the CPU, then moved: every path and dtype
    sees the same noise). ``temperature`` >= 0."""
    t = reference.check_temperature(temperature)
    k = reference.num_mixtures(params)
    b, _, h, w = params.shape
    if noise is not None:
        reference.check_noise(params, noise)
    elif seed is not None:
        if not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
            raise InvalidInputError(f"seed must be an int in [0, 2**31), got {seed!r}")
    if not use_triton(params):
        if noise is None and seed is not None:
            generator = torch.Generator().manual_seed(seed)
        return reference.dlmm_sample(params, noise, generator=generator, temperature=t)
    from fastcolor.kernels.dlmm_sample import dlmm_sample_triton
    if noise is None and seed is not None:
        return dlmm_sample_triton(params, seed=seed, rng_offset=rng_offset, temperature=t)
    if noise is None:
        noise = reference.sample_noise(b, k, h, w, generator=generator, dtype=params.dtype,
                                       device=params.device)
    return dlmm_sample_triton(params, noise.to(device=params.device, dtype=params.dtype),
                              temperature=t)


class DLMMLogProbFunction(torch.autograd.Function):
    """The fused kernel's forward and (recomputing) backward; gradient w.r.t. params only
    (x is data: 8-bit levels)."""

    @staticmethod
    def forward(ctx, params, x):
        from fastcolor.kernels.dlmm_nll import dlmm_log_prob_triton
        ctx.save_for_backward(params, x)
        return dlmm_log_prob_triton(params, x)

    @staticmethod
    def backward(ctx, grad_out):
        from fastcolor.kernels.dlmm_nll import dlmm_log_prob_grad_triton
        params, x = ctx.saved_tensors
        grad = dlmm_log_prob_grad_triton(params, x, grad_out) if ctx.needs_input_grad[0] else None
        return grad, None


def dlmm_log_prob(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel log-likelihood (nats) ``(B, H, W)`` of x ``(B, 3, H, W)`` (8-bit levels in
    [-1, 1]) under params ``(B, 10K, H, W)``; differentiable w.r.t. params."""
    if not use_triton(params, x):
        return reference.dlmm_log_prob(params, x)
    reference.num_mixtures(params)
    reference._check_x(params, x)
    if autocast_dtype(params.device) is not None:
        params = params.float()               # autocast runs the likelihood in float32
    return DLMMLogProbFunction.apply(params, x)


_NATS_PER_BIT_DIM = 3.0 * math.log(2.0)     # nats of a pixel's RGB -> bits per sub-pixel


def dlmm_nll_bits(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel negative log-likelihood in bits per sub-pixel ``(B, H, W)`` (for weighted
    losses); its mean is :func:`dlmm_nll_bits_per_dim`."""
    return -dlmm_log_prob(params, x) / _NATS_PER_BIT_DIM


def dlmm_nll_bits_per_dim(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood in bits per sub-pixel (scalar), the training loss."""
    return -dlmm_log_prob(params, x).mean() / _NATS_PER_BIT_DIM
