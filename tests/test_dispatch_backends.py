"""One dispatch mechanism: a backend states the kernel mode its stages run in; the
reference backend is pure PyTorch everywhere (kernel mode "reference", also where "auto"
would take a Triton kernel); one Pipeline may be called from several threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fastcolor import FastcolorConfig, Pipeline
from fastcolor.ops import current_kernel_mode


@pytest.mark.parametrize("backend,mode", [("reference", "reference"), ("cpp", "auto")])
def test_model_stages_run_in_the_backends_kernel_mode(backend, mode):
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend=backend, progress=False)
    seen = []
    for stage in ("condition", "generate", "detect", "polish"):
        real = getattr(pipe.backend, stage)

        def spy(*args, _real=real, **kwargs):
            seen.append(current_kernel_mode())
            return _real(*args, **kwargs)
        setattr(pipe.backend, stage, spy)
    pipe(np.full((24, 30), 255, np.uint8), seed=0)
    assert seen and set(seen) == {mode}
    assert current_kernel_mode() == "auto"            # restored after the call


@pytest.mark.parametrize("backend", ["cpp", "reference"])
def test_one_pipeline_from_several_threads(backend):
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend=backend, progress=False)
    page = np.full((40, 56), 255, np.uint8)
    page[10:30, 10] = page[10:30, 40] = page[10, 10:41] = page[30, 10:41] = 0
    expect = [pipe(page, seed=s).image for s in range(4)]
    got = [None] * 4

    def work(s):
        got[s] = pipe(page, seed=s).image
    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(a, b) for a, b in zip(expect, got))


def test_unets_run_on_aten_convolutions_on_the_cpu():
    """The detector and the polisher run with oneDNN off (its first call in a process gave
    floats that differ from process to process); the flag comes back after, also when
    threads overlap, and the result does not depend on how many tiles a call holds."""
    import torch

    from fastcolor.backends import UNET_CPU_CHUNK, run_unet, without_onednn
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="cpp", progress=False)
    seen = []
    for net in (pipe.model.detector, pipe.model.polisher):
        net.register_forward_pre_hook(lambda *a: seen.append(torch.backends.mkldnn.enabled))
    before = torch.backends.mkldnn.enabled
    pipe(np.full((24, 30), 255, np.uint8), seed=0)
    assert seen and not any(seen)
    assert torch.backends.mkldnn.enabled == before

    torch.manual_seed(0)
    S = pipe.config.image_size
    n = 2 * UNET_CPU_CHUNK + 1                          # chunks of 2, 2 and 1
    outline, colors = torch.rand(n, 1, S, S) * 2 - 1, torch.rand(n, 3, S, S) * 2 - 1
    with torch.no_grad():
        whole = run_unet(pipe.model.detector.probability, outline, colors)
        one = [run_unet(pipe.model.detector.probability, outline[i:i + 1], colors[i:i + 1])
               for i in range(n)]
    assert torch.equal(whole, torch.cat(one))

    inside, leave = threading.Event(), threading.Event()

    def hold():
        with without_onednn():
            inside.set()
            leave.wait(10)
    t = threading.Thread(target=hold)
    t.start()
    inside.wait(10)
    with without_onednn():                               # a second user, leaving first
        assert not torch.backends.mkldnn.enabled
    assert not torch.backends.mkldnn.enabled             # the other thread is still inside
    leave.set()
    t.join()
    assert torch.backends.mkldnn.enabled == before


def test_a_page_gives_the_same_bytes_in_every_process():
    """The shipped weights on the example page, in fresh processes: the same image (with
    oneDNN in the polisher, about 4 processes in 10 gave another one)."""
    import hashlib
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import hashlib, numpy as np; from fastcolor import Pipeline; "
            "r = Pipeline.from_pretrained()('examples/page_manga.png', seed=0); "
            "print(hashlib.sha256(np.ascontiguousarray(r.image).tobytes()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], cwd=root, check=True,
                              capture_output=True, text=True, timeout=120).stdout.strip()
               for _ in range(4)}
    assert len(digests) == 1 and len(next(iter(digests))) == len(hashlib.sha256().hexdigest())
