"""Nothing lost, nothing silently wrong (issue 15): atomic writes, batch runs of the CLI,
user errors as ``FastcolorError``, thread safety of the onnxruntime backend, and the float
convention of inputs."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from fastcolor import FastcolorConfig, Pipeline
from fastcolor.atomic import atomic_path, check_writable, write_atomic
from fastcolor.errors import FastcolorError, OutputPathError
from fastcolor.imageio import save_image


def leftovers(folder: Path) -> list[str]:
    """Temporary files a writer left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")
                  or ".tmp." in p.name)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# ---------------------------------------------------------------------------
# 1. atomic writes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_atomic_path_failure_keeps_target_and_removes_temp(tmp_path, exc):
    target = tmp_path / "page.png"
    target.write_bytes(b"old")
    with pytest.raises(type(exc)):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name != target.name and tmp.exists()
            tmp.write_bytes(b"half")
            raise exc
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_atomic_path_unique_names_and_normal_permissions(tmp_path, umask_022):
    target = tmp_path / "sub" / "w.bin"
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b and a.parent == b.parent == target.parent
        assert a.name.startswith(".w.bin.") and a.name.endswith(".tmp")
        a.write_bytes(b"a")
        b.write_bytes(b"b")
    assert target.read_bytes() == b"a"          # the last rename wins, nothing breaks
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert leftovers(target.parent) == []


def test_write_atomic_from_many_threads(tmp_path):
    target = tmp_path / "cache.bin"
    errors = []

    def write(i):
        try:
            write_atomic(target, bytes([i]) * 100_000)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    data = target.read_bytes()
    assert len(data) == 100_000 and len(set(data)) == 1
    assert leftovers(tmp_path) == []


def test_save_image_interrupted_leaves_no_partial_file(tmp_path, monkeypatch):
    """Ctrl-C in the middle of writing a PNG: nothing under the final name."""
    real_save = Image.Image.save

    def interrupted_save(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)
        with open(fp, "r+b") as f:   # a truncated file, as when the process is stopped
            f.truncate(10)
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    target = tmp_path / "out.png"
    with pytest.raises(KeyboardInterrupt):
        save_image(target, np.zeros((64, 64, 3), np.uint8))
    assert not target.exists()
    assert leftovers(tmp_path) == []
    target.write_bytes(b"previous result")
    with pytest.raises(KeyboardInterrupt):
        save_image(target, np.zeros((64, 64, 3), np.uint8))
    assert target.read_bytes() == b"previous result"


def test_save_image_permissions(tmp_path, umask_022):
    target = tmp_path / "out.jpg"
    save_image(target, np.zeros((8, 8, 3), np.uint8))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    with Image.open(target) as im:
        assert im.format == "JPEG"


def test_unwritable_output_is_an_output_path_error(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    with pytest.raises(OutputPathError, match="file.txt"):
        save_image(blocker / "out.png", np.zeros((8, 8), np.uint8))
    folder = tmp_path / "taken.png"
    folder.mkdir()
    with pytest.raises(OutputPathError, match="taken.png"):
        save_image(folder, np.zeros((8, 8), np.uint8))
    with pytest.raises(OutputPathError, match="folder"):
        check_writable(folder)
    with pytest.raises(OutputPathError):
        check_writable(blocker / "x.png")
    check_writable(tmp_path / "new" / "x.png")          # creates the folder, no file
    assert (tmp_path / "new").is_dir() and list((tmp_path / "new").iterdir()) == []
    assert issubclass(OutputPathError, FastcolorError) and issubclass(OutputPathError, OSError)


def test_save_weights_unique_temp_names(tmp_path, monkeypatch):
    """Two writers of one weight file never share a temporary file."""
    import safetensors.torch

    from fastcolor.weights import load_weights
    names = []
    real = safetensors.torch.save_file

    def recording(tensors, filename, metadata=None):
        names.append(Path(filename))
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", recording)
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="reference")
    target = tmp_path / "w.safetensors"
    pipe.save_pretrained(target)
    pipe.save_pretrained(target)
    assert len(names) == 2 and names[0] != names[1]
    assert all(n.parent == tmp_path and n.name != target.name for n in names)
    load_weights(target)
    assert leftovers(tmp_path) == []


def test_checkpoint_and_shard_failures_leave_no_temp(tmp_path, monkeypatch):
    from fastcolor.data import cache
    from fastcolor.train import trainer

    def broken_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        trainer._atomic_torch_save({"a": 1}, tmp_path / "lowres.pt")
    assert list(tmp_path.iterdir()) == []

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", broken_savez)
    with pytest.raises(OutputPathError, match="No space left"):
        cache.write_shard(tmp_path / "train-00000.npz",
                          SimpleNamespace(**{k: np.zeros(2) for k in cache.ARRAYS}))
    assert list(tmp_path.iterdir()) == []
