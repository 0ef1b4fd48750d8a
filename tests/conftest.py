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
