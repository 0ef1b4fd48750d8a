"""The ``FastcolorError`` family: every failure a user can cause raises one of these.

Each class also derives from the builtin a caller would naturally catch
(``ValueError``, ``FileNotFoundError``, ``RuntimeError``), so ``except ValueError``
keeps working for code that does not know fastcolor.
"""

from __future__ import annotations


class FastcolorError(Exception):
    """Base class of every error fastcolor raises on purpose."""


class InvalidInputError(FastcolorError, ValueError):
    """A tensor or argument has the wrong shape, dtype, range or value."""


class InvalidImageError(InvalidInputError):
    """An image cannot be used: unreadable, corrupt, empty, 0 pixels, wrong dtype/range."""


class ImageTooLargeError(InvalidImageError):
    """An image is larger than ``fastcolor.imageio.MAX_IMAGE_PIXELS`` (or a side limit)."""


class WeightsError(FastcolorError, ValueError):
    """Weights cannot be used: corrupt file, checksum mismatch, NaN/Inf, or they do not
    match their config."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """No weights file at the given path (or no default weights shipped)."""


class OutputPathError(FastcolorError, OSError):
    """A file cannot be written where asked: no permission, a file where a folder should
    be, a folder where the file should be, disk full."""


class BackendUnavailableError(FastcolorError, RuntimeError):
    """The requested backend cannot run here; the message names what is missing."""


__all__ = [
    "FastcolorError",
    "InvalidInputError",
    "InvalidImageError",
    "ImageTooLargeError",
    "WeightsError",
    "WeightsNotFoundError",
    "BackendUnavailableError",
    "OutputPathError",
]
