"""Compile and run the C++ unit tests of csrc/ (the numeric building blocks: the
vectorized exp and gate, quantization, the DLMM pixel sampler) with the flags setup.py
uses. CMake users run the same file through ctest."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CXX = shutil.which("g++") or shutil.which("c++")


@pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++/c++) on PATH")
def test_csrc_unit_tests(tmp_path):
    exe = tmp_path / "test_csrc"
    cmd = [CXX, "-O3", "-std=c++17", "-fno-trapping-math", "-fno-math-errno", "-march=native",
           f"-I{ROOT / 'csrc'}", str(ROOT / "csrc" / "tests" / "test_csrc.cpp"), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "passed: 0 failure(s)" in run.stdout
