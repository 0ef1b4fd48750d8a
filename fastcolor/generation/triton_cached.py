"""The cached generator on CUDA, and the ``triton`` backend that serves it.

``generate_cached``'s algorithm (Fast PixelCNN++: every layer keeps its activations, each
step computes only the new position) with its two heavy parts as Triton kernels:

- the vertical stack of each block at the start of a row: one ``masked_conv2d`` launch
  that computes only that output row, over only the taps the mask keeps;
- the sample of each pixel: one fused ``dlmm_sample`` launch for the whole batch.

The per-pixel horizontal stack and the 1x1 head stay PyTorch ops (a few small GEMVs per
step). Given the same noise it matches ``generate_naive`` sample for sample (exactly in
float64; see docs/design.md, "Comparing generators").
"""

from __future__ import annotations

import torch

from ..backends import ReferenceBackend
from ..models.pixelcnn import ConditionalGatedPixelCNN
from ..ops.dispatch import kernel_mode, triton_installed
from ..ops.dlmm import dlmm_sample
from ..ops.masked_conv import masked_conv2d
from .cached import CachedPixelCNN, generate_cached


class TritonCachedPixelCNN(CachedPixelCNN):
    """``CachedPixelCNN`` whose per-row vertical convolutions run the masked-conv kernel."""

    def __init__(self, pixelcnn: ConditionalGatedPixelCNN, cond: torch.Tensor):
        super().__init__(pixelcnn, cond)
        self.v_convs = [blk.v_conv for blk in pixelcnn.blocks]

    def vertical_conv_row(self, l: int, inp: torch.Tensor, i: int) -> torch.Tensor:
        conv = self.v_convs[l]
        width = inp.shape[-1]
        row = masked_conv2d(inp, conv.weight, conv.mask, conv.bias, taps=conv.kept_taps,
                            out_window=(i, i + 1, 0, width))
        return row[:, :, 0]


def triton_sampler(params: torch.Tensor, noise: torch.Tensor, *,
                   temperature: float) -> torch.Tensor:
    """``generate_cached``'s sampler: the fused kernel on params ``(B, 10K, 1, 1)`` and
    noise ``(B, K + 3, 1, 1)`` -> ``(B, 3, 1, 1)``."""
    return dlmm_sample(params, noise, temperature=temperature)


@torch.no_grad()
def generate_cached_triton(pixelcnn: ConditionalGatedPixelCNN, cond: torch.Tensor, **kwargs):
    """Sample ``(B, 3, H, W)`` with the kernels; arguments of ``generate_cached`` (noise or
    generator, hints, hint_mask, temperature, return_state). Always runs the kernels:
    ``cond`` must be a CUDA tensor, or a CPU tensor under the Triton interpreter."""
    with kernel_mode("triton"):
        return generate_cached(pixelcnn, cond, sampler=triton_sampler,
                               model_cls=TritonCachedPixelCNN, **kwargs)


def triton_unavailable_reason(device: torch.device) -> str | None:
    """None if the ``triton`` backend can run on ``device``, else what is missing."""
    device = torch.device(device)
    if device.type != "cuda":
        return (f"the Triton kernels run on CUDA devices only (got device {str(device)!r}); "
                "pass device='cuda' on a machine with an NVIDIA GPU")
    if not torch.cuda.is_available():
        return ("the Triton kernels need a CUDA device and none is available "
                "(torch.cuda.is_available() is False: no NVIDIA GPU or driver, or a CPU-only "
                f"torch {torch.__version__})")
    if not triton_installed():
        return ("the Triton kernels need the triton package, which is not installed "
                "(pip install triton)")
    return None


class TritonBackend(ReferenceBackend):
    """Low-res generation by ``generate_cached_triton``; conditioning, detection and
    polishing stay eager PyTorch (cuDNN) on the CUDA device."""

    name = "triton"
    kernel_mode = "auto"

    def generate(self, pixelcnn, cond: torch.Tensor, **kwargs) -> torch.Tensor:
        return generate_cached_triton(pixelcnn, cond, **kwargs)
