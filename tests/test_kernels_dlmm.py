"""The fused DLMM kernels against ``fastcolor.dlmm``, in the Triton interpreter on CPU
tensors (conftest sets TRITON_INTERPRET=1).

Sampling: sample for sample in float64; in float32 too, except at pixels whose float64
computation sits within float32 rounding of an 8-bit bin edge or a Gumbel tie (docs/design.md,
"Comparing generators"); float16 in the FlashAttention style (at most twice the error of
the reference run in float16). The seed path (Philox in the kernel) is checked by
replaying its uniforms as explicit noise, and statistically.

Likelihood: forward and gradients against autograd through the reference, every branch
of the per-bin formula exercised.
"""

import math

import pytest
import torch

from fastcolor import dlmm
from fastcolor.errors import InvalidInputError
from fastcolor.kernels.dlmm_nll import dlmm_log_prob_grad_triton, dlmm_log_prob_triton
from fastcolor.kernels.dlmm_sample import dlmm_sample_triton
from fastcolor.ops import dlmm_log_prob, dlmm_nll_bits_per_dim, dlmm_sample, kernel_mode


def random_params(b, k, h, w, log_scale=(-4.0, 0.0), mean_range=1.2, seed=0):
    """float64 ``(B, 10K, H, W)``; means in ``+-mean_range`` (beyond 1: clamping)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k, h, w, generator=g, dtype=torch.float64)
    means = (torch.rand(b, 3 * k, h, w, generator=g, dtype=torch.float64) * 2 - 1) * mean_range
    lo, hi = log_scale
    log_scales = torch.rand(b, 3 * k, h, w, generator=g, dtype=torch.float64) * (hi - lo) + lo
    coeffs = torch.randn(b, 3 * k, h, w, generator=g, dtype=torch.float64)
    return torch.cat([logits, means, log_scales, coeffs], dim=1)


def noise_like(params, seed=1):
    b, c, h, w = params.shape
    return dlmm.sample_noise(b, c // 10, h, w, generator=torch.Generator().manual_seed(seed))


def near_ties(params, noise, temperature, tol=1e-4):
    """Pixels ``(B, H, W)`` whose float64 sample depends on a difference below ``tol``:
    the top two Gumbel scores, or a channel's value and the nearest 8-bit bin edge (in
    levels). A float32 sampler may round either way there."""
    p, u = params.double(), noise.double().clamp(dlmm.NOISE_EPS, 1 - dlmm.NOISE_EPS)
    k = dlmm.num_mixtures(p)
    logits, means, log_scales, coeffs = dlmm.split_params(p)
    if temperature == 0:
        scores = logits
    else:
        scores = logits / temperature - torch.log(-torch.log(u[:, :k]))
    top2 = scores.topk(min(2, k), dim=1).values
    tie = (top2[:, 0] - top2[:, -1] < tol) if k > 1 else torch.zeros_like(top2[:, 0], dtype=bool)
    idx = scores.argmax(1, keepdim=True)
    pick = lambda t: t.gather(2, idx.unsqueeze(1).expand(-1, 3, 1, -1, -1))[:, :, 0]  # noqa: E731
    mu, ls, co = pick(means), pick(log_scales), pick(coeffs)
    eps = torch.exp(ls) * temperature * (torch.log(u[:, k:]) - torch.log1p(-u[:, k:]))
    r = mu[:, 0] + eps[:, 0]
    g = mu[:, 1] + co[:, 0] * dlmm.quantize(r) + eps[:, 1]
    bl = mu[:, 2] + co[:, 1] * dlmm.quantize(r) + co[:, 2] * dlmm.quantize(g) + eps[:, 2]
    for v in (r, g, bl):
        y = (v.clamp(-1, 1) + 1) * 127.5
        tie |= ((y - y.floor() - 0.5).abs() < tol) & (v.abs() < 1)
    return tie


# ---------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("temperature", [1.0, 0.55, 1.8, 0.0])
def test_sample_equals_reference_float64(k, temperature):
    params = random_params(2, k, 5, 7, seed=k)
    noise = noise_like(params, seed=10 + k)
    out = dlmm_sample_triton(params, noise, temperature=temperature)
    assert torch.equal(out, dlmm.dlmm_sample(params, noise, temperature=temperature))


@pytest.mark.parametrize("temperature", [1.0, 0.7, 0.0])
def test_sample_float32_equal_except_float_ties(temperature):
    params = random_params(3, 5, 9, 11, log_scale=(-5.0, 0.0), seed=3).float()
    noise = noise_like(params, seed=4).float()
    out = dlmm_sample_triton(params, noise, temperature=temperature)
    ref = dlmm.dlmm_sample(params, noise, temperature=temperature)
    differ = (out != ref).any(dim=1)
    ties = near_ties(params, noise, temperature)
    assert not (differ & ~ties).any(), "samples differ away from any float tie"
    assert ties.float().mean() < 0.02


def test_sample_rounds_half_to_even_like_torch():
    """float32 values whose ``(v + 1) * 127.5`` rounds to exactly ``n + 0.5``: the kernel
    snaps them like ``torch.round`` (half to even), not half up."""
    ties = []
    for n in range(1, 254):
        c = torch.tensor((n + 0.5) / 127.5 - 1, dtype=torch.float32)
        for step in range(-4, 5):
            v = c + step * torch.finfo(torch.float32).eps * max(abs(c.item()), 1e-3)
            if ((v + 1) * 127.5).item() == n + 0.5:
                ties.append(v.item())
                break
    assert len(ties) > 50
    params = torch.zeros(1, 10, 1, len(ties))
    params[0, 1, 0] = torch.tensor(ties)          # K = 1: channel 1 is the red mean
    noise = torch.full((1, 4, 1, len(ties)), 0.5)
    red = dlmm_sample_triton(params, noise, temperature=0.0)[0, 0, 0]
    want = dlmm.dlmm_sample(params, noise, temperature=0.0)[0, 0, 0]
    assert torch.equal(red, want)
    half_up = torch.floor((params[0, 1, 0] + 1) * 127.5 + 0.5) / 127.5 - 1
    assert (want != half_up).sum() > 20            # the ties really are ties


def test_sample_float16_within_twice_reference_error():
    """Mismatch rate against the float64 sample of the same (fp16-rounded) inputs: the
    kernel (fp32 inside) at most twice the reference run in fp16."""
    params = random_params(4, 5, 9, 11, log_scale=(-5.0, 0.0), seed=5).half()
    noise = noise_like(params, seed=6).half()
    for t in (1.0, 0.7):
        truth = dlmm.dlmm_sample(params.double(), noise.double(), temperature=t)
        kernel = dlmm_sample_triton(params, noise, temperature=t)
        kernel_err = (kernel.double() != truth).double().mean()
        ref_err = (dlmm.dlmm_sample(params, noise, temperature=t).double() != truth).double().mean()
        assert kernel_err <= 2 * ref_err, (kernel_err, ref_err)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_seed_uniforms_replay_as_explicit_noise(dtype):
    """The uniforms the kernel draws from a seed, fed back as explicit noise, give the
    same samples (the kernel and, in float64, the reference)."""
    params = random_params(2, 4, 6, 5, seed=7).to(dtype)
    uniforms = torch.empty(2, 7, 6, 5, dtype=torch.float32)
    out = dlmm_sample_triton(params, seed=1234, temperature=0.9, uniforms_out=uniforms)
    assert ((uniforms >= 0) & (uniforms < 1)).all()
    replay = dlmm_sample_triton(params, uniforms.to(dtype), temperature=0.9)
    assert torch.equal(out, replay)
    if dtype == torch.float64:
        assert torch.equal(out, dlmm.dlmm_sample(params, uniforms.double(), temperature=0.9))


def test_seed_stream_counters():
    """Same seed and offset: same draw; another seed: another draw; ``rng_offset`` shifts
    the Philox counters (uniform ``i`` at offset ``o`` is uniform ``i + o`` at 0)."""
    params = random_params(1, 2, 4, 4, seed=8)
    draws = {}
    for seed, offset in [(5, 0), (5, 0), (6, 0), (5, 3)]:
        u = torch.empty(1, 5, 4, 4, dtype=torch.float32)
        dlmm_sample_triton(params, seed=seed, rng_offset=offset, uniforms_out=u)
        draws.setdefault((seed, offset), []).append(u.flatten())
    a, b = draws[(5, 0)]
    assert torch.equal(a, b)
    assert not torch.equal(a, draws[(6, 0)][0])
    assert torch.equal(draws[(5, 3)][0][:-3], a[3:])


def test_seed_uniforms_are_uniform_and_independent():
    params = random_params(2, 3, 32, 32, seed=9)
    u = torch.empty(2, 6, 32, 32, dtype=torch.float32)
    dlmm_sample_triton(params, seed=99, uniforms_out=u)
    flat = u.double().flatten().sort().values
    n = flat.numel()
    ecdf = torch.arange(1, n + 1, dtype=torch.float64) / n
    ks = torch.maximum((ecdf - flat).abs(), (flat - (ecdf - 1 / n)).abs()).max()
    assert ks < 1.95 / math.sqrt(n)                                  # KS at the 0.1% level
    channels = u.transpose(0, 1).reshape(6, -1).double()
    corr = torch.corrcoef(channels) - torch.eye(6, dtype=torch.float64)
    assert corr.abs().max() < 4 / math.sqrt(channels.shape[1])


def test_seed_samples_follow_the_mixture():
    """Red marginal of 16384 seed-path samples of one pixel at T = 0.8: chi-square
    against the reference distribution (logits / T, scales * T)."""
    t = 0.8
    base = random_params(1, 2, 1, 1, log_scale=(-2.5, -1.5), mean_range=0.8, seed=11)
    params = base.expand(1, -1, 128, 128).contiguous()
    red = dlmm.to_levels(dlmm_sample_triton(params, seed=2024, temperature=t)[:, 0]).long()
    counts = torch.bincount(red.flatten(), minlength=256).double()
    p = base.clone()
    p[:, :2] /= t
    p[:, 8:14] += math.log(t)
    levels = dlmm.from_levels(torch.arange(256), torch.float64)
    x = torch.zeros(256, 3, 1, 1, dtype=torch.float64)
    x[:, 0, 0, 0] = levels
    comp = dlmm.dlmm_channel_log_probs(p.expand(256, -1, -1, -1), x)[:, 0, :, 0, 0].exp()
    probs = (comp * torch.softmax(p[0, :2, 0, 0], 0)).sum(1)              # (256,)
    n = red.numel()
    expected = probs * n
    keep = expected >= 5
    obs = torch.cat([counts[keep], counts[~keep].sum().reshape(1)])
    exp = torch.cat([expected[keep], (n - expected[keep].sum()).reshape(1)])
    stat = ((obs - exp) ** 2 / exp.clamp(min=1e-9)).sum().item()
    df = len(obs) - 1
    assert df > 20
    z = 3.0902                                   # Wilson-Hilferty 0.999 quantile
    assert stat < df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3, (stat, df)


def test_sample_dispatcher():
    """``fastcolor.ops.dlmm_sample``: the reference on CPU by default, the kernel in
    'triton' mode; noise from a generator is the same noise on both paths."""
    params = random_params(2, 3, 3, 5, seed=12)
    noise = noise_like(params, seed=13)
    want = dlmm.dlmm_sample(params, noise, temperature=0.8)
    assert torch.equal(dlmm_sample(params, noise, temperature=0.8), want)
    with kernel_mode("triton"):
        assert torch.equal(dlmm_sample(params, noise, temperature=0.8), want)
        gen = dlmm_sample(params, generator=torch.Generator().manual_seed(13), temperature=0.8)
        assert torch.equal(gen, want)
        assert dlmm_sample(params, seed=3).shape == (2, 3, 3, 5)
        with pytest.raises(InvalidInputError):
            dlmm_sample(params, seed=-1)
        with pytest.raises(InvalidInputError):
            dlmm_sample(params, noise[:, :5])
        with pytest.raises(InvalidInputError):
            dlmm_sample(params, noise, temperature=-1.0)
    seeded = dlmm_sample(params, seed=13, temperature=0.8)        # reference: torch.Generator
    assert torch.equal(seeded, want)


# ---------------------------------------------------------------------------
# log-likelihood and its gradient
# ---------------------------------------------------------------------------

def nll_case(k, b=2, h=5, w=7, seed=0):
    """params with some log-scales below the clamp, and x that hits every branch: the
    edge bins (-1, 1), ordinary bins, and bins so far from a sharp component's mean that
    their mass underflows 1e-5 (the mid-bin density fallback)."""
    params = random_params(b, k, h, w, log_scale=(-9.0, 0.5), seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    x = dlmm.quantize(torch.rand(b, 3, h, w, generator=g, dtype=torch.float64) * 2.6 - 1.3)
    x[:, :, 0, :2] = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    _, means, log_scales, coeffs = dlmm.split_params(params)
    centered = x.unsqueeze(2) - dlmm.coupled_means(means, coeffs, x)
    inv_s = torch.exp(-log_scales)
    mass = torch.sigmoid(inv_s * (centered + dlmm.HALF_BIN)) - \
        torch.sigmoid(inv_s * (centered - dlmm.HALF_BIN))
    interior = (x.abs() < 0.999).unsqueeze(2).expand_as(mass)
    assert ((mass <= 1e-5) & interior).any(), "the mid-bin fallback is not exercised"
    assert (params[:, 4 * k:7 * k] < dlmm.LOG_SCALE_MIN).any()
    return params, x


def reference_grad(params, x, grad_out):
    p = params.clone().requires_grad_()
    dlmm.dlmm_log_prob(p, x).backward(grad_out)
    return p.grad


@pytest.mark.parametrize("k", [1, 3, 5])
def test_log_prob_and_grad_float64(k):
    params, x = nll_case(k, seed=k)
    grad_out = torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(k),
                           dtype=torch.float64)
    torch.testing.assert_close(dlmm_log_prob_triton(params, x), dlmm.dlmm_log_prob(params, x),
                               atol=1e-10, rtol=1e-10)
    grad = dlmm_log_prob_grad_triton(params, x, grad_out)
    want = reference_grad(params, x, grad_out)
    torch.testing.assert_close(grad, want, atol=1e-9, rtol=1e-8)
    clamped = params < dlmm.LOG_SCALE_MIN
    clamped[:, :4 * k] = False
    clamped[:, 7 * k:] = False
    assert (grad[clamped] == 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_log_prob_and_grad_low_precision(dtype):
    """Forward and gradient errors against float64 at most twice those of the reference
    (and its autograd) run in ``dtype`` on the same inputs rounded to ``dtype``."""
    params, x = nll_case(3, b=1, h=3, w=5, seed=21)
    params = params.to(dtype).double()                   # exactly representable inputs
    grad_out = torch.ones(1, 3, 5, dtype=torch.float64)
    truth = dlmm.dlmm_log_prob(params, x)
    truth_grad = reference_grad(params, x, grad_out)
    low = params.to(dtype), x.to(dtype)

    def err(a, b):
        """Largest error, relative to ``|b| + 1`` (gradients span 1e-3 .. 1e3), over the
        entries where ``a`` is finite (the fp16 reference overflows to inf/NaN on some;
        the kernel must be finite everywhere)."""
        d = (a.double() - b).abs() / (b.abs() + 1)
        return d[torch.isfinite(d)].max().item()

    fwd = dlmm_log_prob_triton(*low)
    assert torch.isfinite(fwd).all()
    fwd_kernel, fwd_ref = err(fwd, truth), err(dlmm.dlmm_log_prob(*low), truth)
    assert fwd_kernel <= 2 * fwd_ref, (fwd_kernel, fwd_ref)
    grad = dlmm_log_prob_grad_triton(*low, grad_out.to(dtype))
    assert torch.isfinite(grad).all()
    grad_kernel = err(grad, truth_grad)
    grad_ref = err(reference_grad(*low, grad_out.to(dtype)), truth_grad)
    assert grad_kernel <= 2 * grad_ref, (grad_kernel, grad_ref)


def test_nll_autograd_function_and_dispatch():
    """``fastcolor.ops.dlmm_nll_bits_per_dim`` in 'triton' mode: the autograd.Function
    gives the reference loss and gradient; no gradient flows to x (data)."""
    params, x = nll_case(2, b=1, h=3, w=4, seed=31)
    grads = []
    for mode in ("triton", "reference"):
        p = params.clone().requires_grad_()
        with kernel_mode(mode):
            loss = dlmm_nll_bits_per_dim(p, x)
        loss.backward()
        grads.append((loss.detach(), p.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-12, rtol=1e-10)
    with kernel_mode("triton"):
        assert torch.equal(dlmm_log_prob(params, x), dlmm_log_prob_triton(params, x))
        with pytest.raises(InvalidInputError):
            dlmm_log_prob(params, x[:, :2])


def test_training_loss_runs_the_kernels(monkeypatch):
    """``LowResColorizer.loss`` (tiny model, float64) in 'triton' mode: masked convs and
    the fused likelihood run as kernels, loss and every weight gradient as the reference."""
    import fastcolor.kernels.dlmm_nll as nll_kernels
    import fastcolor.kernels.masked_conv2d as conv_kernels
    from fastcolor.config import FastcolorConfig
    from fastcolor.models import FastcolorModel
    launches = []
    for module, name in [(conv_kernels, "masked_conv2d_triton"),
                         (nll_kernels, "dlmm_log_prob_triton"),
                         (nll_kernels, "dlmm_log_prob_grad_triton")]:
        def counted(*args, _fn=getattr(module, name), _name=name, **kwargs):
            launches.append(_name)
            return _fn(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)
    torch.manual_seed(0)
    model = FastcolorModel(FastcolorConfig.tiny()).double().lowres
    outline = (torch.rand(2, 1, 32, 32, dtype=torch.float64) < 0.1).double()
    target = dlmm.quantize(torch.rand(2, 3, 8, 8, dtype=torch.float64) * 2 - 1)
    results = []
    for mode in ("triton", "reference"):
        model.zero_grad()
        with kernel_mode(mode):
            loss = model.loss(outline, target)
        loss.backward()
        results.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
    layers = model.pixelcnn.config.layers
    assert sorted(set(launches)) == ["dlmm_log_prob_grad_triton", "dlmm_log_prob_triton",
                                     "masked_conv2d_triton"]
    assert launches.count("masked_conv2d_triton") == 2 * layers      # both stacks, once
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-12)
    for got, want in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)


def test_log_prob_under_autocast_is_float32():
    params, x = nll_case(2, b=1, h=2, w=3, seed=41)
    half = params.half()
    with torch.autocast("cpu", dtype=torch.float16), kernel_mode("triton"):
        lp = dlmm_log_prob(half, x.half())
    assert lp.dtype == torch.float32
    torch.testing.assert_close(lp, dlmm_log_prob_triton(half.float(), x.half().float()))
