"""The masked-convolution Triton kernel against its reference (``F.conv2d`` with the
masked weight), run by the Triton interpreter on CPU tensors (conftest sets
TRITON_INTERPRET=1): every mask kind, odd sizes, fp64/fp32/fp16, bias, the fused gate,
output windows, strided inputs, autograd and the ``MaskedConv2d`` dispatch.

Low-precision tolerance in the FlashAttention style: the kernel's error against a
float64 reference is at most twice that of the reference computed in the same dtype.
"""

import pytest
import torch

from fastcolor.kernels.masked_conv2d import masked_conv2d_triton
from fastcolor.models.masked_conv import MaskedConv2d, make_mask
from fastcolor.ops import kept_taps, kernel_mode, masked_conv2d, masked_conv2d_reference

CASES = [("vertical_a", (3, 3)), ("vertical_a", (5, 5)), ("vertical_b", (3, 3)),
         ("vertical_b", (5, 5)), ("horizontal_a", (1, 3)), ("horizontal_a", (1, 5)),
         ("horizontal_b", (1, 3)), ("horizontal_b", (1, 5)), ("none", (3, 3))]

# kept taps of each mask (what the kernel visits), as a fraction of the dense kernel
KEPT = {("vertical_a", (3, 3)): (0, 1, 0, 3), ("vertical_a", (5, 5)): (0, 2, 0, 5),
        ("vertical_b", (3, 3)): (0, 2, 0, 3), ("vertical_b", (5, 5)): (0, 3, 0, 5),
        ("horizontal_a", (1, 3)): (0, 1, 0, 1), ("horizontal_a", (1, 5)): (0, 1, 0, 2),
        ("horizontal_b", (1, 3)): (0, 1, 0, 2), ("horizontal_b", (1, 5)): (0, 1, 0, 3),
        ("none", (3, 3)): (0, 3, 0, 3)}


def conv_inputs(kernel_size, batch=1, c_in=3, c_out=10, h=5, w=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, c_in, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(c_out, c_in, *kernel_size, generator=g, dtype=torch.float64) * 0.4
    bias = torch.randn(c_out, generator=g, dtype=torch.float64)
    return x, weight, bias


def max_err(a, b):
    return (a.double() - b.double()).abs().max().item()


def assert_within_reference_error(out, x, weight, mask, bias, dtype, **kw):
    """FlashAttention-style check of ``out`` (computed in ``dtype``)."""
    truth = masked_conv2d_reference(x, weight, mask, bias, **kw)
    if dtype == torch.float64:
        torch.testing.assert_close(out, truth, atol=1e-12, rtol=1e-12)
        return
    ref_low = masked_conv2d_reference(x.to(dtype), weight.to(dtype), mask,
                                      bias.to(dtype), **kw)
    floor = 1e-6 * truth.abs().max().item()          # guards only a zero-error reference
    assert out.dtype == dtype
    assert max_err(out, truth) <= 2 * max_err(ref_low, truth) + floor, \
        (max_err(out, truth), max_err(ref_low, truth))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
@pytest.mark.parametrize("kind,kernel_size", CASES)
def test_kernel_matches_reference(kind, kernel_size, dtype):
    x, weight, bias = conv_inputs(kernel_size)
    mask = make_mask(kind, kernel_size)
    with kernel_mode("triton"):
        out = masked_conv2d(x.to(dtype), weight.to(dtype), mask, bias.to(dtype))
    assert out.shape == (1, 10, 5, 7)
    assert_within_reference_error(out, x, weight, mask, bias, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
@pytest.mark.parametrize("kind,kernel_size", [CASES[0], CASES[3], CASES[5], CASES[6], CASES[8]])
def test_fused_gate_matches_reference(kind, kernel_size, dtype):
    x, weight, bias = conv_inputs(kernel_size, batch=2, c_in=5, c_out=12, h=4, w=3, seed=1)
    mask = make_mask(kind, kernel_size)
    with kernel_mode("triton"):
        out = masked_conv2d(x.to(dtype), weight.to(dtype), mask, bias.to(dtype), gated=True)
    assert out.shape == (2, 6, 4, 3)
    assert_within_reference_error(out, x, weight, mask, bias, dtype, gated=True)


@pytest.mark.parametrize("kind,kernel_size", CASES)
def test_kernel_reads_only_the_kept_taps(kind, kernel_size):
    """Handed the *unmasked* weight and the kept-tap box, the kernel still computes the
    masked convolution: the taps the mask removes are never read."""
    x, weight, bias = conv_inputs(kernel_size, seed=2)
    mask = make_mask(kind, kernel_size)
    taps = kept_taps(mask)
    assert taps == KEPT[(kind, kernel_size)]
    out = masked_conv2d_triton(x, weight, bias, taps)
    torch.testing.assert_close(out, masked_conv2d_reference(x, weight, mask, bias),
                               atol=1e-12, rtol=1e-12)


def test_output_window_and_strided_input():
    """Only the requested rows/columns are computed, from a non-contiguous input."""
    g = torch.Generator().manual_seed(3)
    big = torch.randn(3, 6, 9, 15, generator=g, dtype=torch.float64)
    x = big[:, 1:5, 1:8, ::2]                    # (3, 4, 7, 8), not contiguous
    assert not x.is_contiguous()
    _, weight, bias = conv_inputs((5, 5), c_in=4, c_out=6, seed=4)
    mask = make_mask("vertical_b", (5, 5))
    full = masked_conv2d_reference(x, weight, mask, bias)
    with kernel_mode("triton"):
        for window in [(3, 4, 0, 8), (0, 7, 2, 5), (6, 7, 7, 8)]:
            r0, r1, c0, c1 = window
            out = masked_conv2d(x, weight, mask, bias, out_window=window)
            torch.testing.assert_close(out, full[:, :, r0:r1, c0:c1], atol=1e-12, rtol=1e-12)
        out = masked_conv2d(x, weight, mask, None)
    torch.testing.assert_close(out, masked_conv2d_reference(x, weight, mask, None),
                               atol=1e-12, rtol=1e-12)


def test_autograd_through_kernel_path():
    """Gradients w.r.t. input, weight (masked taps get zero) and bias equal autograd
    through the reference, also for a gated output and an output window."""
    x0, w0, b0 = conv_inputs((3, 3), batch=2, c_in=4, c_out=6, h=5, w=4, seed=5)
    mask = make_mask("vertical_b", (3, 3))
    for kw in (dict(), dict(gated=True), dict(out_window=(1, 4, 0, 3))):
        grads = []
        for mode in ("triton", "reference"):
            x, w, b = (t.clone().requires_grad_() for t in (x0, w0, b0))
            with kernel_mode(mode):
                y = masked_conv2d(x, w, mask, b, **kw)
            (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
            grads.append((x.grad, w.grad, b.grad))
        for got, want in zip(*grads):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)
        assert grads[0][1][:, :, 2].abs().max() == 0          # the masked-out row


def test_masked_conv2d_module_dispatch():
    """``MaskedConv2d`` runs ``F.conv2d`` on CPU tensors by default, the kernel when the
    mode says so, and both agree."""
    torch.manual_seed(6)
    conv = MaskedConv2d(3, 8, (3, 3), "vertical_b").double()
    x = torch.randn(1, 3, 5, 7, dtype=torch.float64)
    with torch.no_grad():
        default = conv(x)
        assert torch.equal(default, torch.nn.functional.conv2d(
            x, conv.masked_weight(), conv.bias, padding=(1, 1)))
        with kernel_mode("triton"):
            kernel = conv(x)
        with kernel_mode("reference"):
            assert torch.equal(conv(x), default)
    torch.testing.assert_close(kernel, default, atol=1e-12, rtol=1e-12)
    assert conv.kept_taps == (0, 2, 0, 3)


def test_launcher_rejects_mixed_dtypes_and_bad_windows():
    x, weight, bias = conv_inputs((3, 3))
    taps = (0, 2, 0, 3)
    with pytest.raises(TypeError):
        masked_conv2d_triton(x.float(), weight, bias, taps)
    with pytest.raises(ValueError):
        masked_conv2d_triton(x, weight, bias, taps, out_window=(0, 9, 0, 7))
    with pytest.raises(ValueError):
        masked_conv2d_triton(x, weight[:9], bias[:9], taps, gated=True)


def test_autocast_and_mixed_dtypes():
    """Inside ``torch.autocast`` the kernel path casts like autocast does for
    ``F.conv2d`` (fp16 here: bf16 dots are wrong in the interpreter); mixed dtypes
    outside autocast get F.conv2d's own error."""
    x, weight, bias = conv_inputs((3, 3), seed=7)
    x, weight, bias = x.float(), weight.float(), bias.float()
    mask = make_mask("vertical_b", (3, 3))
    with torch.autocast("cpu", dtype=torch.float16):
        with kernel_mode("triton"):
            out = masked_conv2d(x, weight, mask, bias)
        ref = masked_conv2d_reference(x, weight, mask, bias)
    assert out.dtype == ref.dtype == torch.float16
    truth = masked_conv2d_reference(x.double(), weight.double(), mask, bias.double())
    assert max_err(out, truth) <= 2 * max_err(ref, truth)
    with kernel_mode("triton"), pytest.raises(RuntimeError):
        masked_conv2d(x, weight.double(), mask, bias)
