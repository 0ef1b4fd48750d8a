"""``fastcolor.distributed`` and ``fastcolor colorize --ray`` on a local Ray (2 CPUs)
started by this module: the same PNGs as the single-process CLI, an actor that dies,
a corrupt page, a resumed run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'fastcolor[ray]')")

from fastcolor import FastcolorConfig, Pipeline  # noqa: E402
from fastcolor.cli import main  # noqa: E402
from fastcolor.distributed import colorize_dataset, list_pages, page_seed  # noqa: E402

PAGES = 20


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    Pipeline.random(FastcolorConfig.tiny(), seed=0).save_pretrained(path)
    return path


def drawing(i: int) -> np.ndarray:
    h, w = 36 + 2 * (i % 5), 48 + 3 * (i % 7)
    img = np.full((h, w), 255, np.uint8)
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), 0, 1)
    cv2.circle(img, (w // 2 + i % 3, h // 2), 6 + i % 6, 0, 1)
    cv2.line(img, (2, h // 3), (w - 3, h // 3 + i % 4), 0, 1)
    return img


def make_pages(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        paths.append(folder / f"page{i:03d}.png")
        Image.fromarray(drawing(i)).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pages") / "in"
    make_pages(folder, PAGES)
    return folder


def test_page_seed_is_stable():
    assert page_seed(0, "a/b.png") == page_seed(0, Path("a") / "b.png")
    assert page_seed(5, "x.png") == (page_seed(0, "x.png") + 5) % 2 ** 64
    assert page_seed(0, "x.png") != page_seed(0, "y.png")
    assert 0 <= page_seed(2 ** 64 - 1, "x.png") < 2 ** 64
    # fixed forever: outputs of earlier runs must stay reproducible
    assert page_seed(0, "page000.png") == page_seed(0, "page000.png")


def test_ray_matches_single_process_cli(tmp_path, pages, weights, capsys):
    import torch
    single, dist = tmp_path / "single", tmp_path / "ray"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                    # as an actor of one CPU: the same float sums
    try:
        assert main(["colorize", str(pages), "-o", f"{single}/", "--weights", str(weights),
                     "--seed", "5", "--seed-by", "path"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert main(["colorize", str(pages), "-o", f"{dist}/", "--weights", str(weights),
                 "--seed", "5", "--ray", "--actors", "2"]) == 0
    out = capsys.readouterr().out
    assert f"colored {PAGES} pages; 0 failed; 0 skipped" in out
    names = sorted(p.name for p in single.iterdir())
    assert len(names) == PAGES and names == sorted(p.name for p in dist.iterdir())
    for name in names:
        assert (single / name).read_bytes() == (dist / name).read_bytes(), name
    # a page alone gets what it got among the others (its seed depends on its name only)
    alone = tmp_path / "alone.png"
    assert main(["colorize", str(pages / "page007.png"), "-o", str(alone), "--weights",
                 str(weights), "--seed", "5", "--seed-by", "path"]) == 0
    assert alone.read_bytes() == (single / "page007.png").read_bytes()

    # resume: delete half of the outputs; exactly those are recomputed
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    deleted = names[::2]
    kept = {n: os.stat(dist / n).st_mtime_ns for n in names[1::2]}
    for n in deleted:
        (dist / n).unlink()
    os.environ["FASTCOLOR_TEST_HOOK_DIR"] = str(hooks)
    try:
        summary = colorize_dataset([pages], dist, weights=weights, seed=5, actors=2)
    finally:
        del os.environ["FASTCOLOR_TEST_HOOK_DIR"]
    assert (summary.done, summary.failed, summary.skipped) == (len(deleted), 0, len(kept))
    written = sorted(Path(line).name for line in (hooks / "writes.log").read_text().split())
    assert written == sorted(deleted)
    assert {n: os.stat(dist / n).st_mtime_ns for n in kept} == kept
    for name in names:
        assert (single / name).read_bytes() == (dist / name).read_bytes(), name


def test_actor_dies_after_first_page(tmp_path, weights, monkeypatch):
    src = tmp_path / "in"
    make_pages(src, 8)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    monkeypatch.setenv("FASTCOLOR_TEST_DIE_AFTER", "1")
    monkeypatch.setenv("FASTCOLOR_TEST_HOOK_DIR", str(hooks))
    out = tmp_path / "out"
    summary = colorize_dataset(src, out, weights=weights, seed=1, actors=2, batch_size=1)
    assert (hooks / "died").exists()                 # the hook did kill an actor
    assert (summary.done, summary.failed, summary.skipped) == (8, 0, 0)
    written = [Path(line).name for line in (hooks / "writes.log").read_text().split()]
    assert sorted(written) == [f"page{i:03d}.png" for i in range(8)]   # each exactly once
    assert sorted(p.name for p in out.iterdir()) == sorted(written)   # no temporary files
    assert not (out / "failures.jsonl").exists()


def test_corrupt_page_is_listed(tmp_path, weights, capsys):
    src = tmp_path / "in"
    make_pages(src, 5)
    bad = src / "page002.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a png at all")
    out = tmp_path / "out"
    code = main(["colorize", str(src), "-o", f"{out}/", "--weights", str(weights), "--ray",
                 "--actors", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "1 failed" in err
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [Path(f["path"]).name for f in failures] == ["page002.png"]
    assert failures[0]["error"]
    assert sorted(p.name for p in out.glob("*.png")) == [
        f"page{i:03d}.png" for i in (0, 1, 3, 4)]
    # fixed: the rerun colors only it, and the list goes
    Image.fromarray(drawing(2)).save(bad)
    summary = colorize_dataset(src, out, weights=weights, actors=1)
    assert (summary.done, summary.failed, summary.skipped) == (1, 0, 4)
    assert not (out / "failures.jsonl").exists()


def test_list_pages_and_errors(tmp_path, weights, capsys):
    src = tmp_path / "in"
    a, b = make_pages(src, 2)
    assert list_pages([src, a]) == [(a, "page000.png"), (b, "page001.png"),
                                     (a, "page000.png")]
    # the same output twice is refused before any compute
    assert main(["colorize", str(src), str(a), "-o", f"{tmp_path}/o/", "--weights",
                 str(weights), "--ray"]) == 2
    assert "would both be written" in capsys.readouterr().err
    assert main(["colorize", str(src), "-o", f"{tmp_path}/o/", "--actors", "2"]) == 2
    assert "go with --ray" in capsys.readouterr().err
    assert main(["colorize", str(src), "-o", f"{tmp_path}/o/", "--ray", "--seed-by",
                 "index"]) == 2
    assert "--seed-by path" in capsys.readouterr().err


def _single_process(pages: Path, out: Path, weights: Path, seed: int) -> None:
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                    # as an actor of one CPU: the same float sums
    try:
        assert main(["colorize", str(pages), "-o", f"{out}/", "--weights", str(weights),
                     "--seed", str(seed), "--seed-by", "path"]) == 0
    finally:
        torch.set_num_threads(threads)


def test_inputs_through_pyarrow_filesystems(tmp_path, pages, weights, capsys):
    """A ``file://`` folder URI (read through pyarrow.fs.FileSystem.from_uri, as s3:// or
    gs:// would be) and a pyarrow SubTreeFileSystem give the single process's bytes; a
    page that cannot be decoded is listed by its name there."""
    from pyarrow import fs as pafs
    single = tmp_path / "single"
    _single_process(pages, single, weights, 5)
    capsys.readouterr()
    out = tmp_path / "uri"
    assert main(["colorize", pages.as_uri(), "-o", f"{out}/", "--weights", str(weights),
                 "--seed", "5", "--ray", "--actors", "1", "--batch-size", "7"]) == 0
    assert f"colored {PAGES} pages; 0 failed" in capsys.readouterr().out
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted(p.name for p in out.iterdir())
    for name in names:
        assert (single / name).read_bytes() == (out / name).read_bytes(), name

    # paths inside a pyarrow filesystem; one page of them corrupt
    root = tmp_path / "bucket"
    (root / "in").mkdir(parents=True)
    for name in names[:5]:
        (root / "in" / name).write_bytes((pages / name).read_bytes())
    (root / "in" / names[2]).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    sub = pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem())
    out2 = tmp_path / "sub"
    summary = colorize_dataset(["in"], out2, filesystem=sub, weights=weights, seed=5,
                               actors=2, batch_size=1)
    assert (summary.done, summary.failed, summary.skipped) == (4, 1, 0)
    failures = [json.loads(x) for x in (out2 / "failures.jsonl").read_text().splitlines()]
    assert [f["path"] for f in failures] == [f"in/{names[2]}"]
    assert "InvalidImageError" in failures[0]["error"]
    for name in names[:5]:
        if name != names[2]:
            assert (single / name).read_bytes() == (out2 / name).read_bytes(), name
    assert sorted(p.name for p in out2.iterdir()) == sorted(
        [n for n in names[:5] if n != names[2]] + ["failures.jsonl"])   # nothing half-written


def test_uri_and_batch_size_errors(tmp_path, pages, weights, capsys):
    from fastcolor.errors import FastcolorError
    for bad in (0, -1, 2.5, "4", True):
        with pytest.raises(FastcolorError, match="batch_size must be"):
            colorize_dataset(pages, tmp_path / "o", weights=weights, batch_size=bad)
    for bad, says in (("0", "at least 1"), ("four", "whole number"), ("1.5", "whole number")):
        assert main(["colorize", str(pages), "-o", f"{tmp_path}/o/", "--ray",
                     "--batch-size", bad]) == 2
        assert says in capsys.readouterr().err
    assert main(["colorize", str(pages), "-o", f"{tmp_path}/o/", "--batch-size", "2"]) == 2
    assert "go with --ray" in capsys.readouterr().err
    # refused before any compute: unknown scheme, missing path, empty folder, input = output
    (tmp_path / "empty").mkdir()
    for uri, says in (("nosuchfs://bucket/in", "cannot read"),
                      ((tmp_path / "missing").as_uri(), "does not exist"),
                      ((tmp_path / "empty").as_uri(), "holds no images")):
        assert main(["colorize", uri, "-o", f"{tmp_path}/o/", "--weights", str(weights),
                     "--ray"]) == 2, uri
        assert says in capsys.readouterr().err, uri
    assert main(["colorize", pages.as_uri(), "-o", f"{pages}/", "--weights", str(weights),
                 "--ray"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
