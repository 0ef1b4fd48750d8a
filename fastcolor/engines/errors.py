"""Errors of the deployment engines (both are ``FastcolorError`` and ``RuntimeError``)."""

from __future__ import annotations

from ..errors import FastcolorError


class EngineError(FastcolorError, RuntimeError):
    """An exported graph or a TensorRT engine cannot be used (missing, unreadable,
    malformed, or it failed to build or run); the message says what to do."""


class EngineMismatchError(EngineError):
    """A graph or engine was made for other weights, another fastcolor, TensorRT or GPU,
    another precision or shape profile; the message lists every difference."""


__all__ = ["EngineError", "EngineMismatchError"]
