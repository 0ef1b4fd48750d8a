"""Fused DLMM sampling: one pass from the ``10 K`` mixture parameters of a pixel to its
quantized RGB sample.

Per pixel: Gumbel-max choice of the component (from the given uniform noise, or from
Philox uniforms drawn in the kernel from a seed), then for R, G, B in turn the logistic
sample around the coupled mean, clamped to [-1, 1] and snapped to the 8-bit levels
before it conditions the next channel; temperature divides the logits and multiplies
the scales (``T = 0``: argmax of the logits, no noise).

Reference: ``fastcolor.dlmm.dlmm_sample``, whose float operation order the kernel keeps
(and it launches without FMA contraction), so given the same noise the two agree sample
for sample up to float ties (see docs/design.md, "Comparing generators").
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .jit_math import div, log1p, quantize_8bit, tanh
from .runtime import check_launchable, launch_options

# constants of fastcolor.dlmm (kernels may read only constexpr globals)
LOG_SCALE_MIN = tl.constexpr(-7.0)
NOISE_EPS = tl.constexpr(1e-5)
MAX_BLOCK_P = 256          # pixels per program


@triton.jit
def _uniform(noise_ptr, seed, rng_offset, flat_index, valid, NOISE_FROM_SEED: tl.constexpr,
             STORE_UNIFORMS: tl.constexpr, uniforms_ptr, COMPUTE: tl.constexpr):
    """Uniform noise at ``flat_index`` of the ``(B, K + 3, H, W)`` noise layout, clamped to
    ``[NOISE_EPS, 1 - NOISE_EPS]``; from the seed it is Philox at ``rng_offset + index``
    (stored unclamped to ``uniforms_ptr`` if asked, so a test can replay it)."""
    if NOISE_FROM_SEED:
        u = tl.rand(seed, rng_offset + flat_index)
        if STORE_UNIFORMS:
            tl.store(uniforms_ptr + flat_index, u, mask=valid)
        u = u.to(COMPUTE)
    else:
        u = tl.load(noise_ptr + flat_index, mask=valid, other=0.5).to(COMPUTE)
    return tl.minimum(tl.maximum(u, NOISE_EPS), 1.0 - NOISE_EPS)


@triton.jit
def _channel_noise(noise_ptr, seed, rng_offset, noise_pix, channel, hw, valid, ls, temp,
                   NOISE_FROM_SEED: tl.constexpr, STORE_UNIFORMS: tl.constexpr, uniforms_ptr,
                   COMPUTE: tl.constexpr):
    """Logistic noise of one channel: ``exp(ls) * T * (log u - log(1 - u))``."""
    u = _uniform(noise_ptr, seed, rng_offset, noise_pix + channel * hw, valid, NOISE_FROM_SEED,
                 STORE_UNIFORMS, uniforms_ptr, COMPUTE)
    return tl.exp(ls) * temp * (tl.log(u) - log1p(-u))


@triton.jit
def dlmm_sample_kernel(
    params_ptr, noise_ptr, out_ptr, uniforms_ptr,
    temperature: tl.float64, n_pixels, hw, seed, rng_offset,
    K: tl.constexpr, K_PAD: tl.constexpr, ZERO_TEMPERATURE: tl.constexpr,
    NOISE_FROM_SEED: tl.constexpr, STORE_UNIFORMS: tl.constexpr,
    COMPUTE: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """Samples ``BLOCK_P`` pixels. params ``(B, 10K, H, W)``, noise ``(B, K + 3, H, W)``,
    out ``(B, 3, H, W)``, all contiguous; ``hw = H * W``; temperature: passed as fp64
    (its exact value for fp64 runs), rounded to the compute dtype like torch rounds a
    Python scalar."""
    pid = tl.program_id(0)
    offs_p = pid * BLOCK_P + tl.arange(0, BLOCK_P)
    valid = offs_p < n_pixels
    b = offs_p // hw
    s = offs_p % hw
    par_pix = b.to(tl.int64) * (10 * K * hw) + s
    noise_pix = b * ((K + 3) * hw) + s
    out_pix = b.to(tl.int64) * (3 * hw) + s

    comp = tl.arange(0, K_PAD)
    comp_valid = comp < K
    tile_valid = comp_valid[:, None] & valid[None, :]
    logits = tl.load(params_ptr + par_pix[None, :] + comp[:, None] * hw, mask=tile_valid,
                     other=0.0).to(COMPUTE)
    if ZERO_TEMPERATURE:
        temp = 0.0
        scores = logits
    else:
        temp = tl.full([], temperature, COMPUTE)
        u = _uniform(noise_ptr, seed, rng_offset, noise_pix[None, :] + comp[:, None] * hw,
                     tile_valid, NOISE_FROM_SEED, STORE_UNIFORMS, uniforms_ptr, COMPUTE)
        scores = div(logits, temp) - tl.log(-tl.log(u))
    scores = tl.where(comp_valid[:, None], scores, -float("inf"))
    pick = tl.argmax(scores, axis=0)                      # first index on ties, like torch

    mean_r = tl.load(params_ptr + par_pix + (K + pick) * hw, mask=valid, other=0.0).to(COMPUTE)
    mean_g = tl.load(params_ptr + par_pix + (2 * K + pick) * hw, mask=valid, other=0.0).to(COMPUTE)
    mean_b = tl.load(params_ptr + par_pix + (3 * K + pick) * hw, mask=valid, other=0.0).to(COMPUTE)
    coeff_a = tanh(tl.load(params_ptr + par_pix + (7 * K + pick) * hw, mask=valid,
                           other=0.0).to(COMPUTE))
    coeff_b = tanh(tl.load(params_ptr + par_pix + (8 * K + pick) * hw, mask=valid,
                           other=0.0).to(COMPUTE))
    coeff_c = tanh(tl.load(params_ptr + par_pix + (9 * K + pick) * hw, mask=valid,
                           other=0.0).to(COMPUTE))
    if ZERO_TEMPERATURE:
        eps_r = tl.zeros_like(mean_r)
        eps_g = tl.zeros_like(mean_r)
        eps_b = tl.zeros_like(mean_r)
    else:
        ls_r = tl.maximum(tl.load(params_ptr + par_pix + (4 * K + pick) * hw, mask=valid,
                                  other=0.0).to(COMPUTE), LOG_SCALE_MIN)
        ls_g = tl.maximum(tl.load(params_ptr + par_pix + (5 * K + pick) * hw, mask=valid,
                                  other=0.0).to(COMPUTE), LOG_SCALE_MIN)
        ls_b = tl.maximum(tl.load(params_ptr + par_pix + (6 * K + pick) * hw, mask=valid,
                                  other=0.0).to(COMPUTE), LOG_SCALE_MIN)
        eps_r = _channel_noise(noise_ptr, seed, rng_offset, noise_pix, K, hw, valid, ls_r, temp,
                               NOISE_FROM_SEED, STORE_UNIFORMS, uniforms_ptr, COMPUTE)
        eps_g = _channel_noise(noise_ptr, seed, rng_offset, noise_pix, K + 1, hw, valid, ls_g,
                               temp, NOISE_FROM_SEED, STORE_UNIFORMS, uniforms_ptr, COMPUTE)
        eps_b = _channel_noise(noise_ptr, seed, rng_offset, noise_pix, K + 2, hw, valid, ls_b,
                               temp, NOISE_FROM_SEED, STORE_UNIFORMS, uniforms_ptr, COMPUTE)
    red = quantize_8bit(mean_r + eps_r)
    green = quantize_8bit(mean_g + coeff_a * red + eps_g)
    blue = quantize_8bit(mean_b + coeff_b * red + coeff_c * green + eps_b)
    out_ty = out_ptr.dtype.element_ty
    tl.store(out_ptr + out_pix, red.to(out_ty), mask=valid)
    tl.store(out_ptr + out_pix + hw, green.to(out_ty), mask=valid)
    tl.store(out_ptr + out_pix + 2 * hw, blue.to(out_ty), mask=valid)


def dlmm_sample_triton(params: torch.Tensor, noise: torch.Tensor | None = None, *,
                       seed: int | None = None, rng_offset: int = 0, temperature: float = 1.0,
                       uniforms_out: torch.Tensor | None = None) -> torch.Tensor:
    """The kernel's launcher: RGB ``(B, 3, H, W)`` on the 8-bit levels, params' dtype.

    params: ``(B, 10K, H, W)`` fp16/bf16/fp32/fp64 (fp16/bf16 computed in fp32); noise:
    uniform ``(B, K + 3, H, W)`` in params' dtype, or None with ``seed`` (int, 0 ..
    2**31 - 1) for in-kernel Philox uniforms at counters ``rng_offset + index`` (use a
    new offset, or seed, for every call that must draw fresh noise); uniforms_out: an
    fp32 tensor shaped like the noise that receives the seed's uniforms (for tests);
    temperature >= 0 (checked by the caller).
    """
    if (noise is None) == (seed is None):
        raise ValueError("dlmm_sample_triton: give exactly one of noise and seed")
    b, c, h, w = params.shape
    k = c // 10
    tensors = [params] + ([noise] if noise is not None else []) + \
        ([uniforms_out] if uniforms_out is not None else [])
    check_launchable("dlmm_sample", *tensors)
    compute = torch.float64 if params.dtype == torch.float64 else torch.float32
    params = params.contiguous()
    if noise is not None:
        noise = noise.contiguous()
    if uniforms_out is not None and (uniforms_out.dtype != torch.float32
                                     or tuple(uniforms_out.shape) != (b, k + 3, h, w)
                                     or not uniforms_out.is_contiguous()):
        raise ValueError("dlmm_sample_triton: uniforms_out must be a contiguous float32 "
                         f"{(b, k + 3, h, w)} tensor")
    out = torch.empty(b, 3, h, w, dtype=params.dtype, device=params.device)
    n_pixels = b * h * w
    if n_pixels == 0:
        return out
    if b * (k + 3) * h * w + rng_offset >= 2 ** 31:
        raise ValueError("dlmm_sample_triton: noise counters must stay below 2**31")
    block_p = min(MAX_BLOCK_P, triton.next_power_of_2(n_pixels))
    dlmm_sample_kernel[(triton.cdiv(n_pixels, block_p),)](
        params, noise if noise is not None else params, out,
        uniforms_out if uniforms_out is not None else out, float(temperature),
        n_pixels, h * w, int(seed) if seed is not None else 0, int(rng_offset),
        K=k, K_PAD=triton.next_power_of_2(k), ZERO_TEMPERATURE=float(temperature) == 0.0,
        NOISE_FROM_SEED=seed is not None, STORE_UNIFORMS=uniforms_out is not None,
        COMPUTE=tl.float64 if compute == torch.float64 else tl.float32,
        BLOCK_P=block_p, num_warps=4, **launch_options())
    return out
