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
