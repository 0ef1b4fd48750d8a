"""benchmarks/bench_kernels.py: its analytic figures, and the calls it times on a GPU,
run here once on tiny shapes under the Triton interpreter so the GPU-only code path is
exercised (kernel and reference agree) even where there is no GPU to time it."""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
import bench_kernels  # noqa: E402

from fastcolor.config import FastcolorConfig  # noqa: E402


def test_script_prints_analytic_figures_and_the_timing_note(capsys):
    figures = bench_kernels.main(["--json", "--batch", "1"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == json.loads(json.dumps(figures))
    conv = figures["masked_conv2d"]
    assert conv["kept_tap_fractions"] == {"vertical_a_5x5": "10/25", "horizontal_a_1x5": "2/5",
                                          "vertical_b_3x3": "6/9", "horizontal_b_1x3": "2/3"}
    # default PixelCNN: 1 block of (5x5 a, 1x5 a) from 3 channels, 7 of (3x3 b, 1x3 b)
    kept = 2 * 32 * 32 * 128 * (3 * (10 + 2) + 7 * 64 * (6 + 2))
    dense = 2 * 32 * 32 * 128 * (3 * (25 + 5) + 7 * 64 * (9 + 3))
    assert (conv["pixelcnn_flops_kernel"], conv["pixelcnn_flops_dense"]) == (kept, dense)
    d = figures["dlmm"]
    assert d["sample_bytes_per_pixel_kernel"] == (5 + 8 + 9 + 3) * 4
    assert d["sample_bytes_per_pixel_reference_eager"] > d["sample_bytes_per_pixel_kernel"]
    if not torch.cuda.is_available():
        assert "needs a CUDA GPU" in figures["timing"]


def test_timed_calls_agree_under_the_interpreter():
    for name, pair in bench_kernels.pairs(1, 4, "cpu").items():
        got, want = pair.kernel(), pair.reference()
        assert got.shape == want.shape, name
        if name.startswith("conv"):
            tol = 1e-2 if name.endswith("fp16") else 1e-4
            torch.testing.assert_close(got.float(), want.float(), atol=tol, rtol=tol)
        elif name.startswith("dlmm_sample"):
            assert (got != want).any(1).float().mean() < 0.1, name     # float32 ties only
        else:
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        assert pair.bytes > 0


def test_generation_pair_under_the_interpreter():
    cfg = FastcolorConfig.tiny(image_size=16, lowres_size=4)
    triton_gen, pytorch_gen = bench_kernels.generation_pair(cfg, 2, "cpu")
    a, b = triton_gen(), pytorch_gen()
    assert a.shape == b.shape == (2, 3, 4, 4)
    assert (a != b).any(1).float().mean() < 0.1
