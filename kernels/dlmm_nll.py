"""Fused DLMM log-likelihood and its gradient: per pixel, all ``K`` components and three
channels in registers; no ``(B, 3, K, H, W)`` per-bin tensor is ever written.

Forward: ``log p(x) = logsumexp_k(log_softmax(logits)_k + sum_c log P_k(bin of x_c))``
per pixel, with PixelCNN++'s edge bins, log-scale clamp and mid-bin fallback.
Backward (recomputes the forward, FlashAttention-style, instead of saving it): with
``post_k`` the posterior of component ``k`` and ``pi_k`` its prior, ``d/d logit_k =
g (post_k - pi_k)``, and every per-component parameter gets ``g post_k`` times the
derivative of its channel's log-probability (through the coupled means, the clamp of the
log-scales and the ``tanh`` of the coupling coefficients), ``g`` the incoming gradient.

Reference: ``fastcolor.dlmm.dlmm_log_prob`` (and autograd through it).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from .jit_math import div, sigmoid, softplus, tanh
from .runtime import check_launchable

# constants of fastcolor.dlmm (kernels may read only constexpr globals)
LOG_SCALE_MIN = tl.constexpr(-7.0)
HALF_BIN = tl.constexpr(1.0 / 255.0)
LOG_HALF_LEVELS = tl.constexpr(math.log(127.5))
# pixels per program, (backward, fp64) -> BLOCK_P: the largest that keeps every
# (K_PAD, BLOCK_P) tile in registers on sm_80/sm_90 (fp64's exp/log take many more;
# checked by tests/test_kernels_compile.py)
MAX_BLOCK_P = {(False, False): 64, (True, False): 32, (False, True): 32, (True, True): 16}


@triton.jit
def _channel_log_prob(x, mean, log_scale, WITH_GRAD: tl.constexpr):
    """Log-probability of the 8-bit bin of ``x`` under one logistic (tiles ``(K_PAD,
    P)``), and, with ``WITH_GRAD``, its derivatives w.r.t. ``x - mean`` and the
    (clamped) log-scale."""
    centered = x - mean
    inv_s = tl.exp(-log_scale)
    plus_in = inv_s * (centered + HALF_BIN)
    min_in = inv_s * (centered - HALF_BIN)
    mid_in = inv_s * centered
    sig_plus = sigmoid(plus_in)
    sig_min = sigmoid(min_in)
    # the bin's mass; right of the mean as a difference of the two upper tails, which
    # keeps its relative precision where both CDFs round to ~1 (plus_in > min_in always)
    cdf_delta = tl.where(min_in > 0, sigmoid(-min_in) - sigmoid(-plus_in), sig_plus - sig_min)
    low_edge = x < -0.999
    high_edge = x > 0.999
    in_bin = cdf_delta > 1e-5
    inner = tl.where(in_bin, tl.log(tl.maximum(cdf_delta, 1e-12)),
                     mid_in - log_scale - 2.0 * softplus(mid_in) - LOG_HALF_LEVELS)
    lp = tl.where(low_edge, plus_in - softplus(plus_in),
                  tl.where(high_edge, -softplus(min_in), inner))
    d_centered = tl.zeros_like(lp)
    d_log_scale = tl.zeros_like(lp)
    if WITH_GRAD:
        # d lp / d plus_in and d lp / d min_in in each case; mid_in in the fallback
        one_minus_plus = sigmoid(-plus_in)
        inv_delta = div(tl.zeros_like(cdf_delta) + 1.0, tl.where(in_bin, cdf_delta, 1.0))
        d_plus = tl.where(low_edge, one_minus_plus,
                          tl.where(high_edge, 0.0,
                                   tl.where(in_bin, sig_plus * one_minus_plus * inv_delta, 0.0)))
        d_min = tl.where(low_edge, 0.0,
                         tl.where(high_edge, -sig_min,
                                  tl.where(in_bin, -sig_min * sigmoid(-min_in) * inv_delta, 0.0)))
        use_mid = (~low_edge) & (~high_edge) & (~in_bin)
        d_mid = tl.where(use_mid, 1.0 - 2.0 * sigmoid(mid_in), 0.0)
        # plus_in = inv_s * (centered + h): d/d centered = inv_s, d/d log_scale = -plus_in
        d_centered = (d_plus + d_min + d_mid) * inv_s
        d_log_scale = -(d_plus * plus_in + d_min * min_in + d_mid * mid_in) \
            - tl.where(use_mid, 1.0, 0.0)
    return lp, d_centered, d_log_scale


@triton.jit
def dlmm_log_prob_kernel(
    params_ptr, x_ptr, log_prob_ptr, grad_out_ptr, grad_params_ptr,
    n_pixels, hw,
    K: tl.constexpr, K_PAD: tl.constexpr, BACKWARD: tl.constexpr,
    COMPUTE: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """``BLOCK_P`` pixels. params ``(B, 10K, H, W)``, x ``(B, 3, H, W)``; forward writes
    ``log_prob (B, H, W)``; backward reads ``grad_out (B, H, W)`` and writes
    ``grad_params (B, 10K, H, W)``. All contiguous, ``hw = H * W``."""
    pid = tl.program_id(0)
    offs_p = pid * BLOCK_P + tl.arange(0, BLOCK_P)
    valid = offs_p < n_pixels
    b = offs_p // hw
    s = offs_p % hw
    par_pix = b.to(tl.int64) * (10 * K * hw) + s
    x_pix = b.to(tl.int64) * (3 * hw) + s
    comp = tl.arange(0, K_PAD)
    comp_valid = comp < K
    tile_valid = comp_valid[:, None] & valid[None, :]
    tile = par_pix[None, :] + comp[:, None] * hw          # channel `comp` of group 0

    logits = tl.load(params_ptr + tile, mask=tile_valid, other=0.0).to(COMPUTE)
    mean_r = tl.load(params_ptr + tile + K * hw, mask=tile_valid, other=0.0).to(COMPUTE)
    mean_g = tl.load(params_ptr + tile + 2 * K * hw, mask=tile_valid, other=0.0).to(COMPUTE)
    mean_b = tl.load(params_ptr + tile + 3 * K * hw, mask=tile_valid, other=0.0).to(COMPUTE)
    raw_ls_r = tl.load(params_ptr + tile + 4 * K * hw, mask=tile_valid, other=0.0).to(COMPUTE)
    raw_ls_g = tl.load(params_ptr + tile + 5 * K * hw, mask=tile_valid, other=0.0).to(COMPUTE)
    raw_ls_b = tl.load(params_ptr + tile + 6 * K * hw, mask=tile_valid, other=0.0).to(COMPUTE)
    coeff_a = tanh(tl.load(params_ptr + tile + 7 * K * hw, mask=tile_valid, other=0.0).to(COMPUTE))
    coeff_b = tanh(tl.load(params_ptr + tile + 8 * K * hw, mask=tile_valid, other=0.0).to(COMPUTE))
    coeff_c = tanh(tl.load(params_ptr + tile + 9 * K * hw, mask=tile_valid, other=0.0).to(COMPUTE))
    x_r = tl.load(x_ptr + x_pix, mask=valid, other=0.0).to(COMPUTE)[None, :]
    x_g = tl.load(x_ptr + x_pix + hw, mask=valid, other=0.0).to(COMPUTE)[None, :]
    x_b = tl.load(x_ptr + x_pix + 2 * hw, mask=valid, other=0.0).to(COMPUTE)[None, :]

    lp_r, dc_r, dls_r = _channel_log_prob(x_r, mean_r, tl.maximum(raw_ls_r, LOG_SCALE_MIN),
                                          BACKWARD)
    lp_g, dc_g, dls_g = _channel_log_prob(x_g, mean_g + coeff_a * x_r,
                                          tl.maximum(raw_ls_g, LOG_SCALE_MIN), BACKWARD)
    lp_b, dc_b, dls_b = _channel_log_prob(x_b, mean_b + coeff_b * x_r + coeff_c * x_g,
                                          tl.maximum(raw_ls_b, LOG_SCALE_MIN), BACKWARD)

    neg_inf = -float("inf")
    logits = tl.where(comp_valid[:, None], logits, neg_inf)
    logit_max = tl.max(logits, axis=0)
    log_norm = logit_max + tl.log(tl.sum(tl.exp(logits - logit_max[None, :]), axis=0))
    log_prior = logits - log_norm[None, :]                        # log_softmax
    joint = tl.where(comp_valid[:, None], lp_r + lp_g + lp_b + log_prior, neg_inf)
    joint_max = tl.max(joint, axis=0)
    log_prob = joint_max + tl.log(tl.sum(tl.exp(joint - joint_max[None, :]), axis=0))

    if not BACKWARD:
        tl.store(log_prob_ptr + offs_p, log_prob.to(log_prob_ptr.dtype.element_ty), mask=valid)
    else:
        g = tl.load(grad_out_ptr + offs_p, mask=valid, other=0.0).to(COMPUTE)[None, :]
        posterior = tl.exp(joint - log_prob[None, :])
        g_post = g * posterior                                    # d loss / d lp_k
        d_logits = g_post - g * tl.exp(log_prior)
        # d lp / d mean = -d lp / d centered; coupled means carry x_r, x_g
        d_mean_r = -g_post * dc_r
        d_mean_g = -g_post * dc_g
        d_mean_b = -g_post * dc_b
        d_ls_r = tl.where(raw_ls_r >= LOG_SCALE_MIN, g_post * dls_r, 0.0)
        d_ls_g = tl.where(raw_ls_g >= LOG_SCALE_MIN, g_post * dls_g, 0.0)
        d_ls_b = tl.where(raw_ls_b >= LOG_SCALE_MIN, g_post * dls_b, 0.0)
        d_raw_a = d_mean_g * x_r * (1.0 - coeff_a * coeff_a)
        d_raw_b = d_mean_b * x_r * (1.0 - coeff_b * coeff_b)
        d_raw_c = d_mean_b * x_g * (1.0 - coeff_c * coeff_c)
        out_ty = grad_params_ptr.dtype.element_ty
        gp = grad_params_ptr + tile
        tl.store(gp, d_logits.to(out_ty), mask=tile_valid)
        tl.store(gp + K * hw, d_mean_r.to(out_ty), mask=tile_valid)
        tl.store(gp + 2 * K * hw, d_mean_g.to(out_ty), mask=tile_valid)
        tl.store(gp + 3 * K * hw, d_mean_b.to(out_ty), mask=tile_valid)
        tl.store(gp + 4 * K * hw, d_ls_r.to(out_ty), mask=tile_valid)
        tl.store(gp + 5 * K * hw, d_ls_g.to(out_ty), mask=tile_valid)
        tl.store(gp + 6 * K * hw, d_ls_b.to(out_ty), mask=tile_valid)
        tl.store(gp + 7 * K * hw, d_raw_a.to(out_ty), mask=tile_valid)
        tl.store(gp + 8 * K * hw, d_raw_b.to(out_ty), mask=tile_valid)
        tl.store(gp + 9 * K * hw, d_raw_c.to(out_ty), mask=tile_valid)


def _launch(params, x, log_prob, grad_out, grad_params, backward: bool) -> None:
    b, c, h, w = params.shape
    k = c // 10
    n_pixels = b * h * w
    if n_pixels == 0:
        return
    compute = tl.float64 if params.dtype == torch.float64 else tl.float32
    block_p = min(MAX_BLOCK_P[backward, params.dtype == torch.float64],
                  triton.next_power_of_2(n_pixels))
    dummy = params
    dlmm_log_prob_kernel[(triton.cdiv(n_pixels, block_p),)](
        params, x, log_prob if log_prob is not None else dummy,
        grad_out if grad_out is not None else dummy,
        grad_params if grad_params is not None else dummy,
        n_pixels, h * w,
        K=k, K_PAD=triton.next_power_of_2(k), BACKWARD=backward, COMPUTE=compute,
        BLOCK_P=block_p, num_warps=4)


def dlmm_log_prob_triton(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Forward launcher: params ``(B, 10K, H, W)`` fp16/bf16/fp32/fp64 (halves computed in
    fp32), x ``(B, 3, H, W)`` on the 8-bit levels -> log-likelihood ``(B, H, W)`` (nats),
    params' dtype."""
    check_launchable("dlmm_log_prob", params, x)
    params, x = params.contiguous(), x.to(params.dtype).contiguous()
    out = torch.empty(params.shape[0], *params.shape[2:], dtype=params.dtype,
                      device=params.device)
    _launch(params, x, out, None, None, backward=False)
    return out


def dlmm_log_prob_grad_triton(params: torch.Tensor, x: torch.Tensor,
                              grad_out: torch.Tensor) -> torch.Tensor:
    """Backward launcher: ``grad_out (B, H, W)`` -> gradient w.r.t. params ``(B, 10K, H,
    W)`` in params' dtype (recomputes the forward per pixel)."""
    check_launchable("dlmm_log_prob backward", params, x, grad_out)
    params, x = params.contiguous(), x.to(params.dtype).contiguous()
    grad_out = grad_out.to(params.dtype).contiguous()
    grad = torch.empty_like(params)
    _launch(params, x, None, grad_out, grad, backward=True)
    return grad
