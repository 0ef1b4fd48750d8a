"""Triton kernels of fastcolor, installed as ``fastcolor.kernels``.

Each kernel has a pure-PyTorch reference in ``fastcolor`` (the truth) and a dispatcher
that uses the kernel on CUDA tensors. The kernels arrive with the "Triton kernels"
issue; until then this package holds none and every op runs its reference.
"""

KERNELS: tuple[str, ...] = ()
