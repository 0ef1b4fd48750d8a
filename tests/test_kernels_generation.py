"""The CUDA cached generator (``generate_cached_triton``: masked-conv and dlmm_sample
kernels inside ``generate_cached``) and the ``triton`` backend, checked on CPU tensors
under the Triton interpreter (conftest sets TRITON_INTERPRET=1) against the naive
reference generator: exact in float64, teacher-forced in float32 (docs/design.md)."""

import subprocess
import sys

import pytest
import torch

from conftest import generation_inputs, make_pixelcnn
from fastcolor.backends import resolve_backend
from fastcolor.config import FastcolorConfig
from fastcolor.dlmm import dlmm_sample, quantize
from fastcolor.errors import BackendUnavailableError
from fastcolor.generation import generate_naive
from fastcolor.generation.triton_cached import (TritonBackend, TritonCachedPixelCNN,
                                                 generate_cached_triton,
                                                 triton_unavailable_reason)
from fastcolor.kernels.dlmm_sample import dlmm_sample_triton
from fastcolor.pipeline import Pipeline


def count_launches(monkeypatch):
    """Count the kernel launches of the generator (wrapping the launchers)."""
    import fastcolor.kernels.dlmm_sample as sample_kernels
    import fastcolor.kernels.masked_conv2d as conv_kernels
    launches = {"masked_conv2d": 0, "dlmm_sample": 0}
    for module, name, key in [(conv_kernels, "masked_conv2d_triton", "masked_conv2d"),
                              (sample_kernels, "dlmm_sample_triton", "dlmm_sample")]:
        def counted(*args, _fn=getattr(module, name), _key=key, **kwargs):
            launches[_key] += 1
            return _fn(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)
    return launches


def test_equals_naive_float64_and_runs_the_kernels(monkeypatch):
    net = make_pixelcnn(first_kernel=5, kernel=3, layers=3)
    cond, noise = generation_inputs(net, 2, 5, 7)
    launches = count_launches(monkeypatch)
    out = generate_cached_triton(net, cond, noise=noise)
    assert torch.equal(out, generate_naive(net, cond, noise=noise))
    assert launches == {"masked_conv2d": 5 * 3, "dlmm_sample": 5 * 7}   # per row, per pixel


def test_equals_naive_with_hints_and_temperature():
    net = make_pixelcnn(first_kernel=3, kernel=3, layers=2, mixtures=4)
    cond, noise = generation_inputs(net, 3, 4, 5, seed=1)
    g = torch.Generator().manual_seed(2)
    hints = torch.rand(3, 3, 4, 5, generator=g, dtype=torch.float64) * 2 - 1
    mask = torch.rand(3, 4, 5, generator=g) < 0.3
    for t in (0.0, 0.7):
        kw = dict(noise=noise, hints=hints, hint_mask=mask, temperature=t)
        assert torch.equal(generate_cached_triton(net, cond, **kw), generate_naive(net, cond, **kw))


def test_activations_equal_full_forward():
    """Every layer's cached activations equal a full forward pass over the final image."""
    net = make_pixelcnn(first_kernel=7, kernel=5, layers=2)
    cond, noise = generation_inputs(net, 2, 4, 6, seed=3)
    x, state = generate_cached_triton(net, cond, noise=noise, return_state=True)
    for l, (v_pre, v, h) in enumerate(net.activations(x, cond)):
        torch.testing.assert_close(state.v_pre[l], v_pre, atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(state.v[l], v, atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(state.h[l], h, atol=1e-12, rtol=1e-12)


def test_teacher_forced_float32():
    """float32: fed the same image, each step's parameters from the kernel-backed cached
    model agree with a full forward within 1e-4, and the sampling kernel and the reference
    give equal samples from equal parameters."""
    net = make_pixelcnn(dtype=torch.float32, first_kernel=5, layers=3)
    cond, noise = generation_inputs(net, 3, 5, 6, dtype=torch.float32, seed=4)
    x = quantize(torch.rand(3, 3, 5, 6, generator=torch.Generator().manual_seed(5)) * 2 - 1)
    with torch.no_grad():
        full = net(x, cond)
        model = TritonCachedPixelCNN(net, cond)
        state = model.new_state(torch.zeros_like(x))
        from fastcolor.ops import kernel_mode
        with kernel_mode("triton"):
            for i in range(5):
                terms = model.start_row(state, i)
                for j in range(6):
                    params = model.step(state, terms, i, j)
                    torch.testing.assert_close(params[:, :, 0, 0], full[:, :, i, j],
                                               atol=1e-4, rtol=1e-4)
                    nz = noise[:, :, i:i + 1, j:j + 1]
                    assert torch.equal(dlmm_sample_triton(params, nz), dlmm_sample(params, nz))
                    state.x[:, :, i, j] = x[:, :, i, j]


def test_triton_backend_generate_on_interpreter():
    """The backend object's generate is the kernel generator (built directly: on a CPU
    device ``resolve_backend`` refuses it, see below)."""
    net = make_pixelcnn(layers=2)
    cond, noise = generation_inputs(net, 1, 3, 5, seed=6)
    backend = TritonBackend(torch.device("cpu"))
    assert backend.name == "triton"
    assert torch.equal(backend.generate(net, cond, noise=noise),
                       generate_naive(net, cond, noise=noise))


def test_backend_unavailable_names_cuda_and_triton(monkeypatch):
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        Pipeline.random(FastcolorConfig.tiny(), backend="triton", device="cpu")
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        resolve_backend("triton", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "torch.cuda.is_available() is False" in triton_unavailable_reason(torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    import fastcolor.generation.triton_cached as tc
    monkeypatch.setattr(tc, "triton_installed", lambda: False)
    assert "triton package" in triton_unavailable_reason(torch.device("cuda"))
    monkeypatch.setattr(tc, "triton_installed", lambda: True)
    assert triton_unavailable_reason(torch.device("cuda")) is None


def test_import_without_triton():
    """A GPU-less install without triton: fastcolor and fastcolor.kernels import, CPU
    ops run their references, forcing a kernel names the missing package, and the
    backend says what is missing."""
    code = "\n".join([
        "import sys; sys.modules['triton'] = None",            # import triton now fails
        "import torch, fastcolor, fastcolor.kernels, fastcolor.ops",
        "from fastcolor.errors import BackendUnavailableError",
        "assert not fastcolor.kernels.triton_installed()",
        "from fastcolor.models.masked_conv import MaskedConv2d",
        "y = MaskedConv2d(3, 4, 3, 'vertical_b')(torch.zeros(1, 3, 4, 4))",
        "try:",
        "    with fastcolor.ops.kernel_mode('triton'):",
        "        fastcolor.ops.dlmm_sample(torch.zeros(1, 10, 1, 1), seed=1)",
        "    raise SystemExit('no error')",
        "except BackendUnavailableError as e:",
        "    assert 'triton' in str(e)",
        "from fastcolor.generation.triton_cached import triton_unavailable_reason as r",
        "import unittest.mock as m",
        "with m.patch.object(torch.cuda, 'is_available', lambda: True):",
        "    assert 'triton package' in r(torch.device('cuda'))",
        "assert 'triton' not in [k for k, v in sys.modules.items() if v is not None]",
        "print('ok')",
    ])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
