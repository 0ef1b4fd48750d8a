"""Elementwise helpers for kernels, written with plain ``tl`` ops (no libdevice, so they
also run in the Triton interpreter). Each works in the dtype of its argument (fp32 or
fp64) and is accurate to a few ulp over the ranges the DLMM uses.

Divisions go through ``div``: Triton compiles an fp32 ``/`` to ``div.full.f32`` (2 ulp),
which would put quantized values an ulp off the reference's 8-bit levels."""

import triton
import triton.language as tl


@triton.jit
def div(a, b):
    """``a / b`` rounded to nearest in fp32 (``div.rn``) as in fp64; ``a`` a tensor."""
    if a.dtype == tl.float64:
        return a / b
    else:
        return tl.div_rn(a, b)


@triton.jit
def log1p(y):
    """``log(1 + y)`` for ``y > -1``, accurate for small ``|y|`` (Goldberg's trick:
    ``log(u) * y / (u - 1)`` with ``u = 1 + y`` cancels the rounding of ``u``)."""
    u = 1.0 + y
    small = u == 1.0
    den = tl.where(small, 1.0, u - 1.0)
    return tl.where(small, y, tl.log(u) * div(y, den))


@triton.jit
def softplus(z):
    """``log(1 + exp(z))`` without overflow."""
    return tl.maximum(z, 0.0) + log1p(tl.exp(-tl.abs(z)))


@triton.jit
def sigmoid(z):
    """``1 / (1 + exp(-z))`` without overflow (either sign of ``z``)."""
    e = tl.exp(-tl.abs(z))
    return tl.where(z >= 0, div(tl.zeros_like(e) + 1.0, 1.0 + e), div(e, 1.0 + e))


@triton.jit
def tanh(z):
    """``tanh(z)`` from ``exp(-2|z|)`` (no overflow; absolute error ~1 ulp of 1)."""
    e = tl.exp(-2.0 * tl.abs(z))
    t = div(1.0 - e, 1.0 + e)
    return tl.where(z < 0, -t, t)


@triton.jit
def round_half_even(y):
    """Nearest integer, ties to even (``torch.round``); exact for ``|y| < 2**22``."""
    f = tl.floor(y)
    frac = y - f
    f_is_odd = (f - 2.0 * tl.floor(0.5 * f)) != 0.0
    up = (frac > 0.5) | ((frac == 0.5) & f_is_odd)
    return tl.where(up, f + 1.0, f)


@triton.jit
def quantize_8bit(x):
    """``fastcolor.dlmm.quantize``: clamp to [-1, 1], snap to the nearest of the 256
    levels ``v / 127.5 - 1`` with the reference's op order (ties to even)."""
    c = tl.minimum(tl.maximum(x, -1.0), 1.0)
    return div(round_half_even((c + 1.0) * 127.5), 127.5) - 1.0
