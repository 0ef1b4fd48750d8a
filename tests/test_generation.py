"""The naive generator: the reference every cached generator must match."""

import pytest
import torch

from conftest import make_pixelcnn
from fastcolor.dlmm import dlmm_sample, from_levels, quantize, sample_noise, to_levels
from fastcolor.errors import InvalidInputError
from fastcolor.generation import generate_naive

H, W = 5, 7  # odd, non-square


def setup(dtype=torch.float64, batch=3, seed=0):
    net = make_pixelcnn(dtype=dtype, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    cond = torch.randn(batch, net.config.cond_channels, H, W, generator=g, dtype=torch.float64).to(dtype)
    noise = sample_noise(batch, net.config.mixtures, H, W, generator=g, dtype=dtype)
    return net, cond, noise


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_runs_in_both_dtypes_and_samples_lie_on_levels(dtype):
    net, cond, noise = setup(dtype)
    x = generate_naive(net, cond, noise=noise)
    assert x.shape == (3, 3, H, W) and x.dtype == dtype
    assert torch.equal(from_levels(to_levels(x), dtype), x)
    assert x.unique().numel() > 10


def test_each_sample_is_the_dlmm_sample_of_its_own_prefix():
    """Teacher forcing on the result: the params at p from a forward pass over the final
    image equal those seen while generating (causality), so resampling with the same
    noise reproduces every pixel."""
    net, cond, noise = setup()
    x = generate_naive(net, cond, noise=noise)
    assert torch.equal(dlmm_sample(net(x, cond), noise), x)


def test_same_noise_same_samples_and_seed_draws_that_noise():
    net, cond, noise = setup()
    a = generate_naive(net, cond, noise=noise)
    assert torch.equal(a, generate_naive(net, cond, noise=noise))
    s1 = generate_naive(net, cond, generator=torch.Generator().manual_seed(7))
    s2 = generate_naive(net, cond, noise=sample_noise(3, 3, H, W, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(s1, s2)
    assert not torch.equal(s1, a)


def test_batch_equals_single_runs_float64():
    net, cond, noise = setup(batch=4)
    batched = generate_naive(net, cond, noise=noise)
    singles = torch.cat([generate_naive(net, cond[k:k + 1], noise=noise[k:k + 1]) for k in range(4)])
    assert torch.equal(batched, singles)


def test_hints_written_exactly_and_condition_what_follows():
    net, cond, noise = setup()
    g = torch.Generator().manual_seed(3)
    hints = torch.rand(3, 3, H, W, generator=g, dtype=torch.float64) * 2 - 1
    mask = torch.rand(3, H, W, generator=g) < 0.3
    mask[:, 0, 0] = True
    x = generate_naive(net, cond, noise=noise, hints=hints, hint_mask=mask)
    assert torch.equal(x.permute(0, 2, 3, 1)[mask], quantize(hints).permute(0, 2, 3, 1)[mask])
    free = generate_naive(net, cond, noise=noise)
    # unhinted pixels are samples of the hinted prefix: teacher forcing reproduces them
    resampled = dlmm_sample(net(x, cond), noise)
    assert torch.equal(resampled.permute(0, 2, 3, 1)[~mask], x.permute(0, 2, 3, 1)[~mask])
    # and they differ from the unhinted run somewhere after the first hint
    assert not torch.equal(x.permute(0, 2, 3, 1)[~mask], free.permute(0, 2, 3, 1)[~mask])
    # the (B, 1, H, W) mask form is accepted too
    assert torch.equal(generate_naive(net, cond, noise=noise, hints=hints, hint_mask=mask[:, None]), x)


def test_full_hints_reproduce_the_hint_image():
    net, cond, noise = setup()
    hints = quantize(torch.rand(3, 3, H, W, dtype=torch.float64) * 2 - 1)
    x = generate_naive(net, cond, noise=noise, hints=hints, hint_mask=torch.ones(3, H, W, dtype=torch.bool))
    assert torch.equal(x, hints)


def test_temperature():
    net, cond, noise = setup()
    other = sample_noise(3, 3, H, W, generator=torch.Generator().manual_seed(99))
    cold = generate_naive(net, cond, noise=noise, temperature=0)
    assert torch.equal(cold, generate_naive(net, cond, noise=other, temperature=0))
    warm = generate_naive(net, cond, noise=noise, temperature=0.5)
    assert torch.equal(dlmm_sample(net(warm, cond), noise, temperature=0.5), warm)
    assert not torch.equal(warm, generate_naive(net, cond, noise=noise))


def test_bad_arguments():
    net, cond, noise = setup()
    with pytest.raises(InvalidInputError):
        generate_naive(net, cond, noise=noise[:, :4])
    with pytest.raises(InvalidInputError):
        generate_naive(net, cond, noise=noise * 2)
    with pytest.raises(InvalidInputError):
        generate_naive(net, cond, noise=noise, hints=torch.zeros(3, 3, H, W, dtype=torch.float64))
    with pytest.raises(InvalidInputError):
        generate_naive(net, cond, noise=noise, hints=torch.full((3, 3, H, W), 2.0, dtype=torch.float64),
                       hint_mask=torch.ones(3, H, W, dtype=torch.bool))
    with pytest.raises(InvalidInputError):
        generate_naive(net, cond, noise=noise, hints=torch.zeros(3, 3, H, W, dtype=torch.float64),
                       hint_mask=torch.ones(3, H + 1, W, dtype=torch.bool))
    with pytest.raises(InvalidInputError):
        generate_naive(net, cond, noise=noise, temperature=-0.1)
    with pytest.raises(InvalidInputError):
        generate_naive(net, cond.long(), noise=noise)
