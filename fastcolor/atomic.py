"""Atomic file writes: every file fastcolor writes goes through :func:`atomic_path`.

The data is written to a new, uniquely named temporary file in the target's folder
(``.NAME.<random>.tmp``, created with ``O_EXCL`` so two writers, threads or processes,
never share one) and renamed over the target with ``os.replace`` only once it is
complete. An interrupted or failing writer therefore never leaves a partial file under
the final name, and its temporary file is removed. The file gets the permissions of any
new file (``0o666`` less the umask), not ``mkstemp``'s ``0o600``, also when the writer
replaced the temporary file with one of its own (safetensors' ``save_file`` does, with
mode ``0o600``). (Atomic against the process being stopped; the data is not
``fsync``'ed, so not against a power cut.)

Failures of the file system (no permission, a file where a folder should be, disk
full) raise :class:`~fastcolor.errors.OutputPathError` naming the target.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator, Union

from .errors import FastcolorError, OutputPathError

PathLike = Union[str, "os.PathLike[str]"]


def _output_error(final: Path, exc: OSError) -> OutputPathError:
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(final) else ""
    return OutputPathError(f"cannot write {str(final)!r}: {reason}{where}; choose a path "
                           f"in a folder you can write to")


def _new_temp(final: Path) -> Path:
    """Create an empty, uniquely named file beside ``final`` (mode 0o666 less umask)."""
    for _ in range(100):
        tmp = final.with_name(f".{final.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name beside {final}")


@contextlib.contextmanager
def atomic_path(final: PathLike) -> Iterator[Path]:
    """``with atomic_path(target) as tmp:`` write the whole file to ``tmp`` (it exists,
    empty); on leaving the block it is renamed to ``target``. On any exception
    (``KeyboardInterrupt`` included) ``tmp`` is removed and ``target`` is untouched.
    Missing parent folders are created."""
    final = Path(final)
    tmp = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _new_temp(final)
        mode = os.stat(tmp).st_mode & 0o777       # 0o666 less the umask
        yield tmp
        if os.stat(tmp).st_mode & 0o777 != mode:  # the writer made a file of its own
            os.chmod(tmp, mode)
        os.replace(tmp, final)
        tmp = None
    except OSError as exc:
        if isinstance(exc, FastcolorError):
            raise
        raise _output_error(final, exc) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_atomic(final: PathLike, data: Union[bytes, bytearray, memoryview, str]) -> Path:
    """Write ``data`` (bytes, or str as UTF-8) to ``final`` atomically; returns the path."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(final)


def check_writable(final: PathLike) -> None:
    """Raise ``OutputPathError`` unless a file can be written at ``final``: its folder
    exists or can be created, a file can be created in it, and ``final`` is not a folder.
    Creates the folder; leaves no file behind. (It probes by creating a file, so it is
    right for root and on read-only file systems, where permission bits say nothing.)"""
    final = Path(final)
    if final.is_dir():
        raise OutputPathError(f"cannot write {str(final)!r}: it is a folder; give a file "
                              f"name")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.unlink(_new_temp(final))
    except OSError as exc:
        raise _output_error(final, exc) from exc


__all__ = ["atomic_path", "check_writable", "write_atomic"]
