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
from test_cli import small_drawing, weights  # noqa: F401 - weights: the tiny-weights fixture


def leftovers(folder: Path) -> list[str]:
    """Temporary files a writer left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")
                  or ".tmp." in p.name)


def in_threads(fn, n: int) -> list:
    """``fn(i)`` for i < n, each in its own thread, started together; returns the results
    and asserts no thread raised."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


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
    in_threads(lambda i: write_atomic(target, bytes([i]) * 100_000), 8)
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


# ---------------------------------------------------------------------------
# 2. CLI batch runs: outputs decided and checked before compute, failures reported
# ---------------------------------------------------------------------------


def page(path: Path, h: int = 24, w: int = 32) -> Path:
    Image.fromarray(small_drawing(h, w)).save(path)
    return path


def cli(capsys, *argv) -> tuple[int, str, str]:
    from fastcolor.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    return code, out, err


@pytest.fixture
def no_compute(monkeypatch):
    """Fail the test if the model is loaded: the error must come before any compute."""
    def forbidden(args):
        raise AssertionError("the model was loaded before the outputs were checked")
    monkeypatch.setattr("fastcolor.cli._pipeline", forbidden)


def test_cli_output_equal_to_input_is_refused(capsys, tmp_path, weights, no_compute):
    src = page(tmp_path / "page.png")
    before = src.read_bytes()
    for extra in ([], ["--overwrite"]):
        code, _, err = cli(capsys, "colorize", src, "-o", tmp_path / "." / "page.png",
                           "--weights", weights, *extra)
        assert code == 2 and "is the input" in err and err.count("\n") == 1
    # a folder run into its own folder: a.jpg -> pages/a.png is the input a.png
    pages = tmp_path / "pages"
    pages.mkdir()
    page(pages / "a.png")
    Image.fromarray(small_drawing(24, 32)).save(pages / "b.jpg")
    page(pages / "b.png")
    code, _, err = cli(capsys, "colorize", pages, "-o", pages, "--weights", weights,
                       "--overwrite")
    assert code == 2 and "is the input" in err
    assert src.read_bytes() == before


def test_cli_two_inputs_one_output_is_refused(capsys, tmp_path, weights, no_compute):
    pages = tmp_path / "pages"
    pages.mkdir()
    page(pages / "page.png")
    Image.fromarray(small_drawing(24, 32)).save(pages / "page.jpg")
    code, _, err = cli(capsys, "colorize", pages, "-o", tmp_path / "out", "--weights", weights)
    assert code == 2
    assert "page.jpg" in err and "page.png" in err and "separate runs" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("name, needle", [("out.xyz", ".xyz"), ("out.webp", ".webp"),
                                          ("out", "no extension")])
def test_cli_output_name_is_checked_first(capsys, tmp_path, weights, no_compute, name, needle):
    src = page(tmp_path / "page.png")
    code, _, err = cli(capsys, "colorize", src, "-o", tmp_path / name, "--weights", weights)
    assert code == 2 and needle in err and ".png" in err
    assert not (tmp_path / name).exists()        # never silently a folder


def test_cli_unwritable_output_before_compute(capsys, tmp_path, weights, no_compute):
    src = page(tmp_path / "page.png")
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    code, _, err = cli(capsys, "colorize", src, "-o", blocker / "out.png", "--weights", weights)
    assert code == 2 and "cannot write" in err
    taken = tmp_path / "out" / "page.png"        # a folder where the output goes
    taken.mkdir(parents=True)
    code, _, err = cli(capsys, "colorize", src, "-o", f"{tmp_path / 'out'}/", "--weights",
                       weights, "--overwrite")
    assert code == 2 and "page.png" in err and "folder" in err
    code, _, err = cli(capsys, "colorize", src, "-o", tmp_path / "o.png", "--weights",
                       weights, "--samples", "0")
    assert code == 2 and "--samples" in err


def test_cli_samples_beside_the_named_file(capsys, tmp_path, weights):
    src = page(tmp_path / "page.png")
    code, out, _ = cli(capsys, "colorize", src, "-o", tmp_path / "x.png", "--weights",
                       weights, "--samples", "3")
    assert code == 0
    assert not (tmp_path / "x.png").exists()
    for k in range(3):
        with Image.open(tmp_path / f"x_{k}.png") as im:
            assert im.size == (32, 24)
    assert "colored 1 of 1 pages; 0 failed; 0 skipped" in out


def test_cli_existing_outputs_policy(capsys, tmp_path, weights):
    a, b = page(tmp_path / "a.png"), page(tmp_path / "b.png", 20, 28)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"keep me")
    code, _, err = cli(capsys, "colorize", a, b, "-o", out, "--weights", weights)
    assert code == 2 and "a.png" in err and "--overwrite" in err and "--skip-existing" in err
    assert (out / "a.png").read_bytes() == b"keep me" and not (out / "b.png").exists()

    code, stdout, _ = cli(capsys, "colorize", a, b, "-o", out, "--weights", weights,
                          "--skip-existing", "--seed", "5")
    assert code == 0 and "colored 1 of 2 pages; 0 failed; 1 skipped" in stdout
    assert (out / "a.png").read_bytes() == b"keep me"
    # page i draws from seed + i, skipped pages included
    expect = Pipeline.from_pretrained(weights)(str(b), seed=6).image
    with Image.open(out / "b.png") as im:
        np.testing.assert_array_equal(np.array(im), expect)

    code, stdout, _ = cli(capsys, "colorize", a, b, "-o", out, "--weights", weights,
                          "--overwrite")
    assert code == 0 and "colored 2 of 2 pages; 0 failed; 0 skipped" in stdout
    with Image.open(out / "a.png") as im:
        assert im.size == (32, 24)
    with pytest.raises(SystemExit):     # one policy at a time
        cli(capsys, "colorize", a, "-o", out, "--overwrite", "--skip-existing")


def test_cli_failing_page_does_not_stop_the_run(capsys, tmp_path, weights):
    pages = tmp_path / "pages"
    pages.mkdir()
    page(pages / "p1.png")
    (pages / "p2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    page(pages / "p3.png")
    code, out, err = cli(capsys, "colorize", pages, "-o", tmp_path / "out", "--weights",
                         weights)
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p1.png", "p3.png"]
    lines = [ln for ln in err.splitlines() if "p2.png" in ln]
    assert len(lines) == 1 and lines[0].startswith("fastcolor: error:")
    assert "colored 2 of 3 pages; 1 failed; 0 skipped" in err


def test_cli_ctrl_c_one_line_no_partial_file(capsys, tmp_path, weights, monkeypatch):
    pages = [page(tmp_path / f"p{i}.png") for i in range(3)]
    real_save = Image.Image.save
    calls = []

    def save_then_interrupt(self, fp, *args, **kwargs):
        calls.append(fp)
        real_save(self, fp, *args, **kwargs)
        if len(calls) == 2:          # Ctrl-C while the second page is being written
            with open(fp, "r+b") as f:
                f.truncate(20)
            raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", save_then_interrupt)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "colorize", *pages, "-o", out, "--weights", weights)
    assert code == 130
    assert err.strip().splitlines()[-1] == "interrupted: 1 of 3 pages written"
    assert sorted(p.name for p in out.iterdir()) == ["p0.png"]   # no partial p1.png


def test_cli_outline_refuses_its_input(capsys, tmp_path):
    src = page(tmp_path / "page.png")
    before = src.read_bytes()
    code, _, err = cli(capsys, "outline", src, "-o", src)
    assert code == 2 and "is the input" in err
    assert src.read_bytes() == before


def test_cli_colorize_help_states_the_policy(capsys):
    from fastcolor.cli import main
    with pytest.raises(SystemExit):
        main(["colorize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("NAME_0.png", "--overwrite", "--skip-existing", "never an input file"):
        assert words in text


# ---------------------------------------------------------------------------
# 3. every error a user can cause is a FastcolorError
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pipe() -> Pipeline:
    return Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="reference")


@pytest.mark.parametrize("device", ["bogus", "cuda:x", "meta", 123, None])
def test_bad_device_is_invalid_input(device):
    from fastcolor.errors import InvalidInputError
    with pytest.raises(InvalidInputError, match="cpu"):
        Pipeline.random(FastcolorConfig.tiny(), backend="reference", device=device)


def test_cuda_where_there_is_none(monkeypatch):
    from fastcolor.errors import BackendUnavailableError
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    with pytest.raises(BackendUnavailableError, match="CPU-only build"):
        Pipeline.random(FastcolorConfig.tiny(), backend="reference", device="cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.8")       # a CUDA build, no GPU seen
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
        Pipeline.random(FastcolorConfig.tiny(), backend="auto", device="cuda:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
@pytest.mark.parametrize("device, needle", [("cuda", "--device cpu"), ("bogus", "unknown device")])
def test_cli_device_errors(capsys, tmp_path, weights, device, needle):
    src = page(tmp_path / "page.png")
    code, _, err = cli(capsys, "colorize", src, "-o", tmp_path / "o.png", "--weights",
                       weights, "--device", device)
    assert code == 2 and err.startswith("fastcolor: error:") and needle in err
    assert err.count("\n") == 1


def test_train_device_error(tmp_path):
    from fastcolor.errors import InvalidInputError
    from fastcolor.train.trainer import Run, TrainOptions
    with pytest.raises(InvalidInputError, match="unknown device"):
        Run(TrainOptions(data=str(tmp_path), out=str(tmp_path / "run"), device="bogus"))


def test_weights_path_and_sha256_types(tmp_path, tiny_pipe):
    from fastcolor.errors import InvalidInputError
    with pytest.raises(InvalidInputError, match="path"):
        Pipeline.from_pretrained(123)
    with pytest.raises(InvalidInputError, match="path"):
        Pipeline.from_pretrained(b"w.safetensors")
    with pytest.raises(InvalidInputError, match="path"):
        tiny_pipe.save_pretrained(None)
    path = tmp_path / "w.safetensors"
    tiny_pipe.save_pretrained(path)
    with pytest.raises(InvalidInputError, match="sha256"):
        Pipeline.from_pretrained(path, sha256=123)
    with pytest.raises(InvalidInputError, match="FastcolorModel"):
        Pipeline(str(path))


def test_meta_and_sparse_tensors_are_refused(tiny_pipe):
    from fastcolor.errors import InvalidInputError
    with pytest.raises(InvalidInputError, match="meta device"):
        tiny_pipe(torch.zeros(8, 8, device="meta"), seed=0)
    with pytest.raises(InvalidInputError, match="meta device"):
        tiny_pipe(torch.zeros(2, 1, 8, 8, device="meta"), seed=0)
    with pytest.raises(InvalidInputError, match="not dense"):
        tiny_pipe(torch.zeros(8, 8).to_sparse(), seed=0)


def test_numpy_integers_and_bools(tiny_pipe):
    from fastcolor.engines.ort_backend import session_options
    from fastcolor.errors import InvalidInputError
    ink = torch.zeros(12, 12)
    np.testing.assert_array_equal(tiny_pipe(ink, seed=np.int64(3)).image,
                                  tiny_pipe(ink, seed=3).image)
    with pytest.raises(InvalidInputError, match="seed"):
        tiny_pipe(ink, seed=True)
    with pytest.raises(InvalidInputError, match="samples"):
        tiny_pipe(ink, seed=0, samples=True)
    two = tiny_pipe(ink, seed=0, samples=np.int64(2))
    assert len(two) == 2
    np.testing.assert_array_equal(two[1].image, tiny_pipe(ink, seed=0, samples=2)[1].image)
    # extract_outline: bools (numpy's too), never 1/0 taken for True/False
    gray = small_drawing(20, 24)
    r = tiny_pipe(gray, seed=0, extract_outline=np.bool_(False))
    np.testing.assert_array_equal(r.image, tiny_pipe(gray, seed=0, extract_outline=False).image)
    with pytest.raises(InvalidInputError, match="extract_outline"):
        tiny_pipe(gray, seed=0, extract_outline=1)
    assert session_options(np.int64(2)).intra_op_num_threads == 2
    with pytest.raises(InvalidInputError, match="threads"):
        session_options(True)


# ---------------------------------------------------------------------------
# 4. one Pipeline from several threads: the onnxruntime export cache
# ---------------------------------------------------------------------------


def test_onnxruntime_pipeline_from_four_threads_with_empty_cache(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from fastcolor.engines import STAGES, onnx_filename
    pipe = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="onnxruntime",
                           cache_dir=tmp_path)
    ink = torch.zeros(20, 24)
    ink[4, 2:20] = 1
    ink[3:17, 6] = 1
    results = in_threads(lambda i: pipe(ink, seed=i), 4)
    cache = pipe.backend.cache_dir
    assert sorted(p.name for p in cache.iterdir()) == sorted(onnx_filename(s) for s in STAGES)
    for i, r in enumerate(results):       # what one thread alone gives
        np.testing.assert_array_equal(r.image, pipe(ink, seed=i).image)


# ---------------------------------------------------------------------------
# 5. one float convention: numpy/PIL/files are images (1 = paper), tensors outlines (1 = ink)
# ---------------------------------------------------------------------------


def test_from_numpy_page_is_refused_not_inverted(tiny_pipe):
    from fastcolor.errors import InvalidInputError
    page01 = small_drawing(30, 40).astype(np.float32) / 255        # 1.0 = paper
    expect = tiny_pipe(page01, seed=2)
    assert (expect.outline[small_drawing(30, 40) == 0] == 0).all()  # ink where drawn
    with pytest.raises(InvalidInputError, match=r"numpy array itself.*1 - tensor"):
        tiny_pipe(torch.from_numpy(page01), seed=2)
    with pytest.raises(InvalidInputError, match="numpy array itself"):
        tiny_pipe(torch.from_numpy(page01)[None, None], seed=2)        # as a batch too
    # what the message says to do gives the numpy array's page
    r = tiny_pipe(1 - torch.from_numpy(page01), seed=2)
    np.testing.assert_array_equal(r.image, expect.image)
    np.testing.assert_array_equal(r.outline, expect.outline)
    # 8-bit and RGB tensors: refused, saying to pass numpy
    with pytest.raises(InvalidInputError, match=r"tensor.numpy\(\)"):
        tiny_pipe(torch.from_numpy(small_drawing(30, 40)), seed=2)
    with pytest.raises(InvalidInputError, match=r"tensor.numpy\(\)"):
        tiny_pipe(torch.from_numpy(np.repeat(page01[..., None], 3, axis=2)), seed=2)
    # an outline that is mostly ink still goes in as an image (0 = ink)
    dark = np.zeros((30, 40), np.uint8)
    dark[:, :10] = 255
    assert tiny_pipe(dark, seed=2, extract_outline=False).image.shape == (30, 40, 3)


def test_random_pipeline_refuses_a_bool_seed():
    from fastcolor import FastcolorConfig, Pipeline
    from fastcolor.errors import InvalidInputError
    with pytest.raises(InvalidInputError, match="seed"):
        Pipeline.random(FastcolorConfig.tiny(), seed=True)
    Pipeline.random(FastcolorConfig.tiny(), seed=np.int64(3))
