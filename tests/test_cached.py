"""The cached PyTorch generator against the naive reference (docs/design.md, "Comparing
generators"): exact in float64; teacher-forced in float32."""

import pytest
import torch

from conftest import GENERATOR_SHAPES, generation_inputs, make_pixelcnn
from fastcolor.config import FastcolorConfig
from fastcolor.dlmm import dlmm_sample, quantize, sample_noise
from fastcolor.generation import generate_naive
from fastcolor.generation.cached import CachedPixelCNN, generate_cached
from fastcolor.models import FastcolorModel



@pytest.mark.parametrize("overrides", GENERATOR_SHAPES)
@pytest.mark.parametrize("batch", [1, 5])
def test_cached_equals_naive_float64(overrides, batch):
    net = make_pixelcnn(**overrides)
    cond, noise = generation_inputs(net, batch, 6, 9)
    assert torch.equal(generate_cached(net, cond, noise=noise), generate_naive(net, cond, noise=noise))


def test_cached_equals_naive_with_hints_and_temperature():
    net = make_pixelcnn(first_kernel=5, layers=3)
    cond, noise = generation_inputs(net, 5, 7, 5, seed=1)
    g = torch.Generator().manual_seed(2)
    hints = torch.rand(5, 3, 7, 5, generator=g, dtype=torch.float64) * 2 - 1
    mask = torch.rand(5, 7, 5, generator=g) < 0.25
    for t in (0.0, 0.7, 1.3):
        kw = dict(noise=noise, hints=hints, hint_mask=mask, temperature=t)
        assert torch.equal(generate_cached(net, cond, **kw), generate_naive(net, cond, **kw))


@pytest.mark.parametrize("overrides", GENERATOR_SHAPES)
def test_cached_activations_equal_full_forward(overrides):
    """Every layer's cached activations equal those of one full forward pass over the
    final image (the fast-pixel-cnn style component test)."""
    net = make_pixelcnn(**overrides)
    cond, noise = generation_inputs(net, 2, 6, 7)
    x, state = generate_cached(net, cond, noise=noise, return_state=True)
    for l, (v_pre, v, h) in enumerate(net.activations(x, cond)):
        torch.testing.assert_close(state.v_pre[l], v_pre, atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(state.v[l], v, atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(state.h[l], h, atol=1e-12, rtol=1e-12)


def test_teacher_forced_float32_params_agree():
    """float32: feed the same image to the cached steps and to a full forward; each
    step's mixture parameters agree within 1e-4, and equal parameters sample equally."""
    net = make_pixelcnn(dtype=torch.float32, first_kernel=5, layers=4)
    cond, noise = generation_inputs(net, 3, 8, 8, dtype=torch.float32)
    x = quantize(torch.rand(3, 3, 8, 8) * 2 - 1)
    full = net(x, cond)
    model = CachedPixelCNN(net, cond)
    state = model.new_state(torch.zeros_like(x))
    for i in range(8):
        terms = model.start_row(state, i)
        for j in range(8):
            params = model.step(state, terms, i, j)
            torch.testing.assert_close(params[:, :, 0, 0], full[:, :, i, j], atol=1e-4, rtol=1e-4)
            nz = noise[:, :, i:i + 1, j:j + 1]
            assert torch.equal(dlmm_sample(params, nz), dlmm_sample(params.clone(), nz))
            state.x[:, :, i, j] = x[:, :, i, j]


def test_cached_equals_naive_default_model_float64():
    torch.manual_seed(0)
    model = FastcolorModel(FastcolorConfig()).double().eval()
    outline = (torch.rand(2, 1, 256, 256, dtype=torch.float64) < 0.1).double()
    with torch.no_grad():
        cond = model.lowres.condition(outline)
    # the first 4 rows of the 32x32 grid keep the naive reference affordable in a test
    cond = cond[:, :, :4].contiguous()
    noise = sample_noise(2, 5, 4, 32, generator=torch.Generator().manual_seed(0))
    pix = model.lowres.pixelcnn
    assert torch.equal(generate_cached(pix, cond, noise=noise), generate_naive(pix, cond, noise=noise))
