"""Masked 2-D convolution as an implicit GEMM over the kept taps only.

The output pixels are the GEMM's M dimension (``B * rows * cols`` of the requested output
window), the output channels its N dimension, and the reduction runs over ``C_in`` for
each kept tap ``(r, s)`` of the mask's bounding box: a tap the mask removes is never
loaded nor multiplied. Zero "same" padding is done by masked loads (no padded copy).

Epilogue: bias, and optionally the PixelCNN gate ``tanh(a) * sigmoid(b)`` of the two
halves of the output channels (each program then accumulates the matching channels of
both halves, so the gate needs no second pass).

Reference: ``F.conv2d(x, weight * mask, bias, padding=(kh // 2, kw // 2))``
(``fastcolor.models.masked_conv.MaskedConv2d``).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .jit_math import sigmoid, tanh
from .runtime import check_launchable

_TENSOR_CORE_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


@triton.jit
def _accumulate(a, w, acc, USE_DOT: tl.constexpr, DOT_PRECISION: tl.constexpr):
    """``acc + a @ w`` for tiles ``a (M, K)``, ``w (K, N)``: tensor cores (``tl.dot``) for
    fp16/bf16/fp32, FMA over a broadcast product for fp64."""
    if USE_DOT:
        acc = tl.dot(a, w, acc, input_precision=DOT_PRECISION)
    else:
        acc += tl.sum(a[:, :, None] * w[None, :, :], axis=1)
    return acc


@triton.jit
def masked_conv2d_kernel(
    x_ptr, w_ptr, bias_ptr, out_ptr,
    batch, c_in, height, width,
    out_row0, out_rows, out_col0, out_cols,
    n_out, gate_channel_offset, w_row_stride,
    sx_b, sx_c, sx_h, sx_w,
    so_b, so_c, so_h, so_w,
    TAP_ROW0: tl.constexpr, TAP_ROWS: tl.constexpr,
    TAP_COL0: tl.constexpr, TAP_COLS: tl.constexpr,
    PAD_H: tl.constexpr, PAD_W: tl.constexpr,
    HAS_BIAS: tl.constexpr, GATED: tl.constexpr,
    USE_DOT: tl.constexpr, DOT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """One ``BLOCK_M x BLOCK_N`` tile of the output window.

    x: ``(B, C_in, H, W)`` (any strides); w: packed ``(taps * C_in, C_out)`` row-major,
    row ``t * C_in + c`` for kept tap ``t`` (raster order in the bounding box); out:
    ``(B, n_out, out_rows, out_cols)``, output pixel ``(b, i, j)`` being the convolution
    at ``(out_row0 + i, out_col0 + j)``. Gated: ``n_out = C_out / 2``, the gate half of
    ``w`` and ``bias`` starts at column ``gate_channel_offset``.
    """
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    window = out_rows * out_cols
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_valid = offs_m < batch * window
    n_valid = offs_n < n_out
    b = offs_m // window
    q = offs_m % window
    oh = out_row0 + q // out_cols
    ow = out_col0 + q % out_cols
    x_batch = x_ptr + b.to(tl.int64) * sx_b

    acc_dtype = tl.float32 if USE_DOT else tl.float64
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=acc_dtype)
    acc_gate = tl.zeros((BLOCK_M, BLOCK_N), dtype=acc_dtype)
    for tap in range(TAP_ROWS * TAP_COLS):
        ih = oh + (TAP_ROW0 + tap // TAP_COLS - PAD_H)
        iw = ow + (TAP_COL0 + tap % TAP_COLS - PAD_W)
        inside = m_valid & (ih >= 0) & (ih < height) & (iw >= 0) & (iw < width)
        x_pix = x_batch + ih * sx_h + iw * sx_w
        for k0 in range(0, c_in, BLOCK_K):
            offs_k = k0 + tl.arange(0, BLOCK_K)
            k_valid = offs_k < c_in
            a = tl.load(x_pix[:, None] + offs_k[None, :] * sx_c,
                        mask=inside[:, None] & k_valid[None, :], other=0.0)
            w_rows = w_ptr + (tap * c_in + offs_k)[:, None] * w_row_stride
            w_mask = k_valid[:, None] & n_valid[None, :]
            w = tl.load(w_rows + offs_n[None, :], mask=w_mask, other=0.0)
            acc = _accumulate(a, w, acc, USE_DOT, DOT_PRECISION)
            if GATED:
                w_gate = tl.load(w_rows + (gate_channel_offset + offs_n)[None, :], mask=w_mask,
                                 other=0.0)
                acc_gate = _accumulate(a, w_gate, acc_gate, USE_DOT, DOT_PRECISION)

    if HAS_BIAS:
        acc += tl.load(bias_ptr + offs_n, mask=n_valid, other=0.0).to(acc_dtype)[None, :]
        if GATED:
            acc_gate += tl.load(bias_ptr + gate_channel_offset + offs_n, mask=n_valid,
                                other=0.0).to(acc_dtype)[None, :]
    if GATED:
        acc = tanh(acc) * sigmoid(acc_gate)

    q_row = q // out_cols
    q_col = q % out_cols
    out_pix = b.to(tl.int64) * so_b + q_row * so_h + q_col * so_w
    out_ptrs = out_ptr + out_pix[:, None] + offs_n[None, :] * so_c
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty),
             mask=m_valid[:, None] & n_valid[None, :])


def _pow2_between(n: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, triton.next_power_of_2(max(int(n), 1))))


def tile_sizes(dtype: torch.dtype, pixels: int, n_out: int, c_in: int, *, gated: bool,
               fp32_precision: str) -> tuple[int, int, int, int]:
    """``(BLOCK_M, BLOCK_N, BLOCK_K, num_warps)``: tensor-core tiles (every side >= 16) for
    fp16/bf16 and TF32; thinner K and 8 warps for IEEE fp32 (``tl.dot`` runs as FMAs,
    whose operands live in registers) and for a gated output (two accumulators); small
    FMA tiles for fp64. Chosen so no variant spills registers on sm_80/sm_90 (checked
    by tests/test_kernels_compile.py with ptxas)."""
    if dtype == torch.float64:
        return (_pow2_between(pixels, 16, 32), _pow2_between(n_out, 8, 16),
                _pow2_between(c_in, 4, 8), 4)
    block_m = 128 if pixels >= 4096 else 64
    block_n = _pow2_between(n_out, 16, 64)
    if dtype == torch.float32 and fp32_precision == "ieee":
        return block_m, block_n, 16, 8
    warps = 8 if gated or dtype == torch.float32 else 4
    return block_m, block_n, _pow2_between(c_in, 16, 32), warps


def masked_conv2d_triton(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         taps: tuple[int, int, int, int], *, gated: bool = False,
                         out_window: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """The kernel's launcher (forward only; ``fastcolor.ops.masked_conv2d`` adds autograd).

    x: ``(B, C_in, H, W)`` fp16/bf16/fp32/fp64; weight: the *masked* weight ``(C_out,
    C_in, kh, kw)`` (odd kh, kw; same padding ``kh // 2, kw // 2``); bias ``(C_out,)`` or
    None; taps ``(row0, rows, col0, cols)``: the box of kernel taps that holds every
    nonzero tap (only those are computed); gated: return ``tanh(a) * sigmoid(b)`` of the
    output-channel halves, ``(B, C_out / 2, ...)``; out_window ``(row0, row1, col0,
    col1)``: compute only those output rows/columns (default: all). Returns ``(B, C_out
    or C_out / 2, row1 - row0, col1 - col0)`` in x's dtype.
    """
    check_launchable("masked_conv2d", x, weight, *([bias] if bias is not None else []))
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"masked_conv2d: x, weight and bias must share a dtype, got {x.dtype}, "
                        f"{weight.dtype}, {None if bias is None else bias.dtype}")
    if x.dtype not in _TENSOR_CORE_DTYPES + (torch.float64,):
        raise TypeError(f"masked_conv2d: unsupported dtype {x.dtype}")
    batch, c_in, height, width = x.shape
    c_out, w_c_in, kh, kw = weight.shape
    if w_c_in != c_in:
        raise ValueError(f"masked_conv2d: weight expects {w_c_in} input channels, x has {c_in}")
    if gated and c_out % 2:
        raise ValueError(f"masked_conv2d: a gated output needs an even C_out, got {c_out}")
    row0, rows, col0, cols = taps
    r0, r1, c0, c1 = out_window if out_window is not None else (0, height, 0, width)
    if not (0 <= r0 <= r1 <= height and 0 <= c0 <= c1 <= width):
        raise ValueError(f"masked_conv2d: output window {out_window} outside {height} x {width}")
    n_out = c_out // 2 if gated else c_out
    out = torch.empty(batch, n_out, r1 - r0, c1 - c0, dtype=x.dtype, device=x.device)
    if out.numel() == 0:
        return out
    # (taps * C_in, C_out): the kept taps in raster order, each a C_in x C_out matrix
    packed = weight[:, :, row0:row0 + rows, col0:col0 + cols].permute(2, 3, 1, 0)
    packed = packed.reshape(rows * cols * c_in, c_out).contiguous()
    pixels = batch * (r1 - r0) * (c1 - c0)
    use_dot = x.dtype in _TENSOR_CORE_DTYPES
    # fp32 follows torch's matmul precision setting: "highest" (the default) keeps IEEE fp32
    precision = "ieee" if torch.get_float32_matmul_precision() == "highest" else "tf32"
    block_m, block_n, block_k, warps = tile_sizes(x.dtype, pixels, n_out, c_in, gated=gated,
                                                  fp32_precision=precision)
    grid = (triton.cdiv(pixels, block_m), triton.cdiv(n_out, block_n))
    masked_conv2d_kernel[grid](
        x, packed, bias if bias is not None else packed, out,
        batch, c_in, height, width,
        r0, r1 - r0, c0, c1 - c0,
        n_out, c_out // 2 if gated else 0, c_out,
        *x.stride(), *out.stride(),
        TAP_ROW0=row0, TAP_ROWS=rows, TAP_COL0=col0, TAP_COLS=cols,
        PAD_H=kh // 2, PAD_W=kw // 2,
        HAS_BIAS=bias is not None, GATED=gated,
        USE_DOT=use_dot, DOT_PRECISION=precision,
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=warps)
    return out
