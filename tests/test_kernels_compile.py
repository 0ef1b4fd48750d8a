"""Every kernel compiles for real GPUs, exactly as its launcher would launch it at the
default model size, and fits in registers (no spills).

The interpreter (the other kernel tests) proves the arithmetic but runs kernels as plain
Python, so it accepts code the GPU compiler rejects (non-constexpr globals, dot operand
types, constexpr misuse) and says nothing of register pressure. Here, in a subprocess
without TRITON_INTERPRET (conftest sets it for this process), each launcher is called on
CPU tensors with the kernel's ``run`` replaced by a recorder; the recorded launch goes
through triton's own argument specialization (alignment, ints equal to 1, divisibility)
and is compiled ahead of time to a cubin for sm_80 or sm_90 with triton's LLVM and
bundled ptxas; ``cuobjdump -res-usage`` then gives registers and stack (spill) bytes, and
the PTX shows whether any fp32 division is the approximate one. No GPU is needed.
"""

import json
import os
import subprocess
import sys

import pytest

NVIDIA_BIN = None
try:
    import triton as _triton
    NVIDIA_BIN = os.path.join(os.path.dirname(_triton.__file__), "backends", "nvidia", "bin")
except ImportError:
    pass


def launches():
    """(name, kernel, launcher call, arch): the launches to compile (run in the subprocess)."""
    import torch
    from fastcolor.kernels import dlmm_nll, dlmm_sample, masked_conv2d

    def conv(dtype, c_in, kernel, taps, gated, precision="highest", window=None):
        def call():
            torch.set_float32_matmul_precision(precision)
            x = torch.zeros(8, c_in, 32, 32, dtype=dtype)
            w = torch.zeros(128, c_in, *kernel, dtype=dtype)
            masked_conv2d.masked_conv2d_triton(x, w, torch.zeros(128, dtype=dtype), taps,
                                               gated=gated, out_window=window)
        return masked_conv2d.masked_conv2d_kernel, call

    def sample(dtype, size, **kw):
        def call():
            params = torch.zeros(8, 50, size, size, dtype=dtype)
            noise = None if "seed" in kw else torch.zeros(8, 8, size, size, dtype=dtype)
            if kw.pop("store", False):
                kw["uniforms_out"] = torch.zeros(8, 8, size, size)
            dlmm_sample.dlmm_sample_triton(params, noise, **kw)
        return dlmm_sample.dlmm_sample_kernel, call

    def nll(dtype, backward):
        def call():
            params = torch.zeros(8, 50, 32, 32, dtype=dtype)
            x = torch.zeros(8, 3, 32, 32, dtype=dtype)
            if backward:
                dlmm_nll.dlmm_log_prob_grad_triton(params, x, torch.zeros(8, 32, 32, dtype=dtype))
            else:
                dlmm_nll.dlmm_log_prob_triton(params, x)
        return dlmm_nll.dlmm_log_prob_kernel, call

    f32, f16, bf16, f64 = torch.float32, torch.float16, torch.bfloat16, torch.float64
    return [
        ("conv_fp32_ieee_3x3b_gated", *conv(f32, 64, (3, 3), (0, 2, 0, 3), True), 90),
        ("conv_fp32_ieee_3x3b", *conv(f32, 64, (3, 3), (0, 2, 0, 3), False), 80),
        ("conv_fp32_tf32_3x3b_gated", *conv(f32, 64, (3, 3), (0, 2, 0, 3), True, "high"), 80),
        ("conv_fp32_row_window_3x3b", *conv(f32, 64, (3, 3), (0, 2, 0, 3), False,
                                            window=(5, 6, 0, 32)), 90),
        ("conv_fp16_5x5a_first", *conv(f16, 3, (5, 5), (0, 2, 0, 5), False), 90),
        ("conv_fp16_3x3b_gated", *conv(f16, 64, (3, 3), (0, 2, 0, 3), True), 80),
        ("conv_bf16_1x3b", *conv(bf16, 64, (1, 3), (0, 1, 0, 2), False), 90),
        ("conv_fp64_3x3b_gated", *conv(f64, 64, (3, 3), (0, 2, 0, 3), True), 80),
        ("sample_fp32_image", *sample(f32, 32, temperature=0.8), 90),
        ("sample_fp32_one_position", *sample(f32, 1, temperature=0.7), 80),
        ("sample_fp16_seed", *sample(f16, 32, seed=7, store=True), 80),
        ("sample_fp64_t0", *sample(f64, 1, temperature=0.0), 90),
        ("nll_fp32_fwd", *nll(f32, False), 90),
        ("nll_fp32_bwd", *nll(f32, True), 80),
        ("nll_fp16_bwd", *nll(f16, True), 90),
        ("nll_fp64_bwd", *nll(f64, True), 80),
    ]


def compile_launch(index: int) -> dict:
    """Record launch ``index``, compile it for its arch, read its resource usage."""
    import re
    import tempfile

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.compiler.compiler import make_backend
    from triton.runtime.jit import create_function_from_signature

    import fastcolor.kernels.runtime as runtime
    from fastcolor.kernels import dlmm_nll, dlmm_sample, masked_conv2d
    for module in (runtime, dlmm_nll, dlmm_sample, masked_conv2d):
        module.check_launchable = lambda *a, **k: None     # CPU tensors, never launched
    name, kernel, call, arch = launches()[index]
    recorded = {}

    def record(*args, grid, warmup, **kwargs):
        recorded.update(args=args, kwargs=kwargs)

    kernel.run = record
    try:
        call()
    finally:
        del kernel.run
    target = GPUTarget("cuda", arch, 32)
    backend = make_backend(target)
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound, specialization, options = binder(*recorded["args"], **recorded["kwargs"])
    options, signature, constexprs, attrs = kernel._pack_args(
        backend, recorded["kwargs"], bound, specialization, options)
    compiled = triton.compile(ASTSource(kernel, signature, constexprs, attrs), target=target,
                              options=options.__dict__)
    ptx = compiled.asm["ptx"]
    approx_divisions = ptx.count("div.full.f32") + ptx.count("div.approx.f32")
    with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as f:
        f.write(compiled.asm["cubin"])
    usage = subprocess.run([os.path.join(NVIDIA_BIN, "cuobjdump"), "-res-usage", f.name],
                           capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    regs = int(re.search(r"REG:(\d+)", usage).group(1))
    stack = int(re.search(r"STACK:(\d+)", usage).group(1))
    return {"name": name, "arch": arch, "registers": regs, "stack_bytes": stack,
            "num_warps": options.num_warps, "approx_fp32_divisions": approx_divisions}


def compile_all() -> None:
    """Compile every launch (two processes); one JSON line each."""
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=2) as pool:
        for result in pool.map(compile_launch, range(len(launches()))):
            print(json.dumps(result), flush=True)


@pytest.mark.skipif(NVIDIA_BIN is None or not os.path.isfile(os.path.join(NVIDIA_BIN, "ptxas")),
                    reason="compiling for NVIDIA GPUs without one needs the ptxas and cuobjdump "
                           "bundled in triton's Linux wheels, which this triton install lacks")
def test_every_launch_compiles_for_sm80_sm90_without_spills():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, os.path.abspath(__file__)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    done = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["name"] for d in done] == [launch[0] for launch in launches()]
    assert {d["arch"] for d in done} == {80, 90}
    spilled = [d for d in done if d["stack_bytes"] > 0]
    assert not spilled, spilled
    # fp32 "/" compiles to div.full.f32 (2 ulp): every division must be jit_math.div's div.rn
    assert not [d for d in done if d["approx_fp32_divisions"]], done
    assert all(0 < d["registers"] <= 255 for d in done)


if __name__ == "__main__":
    compile_all()
