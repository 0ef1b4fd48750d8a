"""The C++ cached generator ``fastcolor._C`` (CPU, no Python in the loop, OpenMP across
the batch): the fastest path on the CPU.

``CppPixelCNN(pixelcnn)`` re-lays out the reference module's weights once for the CPU;
``.generate(cond, ...)`` samples like ``generate_naive`` (same arguments, same samples
given the same noise: exactly in float64). ``generate_cpp`` does both in one call.
"""

from __future__ import annotations

import importlib

import torch

from ..errors import BackendUnavailableError, InvalidInputError
from ..models.pixelcnn import ConditionalGatedPixelCNN
from .common import prepare_inputs


def load_extension():
    """The compiled ``fastcolor._C`` module, or ``BackendUnavailableError`` saying how to
    build it."""
    try:
        _C = importlib.import_module("fastcolor._C")
    except ImportError as e:
        raise BackendUnavailableError(
            "the C++ extension fastcolor._C is not built (" + str(e) + "); build it with "
            "`pip install --no-build-isolation -e .` from a checkout (needs a C++ compiler "
            "and torch installed first)") from None
    return _C


def cpp_unavailable_reason() -> str | None:
    """None if ``fastcolor._C`` imports, else why not."""
    try:
        load_extension()
    except BackendUnavailableError as e:
        return str(e)
    return None


def _block_tensors(block) -> list[torch.Tensor]:
    return [block.v_conv.masked_weight(), block.v_conv.bias, block.h_conv.masked_weight(),
            block.h_conv.bias, block.v_to_h.weight, block.v_to_h.bias, block.v_cond.weight,
            block.h_cond.weight, block.h_out.weight, block.h_out.bias]


class CppPixelCNN:
    """A ``ConditionalGatedPixelCNN``'s weights, packed for ``fastcolor._C`` (CPU,
    float32 or float64: the module's dtype). Re-pack after changing the weights."""

    def __init__(self, pixelcnn: ConditionalGatedPixelCNN):
        _C = load_extension()
        dtype = pixelcnn.head_out.weight.dtype
        if dtype not in (torch.float32, torch.float64):
            raise InvalidInputError(f"the C++ generator runs float32 or float64, not {dtype}")
        if pixelcnn.head_out.weight.device.type != "cpu":
            raise InvalidInputError("the C++ generator needs the PixelCNN on the CPU")
        self.config = pixelcnn.config
        self.dtype = dtype
        with torch.no_grad():
            blocks = [[t.detach().contiguous() for t in _block_tensors(b)] for b in pixelcnn.blocks]
            head = [t.detach().contiguous() for t in
                    (pixelcnn.head_hidden.weight, pixelcnn.head_hidden.bias,
                     pixelcnn.head_out.weight, pixelcnn.head_out.bias)]
            try:
                self._impl = _C.CachedPixelCNN(blocks, head, pixelcnn.config.mixtures)
            except RuntimeError as e:
                raise InvalidInputError(f"cannot pack the PixelCNN for C++: {e}") from None

    @torch.no_grad()
    def generate(self, cond: torch.Tensor, *, noise=None, generator=None, hints=None,
                 hint_mask=None, temperature: float = 1.0) -> torch.Tensor:
        """Sample ``(B, 3, H, W)``; arguments as ``generate_naive``."""
        if not isinstance(cond, torch.Tensor) or cond.dtype != self.dtype or cond.device.type != "cpu":
            raise InvalidInputError(
                f"cond must be a CPU tensor of the PixelCNN's dtype {self.dtype}, got "
                f"{getattr(cond, 'dtype', type(cond))} on {getattr(cond, 'device', '?')}")
        inp = prepare_inputs(cond, self.config.mixtures, noise=noise, generator=generator,
                             hints=hints, hint_mask=hint_mask, temperature=temperature)
        empty = cond.new_empty(0)
        hints_t = inp.hints.contiguous() if inp.hints is not None else empty
        mask_t = inp.hint_mask.contiguous() if inp.hint_mask is not None else torch.empty(0, dtype=torch.bool)
        try:
            return self._impl.generate(inp.cond.contiguous(), inp.noise.contiguous(), hints_t,
                                       mask_t, inp.temperature)
        except RuntimeError as e:
            raise InvalidInputError(str(e)) from None


    @torch.no_grad()
    def teacher_forced_params(self, cond: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Run the cached steps writing ``x`` ``(B, 3, H, W)`` instead of samples; returns
        each step's DLMM parameters ``(B, 10K, H, W)`` (to compare with a full forward)."""
        try:
            return self._impl.teacher_forced_params(cond.contiguous(), x.contiguous())
        except RuntimeError as e:
            raise InvalidInputError(str(e)) from None


def generate_cpp(pixelcnn: ConditionalGatedPixelCNN, cond: torch.Tensor, **kwargs) -> torch.Tensor:
    """Pack ``pixelcnn`` and sample once (``CppPixelCNN`` keeps the packing for reuse)."""
    return CppPixelCNN(pixelcnn).generate(cond, **kwargs)
