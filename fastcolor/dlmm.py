"""Discretized logistic mixture (DLMM) over RGB, as in PixelCNN++ (Salimans et al. 2017).

The pure-PyTorch reference: the truth every fast path (Triton, C++) is checked against.

Parameter layout, ``params`` ``(B, 10 K, H, W)`` for ``K`` mixture components:

==================  =====================================  ============================
channels            meaning                                 after ``split_params``
==================  =====================================  ============================
``[0, K)``          mixture logits                          ``logits (B, K, H, W)``
``[K, 4K)``         means, channel ``c`` at ``K + cK + k``  ``means (B, 3, K, H, W)``
``[4K, 7K)``        log-scales                              clamped at ``LOG_SCALE_MIN``
``[7K, 10K)``       raw coupling coefficients               ``tanh``-ed: ``(alpha, beta, gamma)``
==================  =====================================  ============================

Per component, the channels are coupled R -> G -> B: the G mean is ``mu_g + alpha * r``,
the B mean ``mu_b + beta * r + gamma * g``, where ``r`` and ``g`` are the pixel's
(8-bit quantized) red and green values.

Values live in [-1, 1] on the 256 levels ``v / 127.5 - 1`` (``v = 0..255``); bin ``v``
covers ``+- 1/255`` around its level, the edge bins extend to -inf / +inf.

Sampling takes uniform noise ``(B, K + 3, H, W)`` in (0, 1): channels ``[0, K)`` pick the
component by Gumbel-max, channels ``K, K+1, K+2`` are the logistic noise of R, G, B.
``temperature`` T divides the logits and multiplies the scales; ``T = 0`` is its limit:
the component with the largest logit (first on ties), each channel at its coupled mean,
clamped and quantized (no noise used).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import InvalidInputError

LOG_SCALE_MIN = -7.0
NOISE_EPS = 1e-5          # uniform noise is clamped to [NOISE_EPS, 1 - NOISE_EPS]
LEVELS = 256
HALF_BIN = 1.0 / 255.0    # half the width of one 8-bit bin in [-1, 1] units


def num_mixtures(params: torch.Tensor) -> int:
    """K of ``params`` ``(B, 10 K, H, W)``."""
    if params.dim() != 4 or params.shape[1] % 10 or params.shape[1] == 0:
        raise InvalidInputError(
            f"DLMM params must be (B, 10*K, H, W), got shape {tuple(params.shape)}")
    return params.shape[1] // 10


def split_params(params: torch.Tensor):
    """``(B, 10K, H, W)`` -> ``logits (B,K,H,W)``, ``means``, ``log_scales`` (clamped),
    ``coeffs`` (tanh-ed), each of the last three ``(B, 3, K, H, W)``."""
    k = num_mixtures(params)
    b, _, h, w = params.shape
    logits = params[:, :k]
    means = params[:, k:4 * k].reshape(b, 3, k, h, w)
    log_scales = params[:, 4 * k:7 * k].reshape(b, 3, k, h, w).clamp(min=LOG_SCALE_MIN)
    coeffs = torch.tanh(params[:, 7 * k:10 * k].reshape(b, 3, k, h, w))
    return logits, means, log_scales, coeffs


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """Values in [-1, 1] (clamped first) -> nearest 8-bit level, same dtype, in 0..255."""
    return torch.round((x.clamp(-1.0, 1.0) + 1.0) * 127.5)


def from_levels(levels: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """8-bit levels 0..255 (any dtype) -> values ``v / 127.5 - 1`` in ``dtype``."""
    dtype = dtype or (levels.dtype if levels.is_floating_point() else torch.float32)
    return levels.to(dtype) / 127.5 - 1.0


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Snap values to the nearest of the 256 levels (clamped to [-1, 1]), same dtype."""
    return from_levels(to_levels(x), x.dtype)


def _check_x(params: torch.Tensor, x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[0] != params.shape[0] \
            or x.shape[2:] != params.shape[2:]:
        raise InvalidInputError(
            f"x must be (B, 3, H, W) matching params {tuple(params.shape)}, got {tuple(x.shape)}")


def coupled_means(means: torch.Tensor, coeffs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-component channel means given the pixel's earlier channels.

    means, coeffs: ``(B, 3, K, H, W)``; x: ``(B, 3, H, W)`` -> ``(B, 3, K, H, W)``."""
    r = x[:, 0:1]
    g = x[:, 1:2]
    m_r = means[:, 0]
    m_g = means[:, 1] + coeffs[:, 0] * r
    m_b = means[:, 2] + coeffs[:, 1] * r + coeffs[:, 2] * g
    return torch.stack([m_r, m_g, m_b], dim=1)


def dlmm_channel_log_probs(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Log-probability of each channel's 8-bit bin, per component, given the earlier
    channels: ``(B, 3, K, H, W)`` (nats). ``x`` ``(B, 3, H, W)`` on the 8-bit levels."""
    _check_x(params, x)
    _, means, log_scales, coeffs = split_params(params)
    mean = coupled_means(means, coeffs, x)
    xs = x.unsqueeze(2)
    centered = xs - mean
    inv_s = torch.exp(-log_scales)
    plus_in = inv_s * (centered + HALF_BIN)
    min_in = inv_s * (centered - HALF_BIN)
    cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
    log_cdf_plus = plus_in - F.softplus(plus_in)           # log sigmoid(plus_in): bin at -1
    log_one_minus_cdf_min = -F.softplus(min_in)            # log(1 - sigmoid(min_in)): bin at 1
    mid_in = inv_s * centered
    log_pdf_mid = mid_in - log_scales - 2.0 * F.softplus(mid_in)
    # PixelCNN++: when the bin holds almost no mass, use the density at its middle
    inner = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)),
                        log_pdf_mid - math.log(127.5))
    return torch.where(xs < -0.999, log_cdf_plus,
                       torch.where(xs > 0.999, log_one_minus_cdf_min, inner))


def dlmm_log_prob(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Log-likelihood of each pixel's RGB (nats): params ``(B, 10K, H, W)``, x ``(B, 3, H,
    W)`` on the 8-bit levels in [-1, 1] -> ``(B, H, W)``."""
    logits = params[:, :num_mixtures(params)]
    lp = dlmm_channel_log_probs(params, x).sum(dim=1)     # (B, K, H, W)
    return torch.logsumexp(lp + torch.log_softmax(logits, dim=1), dim=1)


def dlmm_nll_bits_per_dim(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood in bits per sub-pixel (scalar), the training loss."""
    return -dlmm_log_prob(params, x).mean() / (3.0 * math.log(2.0))


def sample_noise(batch: int, mixtures: int, height: int, width: int, *,
                 generator: torch.Generator | None = None, dtype=torch.float64,
                 device="cpu") -> torch.Tensor:
    """Uniform noise ``(B, K + 3, H, W)`` in [0, 1) for ``dlmm_sample``.

    Drawn in float64 on the CPU from ``generator`` and then cast, so the same seed gives
    the same noise for every dtype and device (every generator shares one noise)."""
    u = torch.rand(batch, mixtures + 3, height, width, generator=generator, dtype=torch.float64)
    return u.to(dtype=dtype, device=device)


def check_noise(params: torch.Tensor, noise: torch.Tensor) -> None:
    k = num_mixtures(params)
    b, _, h, w = params.shape
    if tuple(noise.shape) != (b, k + 3, h, w):
        raise InvalidInputError(
            f"noise must be (B, K+3, H, W) = {(b, k + 3, h, w)}, got {tuple(noise.shape)}")
    if not noise.is_floating_point():
        raise InvalidInputError(f"noise must be floating point, got {noise.dtype}")


def check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not math.isfinite(t) or t < 0:
        raise InvalidInputError(f"temperature must be finite and >= 0, got {temperature!r}")
    return t


def dlmm_sample(params: torch.Tensor, noise: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None,
                temperature: float = 1.0) -> torch.Tensor:
    """Sample RGB ``(B, 3, H, W)`` on the 8-bit levels in [-1, 1] from ``params``.

    ``noise``: uniform ``(B, K + 3, H, W)`` (see module doc); if None it is drawn with
    ``sample_noise(..., generator=generator)``. Each channel is clamped to [-1, 1] and
    quantized before it conditions the next (R -> G -> B)."""
    t = check_temperature(temperature)
    k = num_mixtures(params)
    b, _, h, w = params.shape
    if noise is None:
        noise = sample_noise(b, k, h, w, generator=generator, dtype=params.dtype,
                             device=params.device)
    check_noise(params, noise)
    noise = noise.to(params.dtype)
    logits, means, log_scales, coeffs = split_params(params)
    if t == 0.0:
        idx = logits.argmax(dim=1, keepdim=True)
    else:
        u = noise[:, :k].clamp(NOISE_EPS, 1.0 - NOISE_EPS)
        idx = (logits / t - torch.log(-torch.log(u))).argmax(dim=1, keepdim=True)
    pick = idx.unsqueeze(1).expand(b, 3, 1, h, w)
    mu = torch.gather(means, 2, pick).squeeze(2)            # (B, 3, H, W)
    ls = torch.gather(log_scales, 2, pick).squeeze(2)
    co = torch.gather(coeffs, 2, pick).squeeze(2)
    if t == 0.0:
        eps = torch.zeros_like(mu)
    else:
        u = noise[:, k:k + 3].clamp(NOISE_EPS, 1.0 - NOISE_EPS)
        eps = torch.exp(ls) * t * (torch.log(u) - torch.log1p(-u))
    r = quantize(mu[:, 0] + eps[:, 0])
    g = quantize(mu[:, 1] + co[:, 0] * r + eps[:, 1])
    bl = quantize(mu[:, 2] + co[:, 1] * r + co[:, 2] * g + eps[:, 2])
    return torch.stack([r, g, bl], dim=1)
