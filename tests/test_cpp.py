"""The C++ cached generator fastcolor._C against the naive and cached PyTorch generators
(docs/design.md, "Comparing generators"): every 8-bit value equal in float64; in float32,
teacher-forced parameters within 1e-4."""

import sys

import numpy as np
import pytest
import torch

from conftest import GENERATOR_SHAPES, generation_inputs, make_pixelcnn
from fastcolor import Pipeline
from fastcolor.config import FastcolorConfig
from fastcolor.dlmm import dlmm_sample, quantize, sample_noise
from fastcolor.errors import BackendUnavailableError, InvalidInputError
from fastcolor.generation import generate_cached, generate_naive
from fastcolor.generation.cpp import CppPixelCNN, cpp_unavailable_reason, generate_cpp
from fastcolor.models import FastcolorModel

pytestmark = pytest.mark.skipif(cpp_unavailable_reason() is not None,
                                reason=f"fastcolor._C is not built: {cpp_unavailable_reason()}")



@pytest.mark.parametrize("overrides", GENERATOR_SHAPES)
@pytest.mark.parametrize("batch", [1, 5])
def test_cpp_equals_naive_and_cached_float64(overrides, batch):
    net = make_pixelcnn(**overrides)
    cond, noise = generation_inputs(net, batch, 6, 9)
    naive = generate_naive(net, cond, noise=noise)
    assert torch.equal(generate_cpp(net, cond, noise=noise), naive)
    assert torch.equal(generate_cached(net, cond, noise=noise), naive)


@pytest.mark.parametrize("batch", [1, 5])
def test_cpp_equals_naive_with_hints_and_temperature(batch):
    net = make_pixelcnn(first_kernel=5, layers=3)
    cond, noise = generation_inputs(net, batch, 7, 5, seed=1)
    g = torch.Generator().manual_seed(2)
    hints = torch.rand(batch, 3, 7, 5, generator=g, dtype=torch.float64) * 2 - 1
    mask = torch.rand(batch, 7, 5, generator=g) < 0.25
    packed = CppPixelCNN(net)
    for t in (0.0, 0.6, 1.4):
        kw = dict(noise=noise, hints=hints, hint_mask=mask, temperature=t)
        out = packed.generate(cond, **kw)
        assert torch.equal(out, generate_naive(net, cond, **kw))
        assert torch.equal(out.permute(0, 2, 3, 1)[mask], quantize(hints).permute(0, 2, 3, 1)[mask])


def test_cpp_seed_draws_the_shared_noise():
    net = make_pixelcnn()
    cond, _ = generation_inputs(net, 2, 4, 5)
    a = generate_cpp(net, cond, generator=torch.Generator().manual_seed(11))
    b = generate_naive(net, cond, generator=torch.Generator().manual_seed(11))
    assert torch.equal(a, b)


def test_cpp_equals_naive_default_model_float64():
    """The default model size (8 blocks, 64 channels, K = 5), batch 1 and 5: the first
    rows of the 32 x 32 grid (the naive reference costs a forward pass per position)."""
    torch.manual_seed(0)
    model = FastcolorModel(FastcolorConfig()).double().eval()
    outline = (torch.rand(5, 1, 256, 256, dtype=torch.float64) < 0.1).double()
    with torch.no_grad():
        cond = model.lowres.condition(outline)
    pix = model.lowres.pixelcnn
    packed = CppPixelCNN(pix)
    for batch, rows in ((1, 3), (5, 2)):
        c = cond[:batch, :, :rows].contiguous()
        noise = sample_noise(batch, 5, rows, 32, generator=torch.Generator().manual_seed(batch))
        assert torch.equal(packed.generate(c, noise=noise), generate_naive(pix, c, noise=noise))
    # the full 32 x 32 grid against the cached PyTorch generator (same algorithm)
    noise = sample_noise(5, 5, 32, 32, generator=torch.Generator().manual_seed(7))
    full_cpp = packed.generate(cond, noise=noise, temperature=0.8)
    assert torch.equal(full_cpp, generate_cached(pix, cond, noise=noise, temperature=0.8))


@pytest.mark.parametrize("overrides", GENERATOR_SHAPES)
def test_teacher_forced_float32_params_agree(overrides):
    """float32: the same input sequence fed to the C++ steps and to a full forward pass:
    every step's mixture parameters within 1e-4, identical parameters -> identical samples."""
    net = make_pixelcnn(dtype=torch.float32, **overrides)
    cond, noise = generation_inputs(net, 3, 8, 8, dtype=torch.float32)
    x = quantize(torch.rand(3, 3, 8, 8) * 2 - 1)
    params = CppPixelCNN(net).teacher_forced_params(cond, x)
    full = net(x, cond)
    torch.testing.assert_close(params, full, atol=1e-4, rtol=1e-4)
    assert torch.equal(dlmm_sample(params, noise), dlmm_sample(params.clone(), noise))


def test_teacher_forced_float64_params_equal_forward():
    net = make_pixelcnn(first_kernel=5, layers=4)
    cond, _ = generation_inputs(net, 2, 7, 6)
    x = quantize(torch.rand(2, 3, 7, 6, dtype=torch.float64) * 2 - 1)
    torch.testing.assert_close(CppPixelCNN(net).teacher_forced_params(cond, x), net(x, cond),
                               atol=1e-12, rtol=1e-12)


def test_float32_end_to_end_mismatch_is_rare():
    """float32 end to end: a sample can flip at an 8-bit bin edge (docs/design.md); report-style
    check that it is rare on a small model (the benchmark reports the rate at full size)."""
    net = make_pixelcnn(dtype=torch.float32)
    cond, noise = generation_inputs(net, 4, 8, 8, dtype=torch.float32)
    a = generate_cpp(net, cond, noise=noise)
    b = generate_naive(net, cond, noise=noise)
    assert (a != b).any(1).float().mean() <= 0.25


def test_bad_layouts_raise_clear_errors():
    net = make_pixelcnn()
    packed = CppPixelCNN(net)
    cond, noise = generation_inputs(net, 2, 4, 4)
    with pytest.raises(InvalidInputError, match="noise"):
        packed.generate(cond, noise=noise[:, :, :3])
    with pytest.raises(InvalidInputError, match="dtype"):
        packed.generate(cond.float(), noise=noise)
    with pytest.raises(InvalidInputError):
        packed.generate(cond[:, :3], noise=noise)
    with pytest.raises(InvalidInputError, match="x must be"):
        packed.teacher_forced_params(cond, torch.zeros(2, 3, 4, 5, dtype=torch.float64))
    from fastcolor import _C
    blocks = [[t.detach() for t in (b.v_conv.weight, b.v_conv.bias, b.h_conv.weight, b.h_conv.bias,
                                    b.v_to_h.weight, b.v_to_h.bias, b.v_cond.weight, b.h_cond.weight,
                                    b.h_out.weight, b.h_out.bias)] for b in net.blocks]
    head = [net.head_hidden.weight.detach(), net.head_hidden.bias.detach(),
            net.head_out.weight.detach(), net.head_out.bias.detach()]
    _C.CachedPixelCNN(blocks, head, 3)    # the right layout builds
    bad = [list(b) for b in blocks]
    bad[1][4] = bad[1][4][:, :5]          # v_to_h of block 1 cut short
    with pytest.raises(RuntimeError, match=r"blocks\.1\.v_to_h\.weight"):
        _C.CachedPixelCNN(bad, head, 3)
    with pytest.raises(RuntimeError, match="head_out.weight"):
        _C.CachedPixelCNN(blocks, head, 4)  # K does not match the head
    with pytest.raises(RuntimeError, match="10 tensors"):
        _C.CachedPixelCNN([blocks[0][:9]] + blocks[1:], head, 3)
    with pytest.raises(RuntimeError, match="dtype"):
        _C.CachedPixelCNN([[t.float() if i == 3 else t for i, t in enumerate(blocks[0])]] + blocks[1:],
                          head, 3)
    with pytest.raises(InvalidInputError):
        CppPixelCNN(make_pixelcnn(dtype=torch.float16))


def test_pipeline_cpp_backend_matches_reference():
    cfg = FastcolorConfig.tiny()
    ref = Pipeline.random(cfg, seed=0, backend="reference", dtype=torch.float64)
    cpp = Pipeline(ref.model, backend="cpp", dtype=torch.float64)
    assert Pipeline(ref.model, backend="auto", dtype=torch.float64).backend.name == "cpp"
    img = (np.random.default_rng(0).random((40, 30)) > 0.15).astype(np.uint8) * 255
    for kw in (dict(seed=3), dict(seed=4, temperature=0.5, samples=2)):
        a, b = ref(img, **kw), cpp(img, **kw)
        for ra, rb in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            assert np.array_equal(ra.lowres, rb.lowres)
            assert np.array_equal(ra.image, rb.image)


def test_cpp_backend_repacks_changed_weights():
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="cpp", dtype=torch.float64)
    img = np.full((16, 16), 255, np.uint8)
    img[8, :] = 0
    before = pipe(img, seed=1).lowres
    with torch.no_grad():
        pipe.model.lowres.pixelcnn.head_out.bias.add_(3.0)
    after = pipe(img, seed=1).lowres
    ref = Pipeline(pipe.model, backend="reference", dtype=torch.float64)(img, seed=1).lowres
    assert np.array_equal(after, ref) and not np.array_equal(before, after)


def test_missing_extension_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastcolor._C", None)   # as if it was never built
    from fastcolor.backends import backend_unavailable_reason
    reason = backend_unavailable_reason("cpp", torch.device("cpu"))
    assert "fastcolor._C" in reason and "pip install" in reason
    with pytest.raises(BackendUnavailableError, match="fastcolor._C"):
        Pipeline.random(FastcolorConfig.tiny(), backend="cpp")
    assert Pipeline.random(FastcolorConfig.tiny(), backend="auto").backend.name == "reference"


def test_cpp_backend_refuses_cuda_device():
    from fastcolor.backends import backend_unavailable_reason
    assert "CPU" in backend_unavailable_reason("cpp", torch.device("cuda"))
