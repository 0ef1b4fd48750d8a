"""DLMM math against brute force: normalization, likelihood, sampling, temperature."""

import math

import pytest
import torch

from fastcolor.dlmm import (dlmm_channel_log_probs, dlmm_log_prob, dlmm_nll_bits_per_dim,
                            dlmm_sample, from_levels, quantize, sample_noise, split_params,
                            to_levels)
from fastcolor.errors import InvalidInputError

LEVELS = torch.arange(256, dtype=torch.float64)
VALUES = LEVELS / 127.5 - 1


def random_params(b=2, k=3, h=2, w=3, log_scale=(-4.0, 0.0), seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k, h, w, generator=g, dtype=torch.float64)
    means = torch.rand(b, 3 * k, h, w, generator=g, dtype=torch.float64) * 2.4 - 1.2
    lo, hi = log_scale
    log_scales = torch.rand(b, 3 * k, h, w, generator=g, dtype=torch.float64) * (hi - lo) + lo
    coeffs = torch.randn(b, 3 * k, h, w, generator=g, dtype=torch.float64)
    return torch.cat([logits, means, log_scales, coeffs], dim=1)


def channel_table(params, channel, earlier):
    """Per-component probabilities ``(B, K, H, W, 256)`` of ``channel`` over all 256
    levels, with the earlier channels fixed to ``earlier`` ``(B, 3, H, W)``."""
    cols = []
    for v in VALUES:
        x = earlier.clone()
        x[:, channel] = v
        cols.append(dlmm_channel_log_probs(params, x)[:, channel].exp())
    return torch.stack(cols, dim=-1)


@pytest.mark.parametrize("channel", [0, 1, 2])
def test_each_channel_sums_to_one_given_earlier_channels(channel):
    params = random_params(log_scale=(-5.0, 0.5))
    g = torch.Generator().manual_seed(1)
    earlier = quantize(torch.rand(2, 3, 2, 3, generator=g, dtype=torch.float64) * 2 - 1)
    table = channel_table(params, channel, earlier)
    torch.testing.assert_close(table.sum(-1), torch.ones_like(table[..., 0]), atol=1e-4, rtol=0)


def brute_force_log_prob(params, x):
    """log sum_k pi_k prod_c [F(upper) - F(lower)] with the logistic CDF F, in float64,
    written out per pixel and component (edge bins open to -inf / +inf)."""
    logits, means, log_scales, coeffs = split_params(params)
    b, k, h, w = logits.shape
    out = torch.empty(b, h, w, dtype=torch.float64)
    exact_min = torch.empty(b, h, w, dtype=torch.float64)
    for n in range(b):
        for i in range(h):
            for j in range(w):
                r, g_, bl = (float(x[n, c, i, j]) for c in range(3))
                pis = torch.softmax(logits[n, :, i, j], 0)
                total, smallest = 0.0, 1.0
                for m in range(k):
                    a, be, ga = (float(coeffs[n, c, m, i, j]) for c in range(3))
                    mus = [float(means[n, 0, m, i, j]),
                           float(means[n, 1, m, i, j]) + a * r,
                           float(means[n, 2, m, i, j]) + be * r + ga * g_]
                    p = float(pis[m])
                    for c, val in enumerate((r, g_, bl)):
                        s = math.exp(float(log_scales[n, c, m, i, j]))
                        upper = 1.0 if val > 0.999 else 1 / (1 + math.exp(-(val + 1 / 255 - mus[c]) / s))
                        lower = 0.0 if val < -0.999 else 1 / (1 + math.exp(-(val - 1 / 255 - mus[c]) / s))
                        p *= upper - lower
                        smallest = min(smallest, upper - lower)
                    total += p
                out[n, i, j] = math.log(total)
                exact_min[n, i, j] = smallest
    return out, exact_min


def test_log_prob_equals_brute_force_over_bins():
    params = random_params(b=3, k=4, h=3, w=4, log_scale=(-1.0, 0.0), seed=3)
    params[:, 4:16] *= 0.4                 # means within [-0.5, 0.5]
    params[:, 28:40] *= 0.3                # weak coupling
    g = torch.Generator().manual_seed(4)
    x = from_levels(torch.randint(0, 256, (3, 3, 3, 4), generator=g), torch.float64)
    x[0, :, 0, 0] = -1.0     # both edge bins
    x[0, :, 0, 1] = 1.0
    lp = dlmm_log_prob(params, x)
    ref, smallest = brute_force_log_prob(params, x)
    # every bin holds > 1e-5 of its component's mass here, so PixelCNN++'s mid-bin
    # density fallback (test below) never applies and the two must agree everywhere
    assert smallest.min() > 1e-5
    torch.testing.assert_close(lp, ref, atol=1e-9, rtol=1e-9)


def test_improbable_bins_stay_finite():
    """A bin far in a steep component's tail: the mid-bin density keeps it finite."""
    params = random_params(b=1, k=2, h=1, w=256, log_scale=(-7.0, -6.0), seed=6)
    x = VALUES.reshape(1, 1, 1, 256).expand(1, 3, 1, 256).contiguous()
    lp = dlmm_channel_log_probs(params, x)
    assert torch.isfinite(lp).all()
    assert torch.isfinite(dlmm_log_prob(params, x)).all()


def test_bits_per_dim():
    params = random_params(seed=5).requires_grad_()
    x = quantize(torch.rand(2, 3, 2, 3, dtype=torch.float64) * 2 - 1)
    bpd = dlmm_nll_bits_per_dim(params, x)
    torch.testing.assert_close(bpd, -dlmm_log_prob(params, x).mean() / (3 * math.log(2)))
    bpd.backward()
    assert torch.isfinite(params.grad).all() and params.grad.abs().sum() > 0


def test_levels_round_trip():
    assert torch.equal(to_levels(VALUES), LEVELS)
    assert torch.equal(from_levels(LEVELS.long(), torch.float64), VALUES)
    assert quantize(torch.tensor([-3.0, 3.0])).tolist() == [-1.0, 1.0]   # clamped
    v = quantize(torch.rand(1000, dtype=torch.float64) * 2 - 1)
    assert torch.equal(quantize(v), v)


def wilson_hilferty_999(df):
    """0.999 quantile of chi-square with ``df`` degrees of freedom (Wilson-Hilferty)."""
    z = 3.0902
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi_square(counts, probs, n):
    """Pearson statistic over cells with expected count >= 5, the rest pooled; returns
    (statistic, degrees of freedom)."""
    expected = probs * n
    keep = expected >= 5
    obs = torch.cat([counts[keep], counts[~keep].sum().reshape(1)])
    exp = torch.cat([expected[keep], (n - expected[keep].sum()).reshape(1)])
    if exp[-1] < 5:   # merge a tiny pooled cell into the smallest kept one
        obs, exp = obs[:-1].clone(), exp[:-1].clone()
        obs[exp.argmin()] += counts[~keep].sum()
    stat = ((obs - exp) ** 2 / exp).sum()
    return float(stat), len(obs) - 1


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_sampling_frequencies_match_probabilities(temperature):
    """Joint RGB frequencies of 200k samples of one pixel match exp(log_prob)."""
    n = 200_000
    params = random_params(b=1, k=3, h=1, w=1, log_scale=(-4.5, -3.5), seed=7)
    params[:, 3:12] = params[:, 3:12] * 0.6          # means inside the range
    x = dlmm_sample(params.expand(n, -1, -1, -1),
                    generator=torch.Generator().manual_seed(0), temperature=temperature)
    levels = to_levels(x)[:, :, 0, 0].long()
    cells, counts = torch.unique(levels[:, 0] * 65536 + levels[:, 1] * 256 + levels[:, 2],
                                 return_counts=True)
    rgb = torch.stack([cells // 65536, cells // 256 % 256, cells % 256], 1)
    # the distribution at temperature T is the DLMM with logits / T and scales * T
    p = params.clone()
    p[:, :3] /= temperature
    p[:, 12:21] += math.log(temperature)
    probs = dlmm_log_prob(p.expand(len(cells), -1, -1, -1),
                          from_levels(rgb, torch.float64)[:, :, None, None])[:, 0, 0].exp()
    assert probs.sum() > 0.9           # the observed cells carry most of the mass
    stat, df = chi_square(counts.double(), probs, n)
    assert df > 20
    assert stat < wilson_hilferty_999(df), (stat, df)


def test_red_marginal_frequencies_broad_distribution():
    n = 200_000
    params = random_params(b=1, k=2, h=1, w=1, log_scale=(-2.5, -1.5), seed=11)
    x = dlmm_sample(params.expand(n, -1, -1, -1), generator=torch.Generator().manual_seed(1))
    counts = torch.bincount(to_levels(x[:, 0, 0, 0]).long(), minlength=256).double()
    logits = params[:, :2, 0, 0]
    comp = channel_table(params, 0, torch.zeros(1, 3, 1, 1, dtype=torch.float64))[0, :, 0, 0]
    probs = (torch.softmax(logits, 1)[0, :, None] * comp).sum(0)
    stat, df = chi_square(counts, probs, n)
    assert df > 50
    assert stat < wilson_hilferty_999(df), (stat, df)


def test_temperature_scales_logits_and_scales():
    """Sampling at T equals sampling (T = 1) from logits / T and log-scales + log T."""
    params = random_params(b=4, k=3, h=5, w=6, log_scale=(-3.0, 0.0), seed=2)
    noise = sample_noise(4, 3, 5, 6, generator=torch.Generator().manual_seed(3))
    for t in (0.3, 1.7):
        p = params.clone()
        p[:, :3] /= t
        p[:, 12:21] += math.log(t)
        assert torch.equal(dlmm_sample(params, noise, temperature=t), dlmm_sample(p, noise))


def test_temperature_zero_is_the_documented_limit():
    """T = 0: the largest-logit component, every channel at its coupled mean, quantized;
    tiny T gives the same; noise is ignored."""
    params = random_params(b=3, k=4, h=4, w=5, seed=8)
    logits, means, _, coeffs = split_params(params)
    idx = logits.argmax(1)
    pick = lambda t: t.gather(2, idx[:, None, None].expand(-1, 3, 1, -1, -1))[:, :, 0]
    mu, co = pick(means), pick(coeffs)
    r = quantize(mu[:, 0])
    g = quantize(mu[:, 1] + co[:, 0] * r)
    b = quantize(mu[:, 2] + co[:, 1] * r + co[:, 2] * g)
    expected = torch.stack([r, g, b], 1)
    n1 = sample_noise(3, 4, 4, 5, generator=torch.Generator().manual_seed(0))
    n2 = sample_noise(3, 4, 4, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(dlmm_sample(params, n1, temperature=0), expected)
    assert torch.equal(dlmm_sample(params, n2, temperature=0), expected)
    assert torch.equal(dlmm_sample(params, n1, temperature=1e-9), expected)


def test_sample_is_deterministic_given_noise_and_on_levels():
    params = random_params(seed=9).float()
    noise = sample_noise(2, 3, 2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    a, b = dlmm_sample(params, noise), dlmm_sample(params, noise)
    assert torch.equal(a, b) and a.dtype == torch.float32
    assert torch.equal(from_levels(to_levels(a), torch.float32), a)
    c = dlmm_sample(params, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, c)   # a seed draws exactly sample_noise's noise


def test_errors():
    params = random_params()
    x = torch.zeros(2, 3, 2, 3, dtype=torch.float64)
    with pytest.raises(InvalidInputError):
        dlmm_log_prob(params[:, :29], x)
    with pytest.raises(InvalidInputError):
        dlmm_log_prob(params, x[:, :2])
    with pytest.raises(InvalidInputError):
        dlmm_sample(params, torch.rand(2, 5, 2, 3))
    with pytest.raises(InvalidInputError):
        dlmm_sample(params, temperature=-1)
    with pytest.raises(InvalidInputError):
        dlmm_sample(params, temperature=float("nan"))
    with pytest.raises(InvalidInputError):
        dlmm_sample(params[0])
