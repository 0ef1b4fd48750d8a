"""Shared test setup.

Triton kernels run on the CPU through the interpreter: TRITON_INTERPRET must be set
before any kernel module is imported, so it is set here, first.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from fastcolor.config import FastcolorConfig, PixelCNNConfig  # noqa: E402


@pytest.fixture
def tiny_config() -> FastcolorConfig:
    return FastcolorConfig.tiny()


def make_pixelcnn(dtype=torch.float64, seed=0, **overrides):
    """A tiny conditional gated PixelCNN with random weights (eval mode)."""
    from fastcolor.models import ConditionalGatedPixelCNN
    cfg = dict(channels=8, layers=3, first_kernel=3, kernel=3, head_channels=16, mixtures=3,
               cond_channels=4)
    cfg.update(overrides)
    torch.manual_seed(seed)
    return ConditionalGatedPixelCNN(PixelCNNConfig(**cfg)).to(dtype).eval()


# PixelCNN shapes every generator test runs: kernels 3/3, 5/3 with 4 blocks, 7/5
GENERATOR_SHAPES = [dict(), dict(first_kernel=5, kernel=3, layers=4),
                    dict(first_kernel=7, kernel=5, layers=2)]


def generation_inputs(net, batch, h, w, dtype=torch.float64, seed=0):
    """Random conditioning ``(B, C_c, H, W)`` and uniform noise ``(B, K+3, H, W)`` for
    ``net``, drawn in float64 from ``seed`` then cast to ``dtype``."""
    from fastcolor.dlmm import sample_noise
    g = torch.Generator().manual_seed(seed)
    cond = torch.randn(batch, net.config.cond_channels, h, w, generator=g, dtype=torch.float64)
    noise = sample_noise(batch, net.config.mixtures, h, w, generator=g)
    return cond.to(dtype), noise.to(dtype)


def pipe_with_detector_bias(bias: float):
    """A tiny untrained pipeline whose detector outputs the logit ``bias`` everywhere (its
    last layer's weights zeroed): +20 -> every pixel is background, -20 -> none is."""
    from fastcolor import Pipeline
    p = Pipeline.random(FastcolorConfig.tiny(), seed=0)
    last = p.model.detector.unet.up[-1][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(bias)
    return p


@pytest.fixture(scope="module")
def all_background():
    """A tiny pipeline whose detector calls every pixel background."""
    return pipe_with_detector_bias(20.0)
