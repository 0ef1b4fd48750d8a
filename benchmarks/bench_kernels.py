"""The Triton kernels against their PyTorch references, at the default model size.

    python benchmarks/bench_kernels.py [--json] [--batch 8]   # side-by-side figures
    pytest benchmarks/bench_kernels.py                        # pytest-benchmark suite

Everywhere: the analytic work of each kernel and its reference.

- ``masked_conv2d``, per PixelCNN convolution: multiply-add FLOPs over the kept taps
  (the kernel) and over the dense kernel (the reference ``F.conv2d`` with a masked
  weight), the fraction of dense FLOPs skipped, and the bytes each moves.
- ``dlmm_sample`` / ``dlmm_nll``: bytes per pixel. Kernel: every input read once, every
  output written once. Reference: its eager traffic, measured by running it (on the
  CPU) under a dispatch mode that adds up the tensor bytes each aten op reads and
  writes (views free), autograd's backward included for the likelihood.

On CUDA it also times kernel and reference side by side (best of ``--repeat``,
synchronized), with the kernels' achieved TFLOP/s and GB/s from the analytic counts,
the kernels' max error against the reference, and low-res generation per image (the
Triton cached generator vs the PyTorch cached one). Without a GPU there is no timing:
the figures say so.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_time, machine, print_json  # noqa: E402

from fastcolor import dlmm  # noqa: E402
from fastcolor.config import FastcolorConfig, PixelCNNConfig  # noqa: E402
from fastcolor.models.masked_conv import make_mask  # noqa: E402
from fastcolor.ops import (dlmm_log_prob, dlmm_sample, kept_taps, kernel_mode,  # noqa: E402
                           masked_conv2d, masked_conv2d_reference)

CUDA = torch.cuda.is_available()
NO_GPU = "timing the Triton kernels needs a CUDA GPU (torch.cuda.is_available() is False)"


# ---------------------------------------------------------------------------
# analytic counts
# ---------------------------------------------------------------------------

class EagerTraffic(TorchDispatchMode):
    """Adds up the bytes every aten op reads (its tensor inputs) and writes (its
    outputs); view ops move nothing and are not counted."""

    def __init__(self):
        super().__init__()
        self.read = self.written = self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        returns = func._schema.returns
        if returns and all(r.alias_info is not None and not r.alias_info.is_write
                           for r in returns):
            return out                                     # a view
        nbytes = lambda t: t.numel() * t.element_size()  # noqa: E731
        self.read += sum(nbytes(t) for t in tree_leaves((args, kwargs))
                         if isinstance(t, torch.Tensor))
        self.written += sum(nbytes(t) for t in tree_leaves(out) if isinstance(t, torch.Tensor))
        self.ops += 1
        return out

    @property
    def total(self) -> int:
        return self.read + self.written


def eager_traffic(fn) -> EagerTraffic:
    with EagerTraffic() as counter:
        fn()
    return counter


@dataclass(frozen=True)
class ConvLayer:
    """One masked convolution of the PixelCNN (both stacks of every block)."""

    name: str
    kind: str
    kernel: tuple[int, int]
    c_in: int
    c_out: int

    def taps(self) -> tuple[int, int]:
        """(kept, dense) kernel taps."""
        _, rows, _, cols = kept_taps(make_mask(self.kind, self.kernel))
        return rows * cols, self.kernel[0] * self.kernel[1]


def pixelcnn_conv_layers(cfg: PixelCNNConfig) -> list[ConvLayer]:
    layers = []
    for i in range(cfg.layers):
        k = cfg.first_kernel if i == 0 else cfg.kernel
        c_in = 3 if i == 0 else cfg.channels
        s = "a" if i == 0 else "b"
        c_out = 2 * cfg.channels
        layers.append(ConvLayer(f"block{i}.v_conv", f"vertical_{s}", (k, k), c_in, c_out))
        layers.append(ConvLayer(f"block{i}.h_conv", f"horizontal_{s}", (1, k), c_in, c_out))
    return layers


def conv_counts(layer: ConvLayer, batch: int, size: int, elem: int) -> dict:
    """FLOPs (2 per multiply-add) and ideal bytes of one masked conv, kernel vs dense."""
    kept, dense = layer.taps()
    pixels = batch * size * size
    x_bytes = pixels * layer.c_in * elem
    out_bytes = pixels * layer.c_out * elem
    w_dense = layer.c_out * layer.c_in * dense * elem
    w_kept = layer.c_out * layer.c_in * kept * elem
    return {
        "kind": layer.kind, "kernel": list(layer.kernel), "kept_taps": kept, "dense_taps": dense,
        "flops_kernel": 2 * pixels * layer.c_out * layer.c_in * kept,
        "flops_dense": 2 * pixels * layer.c_out * layer.c_in * dense,
        "bytes_kernel": x_bytes + w_kept + out_bytes,
        "bytes_dense": x_bytes + w_dense + out_bytes,
    }


def masked_conv_figures(cfg: PixelCNNConfig, batch: int, size: int, elem: int = 4) -> dict:
    per_shape: dict[str, dict] = {}        # distinct layer shapes, with how many there are
    for layer in pixelcnn_conv_layers(cfg):
        key = f"{layer.kind}_{layer.kernel[0]}x{layer.kernel[1]}_{layer.c_in}to{layer.c_out}"
        if key in per_shape:
            per_shape[key]["layers"] += 1
        else:
            per_shape[key] = {"layers": 1, **conv_counts(layer, batch, size, elem)}
    fk = sum(c["layers"] * c["flops_kernel"] for c in per_shape.values())
    fd = sum(c["layers"] * c["flops_dense"] for c in per_shape.values())
    fractions = {f"{c['kind']}_{c['kernel'][0]}x{c['kernel'][1]}":
                 f"{c['kept_taps']}/{c['dense_taps']}" for c in per_shape.values()}
    # the fused gate: the reference writes the 2F pre-activation and runs chunk, tanh,
    # sigmoid and mul over it; the kernel writes only the F gated channels
    v = pixelcnn_conv_layers(cfg)[2] if cfg.layers > 1 else pixelcnn_conv_layers(cfg)[0]
    x = torch.randn(batch, v.c_in, size, size)
    w = torch.randn(v.c_out, v.c_in, *v.kernel)
    mask = make_mask(v.kind, v.kernel)
    bias = torch.randn(v.c_out)
    gated_ref = eager_traffic(lambda: masked_conv2d_reference(x, w, mask, bias, gated=True))
    kept, _ = v.taps()
    pixels = batch * size * size
    gated_kernel = (pixels * v.c_in + v.c_out * v.c_in * kept + v.c_out + pixels * v.c_out // 2) * 4
    return {
        "batch": batch, "size": size, "dtype_bytes": elem,
        "kept_tap_fractions": fractions,
        "per_layer_shape": per_shape,
        "pixelcnn_flops_kernel": fk, "pixelcnn_flops_dense": fd,
        "pixelcnn_fraction_of_dense_flops": round(fk / fd, 4),
        "pixelcnn_fraction_skipped": round(1 - fk / fd, 4),
        "gated_layer": v.name,
        "gated_bytes_kernel": gated_kernel,
        "gated_bytes_reference_eager": gated_ref.total,
        "gated_reference_ops": gated_ref.ops,
    }


def random_params(batch: int, k: int, size: int, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(0)
    p = torch.randn(batch, 10 * k, size, size, generator=g)
    p[:, k:4 * k] *= 0.5
    p[:, 4 * k:7 * k] = p[:, 4 * k:7 * k] * 0.5 - 3
    return p.to(dtype=dtype, device=device)


def dlmm_figures(k: int, batch: int, size: int, elem: int = 4) -> dict:
    pixels = batch * size * size
    params = random_params(batch, k, size)
    noise = dlmm.sample_noise(batch, k, size, size, dtype=torch.float32)
    x = dlmm.dlmm_sample(params, noise)
    sample_ref = eager_traffic(lambda: dlmm.dlmm_sample(params, noise, temperature=0.8))

    def nll_fwd_bwd():
        p = params.clone().requires_grad_()
        dlmm.dlmm_nll_bits_per_dim(p, x).backward()

    nll_fwd = eager_traffic(lambda: dlmm.dlmm_log_prob(params, x))
    nll_both = eager_traffic(nll_fwd_bwd)
    per_pixel = lambda n: round(n / pixels, 1)  # noqa: E731
    sample_kernel = (k + (k + 3) + 9 + 3) * elem            # logits, noise, 9 picked, RGB
    sample_kernel_seed = (k + 9 + 3) * elem
    nll_kernel_fwd = (10 * k + 3 + 1) * elem                 # params, x, log p
    nll_kernel_bwd = (10 * k + 3 + 1 + 10 * k) * elem         # + grad_out, grad params
    return {
        "mixtures": k, "pixels": pixels, "dtype_bytes": elem,
        "sample_bytes_per_pixel_kernel": sample_kernel,
        "sample_bytes_per_pixel_kernel_seed": sample_kernel_seed,
        "sample_bytes_per_pixel_reference_eager": per_pixel(sample_ref.total),
        "sample_reference_ops": sample_ref.ops,
        "sample_traffic_ratio": round(sample_ref.total / pixels / sample_kernel, 1),
        "nll_fwd_bytes_per_pixel_kernel": nll_kernel_fwd,
        "nll_fwd_bytes_per_pixel_reference_eager": per_pixel(nll_fwd.total),
        "nll_fwd_bwd_bytes_per_pixel_kernel": nll_kernel_fwd + nll_kernel_bwd,
        "nll_fwd_bwd_bytes_per_pixel_reference_eager": per_pixel(nll_both.total),
        "nll_fwd_bwd_reference_ops": nll_both.ops,
        "nll_fwd_bwd_traffic_ratio": round(
            nll_both.total / pixels / (nll_kernel_fwd + nll_kernel_bwd), 1),
    }


# ---------------------------------------------------------------------------
# timed calls (kernel vs reference, same inputs)
# ---------------------------------------------------------------------------

@dataclass
class Pair:
    """A kernel call and its reference on the same inputs, with the kernel's analytic
    FLOPs and bytes (for achieved throughput)."""

    kernel: object
    reference: object
    flops: int
    bytes: int


def conv_pair(layer: ConvLayer, batch: int, size: int, dtype, device, gated=False) -> Pair:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, layer.c_in, size, size, generator=g).to(device, dtype)
    w = (torch.randn(layer.c_out, layer.c_in, *layer.kernel, generator=g) * 0.1).to(device, dtype)
    b = torch.randn(layer.c_out, generator=g).to(device, dtype)
    mask = make_mask(layer.kind, layer.kernel).to(device)
    taps = kept_taps(mask)
    counts = conv_counts(layer, batch, size, torch.finfo(dtype).bits // 8)

    def kernel():
        with kernel_mode("triton"):
            return masked_conv2d(x, w, mask, b, gated=gated, taps=taps)

    return Pair(kernel, lambda: masked_conv2d_reference(x, w, mask, b, gated=gated),
                counts["flops_kernel"], counts["bytes_kernel"])


def sample_pair(k: int, batch: int, size: int, device) -> Pair:
    params = random_params(batch, k, size, device=device)
    noise = dlmm.sample_noise(batch, k, size, size, dtype=torch.float32, device=device)

    def kernel():
        with kernel_mode("triton"):
            return dlmm_sample(params, noise, temperature=0.8)

    return Pair(kernel, lambda: dlmm.dlmm_sample(params, noise, temperature=0.8), 0,
                batch * size * size * (k + (k + 3) + 9 + 3) * 4)


def nll_pair(k: int, batch: int, size: int, device) -> Pair:
    params = random_params(batch, k, size, device=device)
    x = dlmm.dlmm_sample(params, dlmm.sample_noise(batch, k, size, size, dtype=torch.float32,
                                                   device=device))

    def run(mode):
        p = params.clone().requires_grad_()
        with kernel_mode(mode):
            loss = -dlmm_log_prob(p, x).mean()
        loss.backward()
        return p.grad

    return Pair(lambda: run("triton"), lambda: run("reference"), 0,
                batch * size * size * (2 * (10 * k + 4) + 10 * k) * 4)


def pairs(batch: int, size: int, device) -> dict[str, Pair]:
    cfg = PixelCNNConfig()
    layers = pixelcnn_conv_layers(cfg)
    out = {}
    for dtype in (torch.float32, torch.float16):
        tag = "fp32" if dtype == torch.float32 else "fp16"
        for layer in layers[:4]:                  # block 0 (mask a) and block 1 (mask b)
            out[f"conv_{layer.kind}_{layer.kernel[0]}x{layer.kernel[1]}_{tag}"] = \
                conv_pair(layer, batch, size, dtype, device)
        out[f"conv_gated_{layers[2].kind}_{tag}"] = conv_pair(layers[2], batch, size, dtype,
                                                               device, gated=True)
    out["dlmm_sample_image"] = sample_pair(cfg.mixtures, batch, size, device)
    out["dlmm_sample_one_position"] = sample_pair(cfg.mixtures, batch, 1, device)
    out["dlmm_nll_fwd_bwd"] = nll_pair(cfg.mixtures, batch, size, device)
    return out


def synchronized(fn):
    def call():
        out = fn()
        if CUDA:
            torch.cuda.synchronize()
        return out
    return call


def max_error(a, b) -> float:
    return float((a.double() - b.double()).abs().max())


def cuda_timings(batch: int, size: int, repeat: int) -> dict:
    figures = {}
    for name, pair in pairs(batch, size, "cuda").items():
        err = max_error(pair.kernel(), pair.reference())
        tk = best_time(synchronized(pair.kernel), repeat=repeat, warmup=3)
        tr = best_time(synchronized(pair.reference), repeat=repeat, warmup=3)
        figures[name] = {"kernel_ms": round(tk * 1e3, 4), "reference_ms": round(tr * 1e3, 4),
                         "speedup": round(tr / tk, 2), "max_abs_err": err,
                         "kernel_GBps": round(pair.bytes / tk / 1e9, 1)}
        if pair.flops:
            figures[name]["kernel_TFLOPs"] = round(pair.flops / tk / 1e12, 3)
    figures.update(generation_timings(repeat))
    return figures


def generation_pair(cfg: FastcolorConfig, batch: int, device) -> tuple:
    """(Triton cached generator, PyTorch cached generator) for one float32 low-res
    image per batch item of ``cfg``'s model (random weights), same noise."""
    from fastcolor.generation import generate_cached
    from fastcolor.generation.triton_cached import generate_cached_triton
    from fastcolor.models import FastcolorModel
    torch.manual_seed(0)
    model = FastcolorModel(cfg).to(device).eval()
    outline = (torch.rand(batch, 1, cfg.image_size, cfg.image_size) < 0.1).float().to(device)
    with torch.no_grad():
        cond = model.lowres.condition(outline)
    s = cfg.lowres_size
    noise = dlmm.sample_noise(batch, cfg.pixelcnn.mixtures, s, s,
                              generator=torch.Generator().manual_seed(1), dtype=torch.float32,
                              device=device)
    pix = model.lowres.pixelcnn
    return (lambda: generate_cached_triton(pix, cond, noise=noise),
            lambda: generate_cached(pix, cond, noise=noise))


def generation_timings(repeat: int) -> dict:
    """One low-res image (32x32, default model, float32): the Triton cached generator vs
    the PyTorch cached generator, both on the GPU, and how often their samples differ
    (float32 ties, docs/design.md)."""
    figures = {}
    for batch in (1, 8):
        tri, ref = generation_pair(FastcolorConfig(), batch, "cuda")
        mismatch = float((tri() != ref()).any(1).float().mean())
        tt = best_time(synchronized(tri), repeat=max(1, repeat // 2), warmup=1)
        tr = best_time(synchronized(ref), repeat=max(1, repeat // 2), warmup=1)
        figures[f"generate_b{batch}"] = {
            "triton_cached_s": round(tt, 4), "pytorch_cached_s": round(tr, 4),
            "speedup": round(tr / tt, 2),
            "float32_position_mismatch_rate": mismatch}
    return figures


# ---------------------------------------------------------------------------
# pytest-benchmark suite
# ---------------------------------------------------------------------------

def test_analytic_counts():
    """The counts the figures report (no timing: runs everywhere)."""
    conv = masked_conv_figures(PixelCNNConfig(), batch=1, size=32)
    assert conv["kept_tap_fractions"]["vertical_b_3x3"] == "6/9"
    assert conv["kept_tap_fractions"]["horizontal_b_1x3"] == "2/3"
    assert 0 < conv["pixelcnn_fraction_of_dense_flops"] < 1
    assert conv["gated_bytes_kernel"] < conv["gated_bytes_reference_eager"]
    d = dlmm_figures(5, batch=1, size=8)
    assert d["sample_traffic_ratio"] > 1 and d["nll_fwd_bwd_traffic_ratio"] > 1


@pytest.mark.skipif(not CUDA, reason=NO_GPU)
@pytest.mark.parametrize("side", ["kernel", "reference"])
@pytest.mark.parametrize("name", ["conv_vertical_b_3x3_fp32", "conv_horizontal_b_1x3_fp32",
                                  "conv_vertical_b_3x3_fp16", "conv_gated_vertical_b_fp16",
                                  "dlmm_sample_image", "dlmm_sample_one_position",
                                  "dlmm_nll_fwd_bwd"])
def test_kernel_vs_reference(benchmark, name, side):
    pair = pairs(8, 32, "cuda")[name]
    benchmark.extra_info.update(name=name, side=side)
    benchmark(synchronized(getattr(pair, side)))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args(argv)
    cfg = FastcolorConfig()
    size = cfg.lowres_size
    figures = {"machine": machine(),
               "masked_conv2d": masked_conv_figures(cfg.pixelcnn, args.batch, size),
               "dlmm": dlmm_figures(cfg.pixelcnn.mixtures, args.batch, size)}
    conv = figures["masked_conv2d"]
    print(f"masked_conv2d: kept taps {conv['kept_tap_fractions']}; PixelCNN convs do "
          f"{conv['pixelcnn_fraction_of_dense_flops']:.1%} of the dense FLOPs "
          f"({conv['pixelcnn_flops_kernel'] / 1e9:.3f} vs {conv['pixelcnn_flops_dense'] / 1e9:.3f} "
          f"GFLOP at batch {args.batch}); gated epilogue bytes {conv['gated_bytes_kernel']} vs "
          f"{conv['gated_bytes_reference_eager']} eager")
    d = figures["dlmm"]
    print(f"dlmm_sample: {d['sample_bytes_per_pixel_kernel']} B/pixel (seed: "
          f"{d['sample_bytes_per_pixel_kernel_seed']}) vs "
          f"{d['sample_bytes_per_pixel_reference_eager']} eager in {d['sample_reference_ops']} ops")
    print(f"dlmm_nll fwd+bwd: {d['nll_fwd_bwd_bytes_per_pixel_kernel']} B/pixel vs "
          f"{d['nll_fwd_bwd_bytes_per_pixel_reference_eager']} eager in "
          f"{d['nll_fwd_bwd_reference_ops']} ops")
    if CUDA:
        figures["cuda"] = cuda_timings(args.batch, size, args.repeat)
        for name, f in figures["cuda"].items():
            print(f"{name:36s} {f}")
    else:
        figures["timing"] = NO_GPU
        print(f"timing: {NO_GPU}")
    if args.json:
        print_json(figures)
    return figures


if __name__ == "__main__":
    main()
