"""What a new user meets in the first hour (issue 16): ``--version``, a fast ``--help``
that documents every option and its default, usage errors that say what to type, long
waits that say what they do, training reruns, packaging."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastcolor
from fastcolor.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _parsers(parser: argparse.ArgumentParser, name: str = "fastcolor"):
    """Every (command name, parser) pair, the top level included."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                yield from _parsers(p, f"{name} {sub}")


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(capsys, flag):
    with pytest.raises(SystemExit) as exc:
        main([flag])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastcolor {fastcolor.__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["colorize", "--help"], ["train", "--help"]])
def test_help_imports_no_torch(argv):
    """--help answers at once: the CLI imports torch (and cv2) only inside commands."""
    code = (f"import sys\nfrom fastcolor.cli import main\ntry:\n    main({argv!r})\n"
            f"except SystemExit as e:\n    assert e.code == 0, e.code\n"
            f"heavy = [m for m in ('torch', 'cv2', 'fastcolor.pipeline') if m in sys.modules]\n"
            f"assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "usage: fastcolor" in proc.stdout


def test_lazy_package_attributes():
    """``import fastcolor`` is light, and its torch-backed names still resolve."""
    code = ("import sys, fastcolor\nassert 'torch' not in sys.modules\n"
            "from fastcolor import Pipeline, FastcolorConfig\n"
            "assert fastcolor.models.FastcolorModel and fastcolor.outline.extract\n"
            "assert fastcolor.dlmm.dlmm_sample and fastcolor.engines\n"
            "try:\n    fastcolor.no_such_name\nexcept AttributeError:\n    pass\n"
            "else:\n    raise SystemExit('no AttributeError')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_every_option_has_help_and_shows_its_default():
    for name, parser in _parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help"
            if action.option_strings and action.default not in (None, False) \
                    and action.default != argparse.SUPPRESS:
                text = formatter._get_help_string(action) % vars(action)
                assert "default" in text, f"{name} {action.option_strings}: no default"


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["colorize", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: auto)" in out and "draws from SEED + i" in out
    assert "temperature" in out and "(default: 1.0)" in out


@pytest.mark.parametrize("argv, needle", [
    (["data"], "fastcolor data build --out DIR"),
    ([], "fastcolor colorize PAGE.png -o OUT.png"),
])
def test_missing_subcommand_says_what_to_type(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "data_command" not in err and "required" not in err


# ---- training ---------------------------------------------------------------------------

EMOJI = ["1F600", "1F34E", "1F431", "1F697", "1F33B", "1F388", "1F955", "1F99C"]


@pytest.fixture(scope="module")
def cache64(tmp_path_factory):
    """A cache of 64-px panels: not the tiny preset's 32, so a run's image size is the
    data's, not the preset's."""
    from fastcolor.data.build import build_dataset
    out = tmp_path_factory.mktemp("cache64")
    build_dataset(out, size=64, panels=4, val_panels=2, seed=0, val_fraction=0.5,
                  hexcodes=EMOJI, progress=False)
    return out


def _train(cache, out, *extra):
    return main(["train", "--data", str(cache), "--out", str(out), "--stage", "detector",
                 "--config", "tiny", "--epochs", "1", "--batch-size", "2", "--quiet",
                 "--threads", "2", *map(str, extra)])


def test_train_rerun_of_the_same_command(capsys, cache64, tmp_path):
    """Rerunning the identical command is not "another model config": without --resume
    it says to pass --resume or --restart; with --resume it resumes."""
    assert _train(cache64, tmp_path, "--max-steps", 1) == 0
    capsys.readouterr()
    assert _train(cache64, tmp_path, "--max-steps", 1) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--restart" in err and "config" not in err
    assert _train(cache64, tmp_path, "--max-steps", 2, "--resume") == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "detector: 2 steps" in out
    assert _train(cache64, tmp_path, "--max-steps", 1, "--restart") == 0


def test_train_weights_have_the_usual_permissions(cache64, tmp_path):
    umask = os.umask(0o022)
    try:
        assert _train(cache64, tmp_path, "--max-steps", 1) == 0
    finally:
        os.umask(umask)
    for name in ("weights.safetensors", "checkpoint-detector.pt", "run.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


@pytest.mark.parametrize("budget, needle", [
    ("0", "--budget-minutes must be a positive number of minutes, got 0"),
    ("-1", "--budget-minutes must be a positive number of minutes, got -1"),
    ("detector=0", "got 0 for detector"),
])
def test_train_refuses_a_budget_that_trains_nothing(capsys, cache64, tmp_path, budget, needle):
    assert _train(cache64, tmp_path, "--budget-minutes", budget) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "weights.safetensors").exists()


def test_train_without_steps_prints_no_none(capsys, cache64, tmp_path):
    """A budget spent before the first step: the summary line has no "None s/step"."""
    assert _train(cache64, tmp_path, "--budget-minutes", "1e-9") == 0
    out = capsys.readouterr().out
    assert "detector: 0 steps" in out and "None" not in out


# ---- packaging --------------------------------------------------------------------------

def _run_setup(*args, hide_torch=False):
    code = ("import sys, runpy\n"
            + ("sys.modules['torch'] = None  # as build isolation hides it\n" if hide_torch
               else "")
            + f"sys.argv = ['setup.py', *{list(args)!r}]\n"
            "runpy.run_path('setup.py', run_name='__main__')\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_isolated_build_says_the_command_to_type():
    """``pip install .`` builds with isolation, which hides torch: the build stops with
    the command that works (torch is deliberately not a build requirement)."""
    proc = _run_setup("--name", hide_torch=True)
    assert proc.returncode != 0
    assert "pip install --no-build-isolation .\n" in proc.stderr
    assert "pip install --no-build-isolation -e ." in proc.stderr
    assert "Traceback" not in proc.stderr
    requires = re.search(r"\[build-system\]\s*requires\s*=\s*\[(.*?)\]",
                         (ROOT / "pyproject.toml").read_text(), re.S).group(1)
    assert "setuptools" in requires and "torch" not in requires


def test_package_metadata_has_license_and_author():
    proc = _run_setup("-q", "--license", "--author", "--description")
    assert proc.returncode == 0, proc.stderr
    license_, author, summary = proc.stdout.strip().splitlines()[-3:]
    assert "CC BY-SA 4.0" in license_ and "weights" in license_
    assert author and "colorization" in summary


# ---- long waits say what they do --------------------------------------------------------

def _tiny_model():
    from fastcolor import FastcolorConfig, Pipeline
    return Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="reference").model


def test_naive_generation_shows_a_delayed_bar(monkeypatch):
    """--backend reference (minutes a page): a bar over positions on stderr, shown once
    the loop has run 2 s; the samples do not change."""
    import torch
    import tqdm as tqdm_module
    from fastcolor.backends import ReferenceBackend
    from fastcolor.generation import generate_naive
    seen = []

    def fake_tqdm(iterable, **kwargs):
        seen.append(kwargs)
        return iterable
    monkeypatch.setattr(tqdm_module, "tqdm", fake_tqdm)
    pixelcnn = _tiny_model().lowres.pixelcnn
    cond = torch.randn(1, pixelcnn.config.cond_channels, 4, 4)
    noise = torch.rand(1, pixelcnn.config.mixtures + 3, 4, 4)
    quiet = generate_naive(pixelcnn, cond, noise=noise)
    assert seen == []
    shown = ReferenceBackend(torch.device("cpu")).generate(pixelcnn, cond, noise=noise)
    assert torch.equal(quiet, shown)
    assert seen and seen[0]["delay"] == 2 and seen[0]["file"] is sys.stderr
    ReferenceBackend(torch.device("cpu"), progress=False).generate(pixelcnn, cond, noise=noise)
    assert len(seen) == 1


def test_onnxruntime_first_export_says_so_once(capsys, monkeypatch, tmp_path):
    """The export (tens of seconds; test_engines tests the files) says so once, first."""
    pytest.importorskip("onnxruntime")
    from fastcolor.engines import OnnxRuntimeBackend, ort_backend

    def fake_export(model, stage, path, **kwargs):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).touch()
        return Path(path)
    monkeypatch.setattr(ort_backend, "export_onnx", fake_export)
    monkeypatch.setattr(ort_backend, "check_onnx_matches", lambda path, **kwargs: None)
    model = _tiny_model()
    backend = OnnxRuntimeBackend("cpu", cache_dir=tmp_path, stages=("detector",))
    backend.bind(model)
    backend.onnx_path("detector")
    backend.onnx_path("detector")
    err = capsys.readouterr().err
    assert err.count("exporting the ONNX graphs") == 1 and "first use" in err
    again = OnnxRuntimeBackend("cpu", cache_dir=tmp_path, stages=("detector",))
    again.bind(model)
    again.onnx_path("detector")                       # cached: nothing to say
    quiet = OnnxRuntimeBackend("cpu", cache_dir=tmp_path / "q", stages=("detector",),
                               progress=False)
    quiet.bind(model)
    quiet.onnx_path("detector")
    assert "exporting" not in capsys.readouterr().err


def test_slow_steps_say_what_they_do(capsys):
    import time
    from fastcolor.cli import _say_if_slow
    with _say_if_slow("coloring page.png...", after=0.01):
        time.sleep(0.3)
    with _say_if_slow("fast...", after=5):
        pass
    time.sleep(0.05)
    err = capsys.readouterr().err
    assert "coloring page.png..." in err and "fast" not in err


def test_build_engine_prints_the_real_weights_path(capsys, monkeypatch, tmp_path):
    """--onnx-only without --weights: the GPU command names the shipped weights' file,
    not a placeholder, and the export says first that it takes a while."""
    import fastcolor.engines as engines
    from fastcolor.weights import DEFAULT_WEIGHTS

    def fake_export(pipe, out, stages, **kwargs):
        return {s: Path(out) / f"{s}.onnx" for s in stages}
    monkeypatch.setattr(engines, "export_stages", fake_export)
    assert main(["build-engine", "--onnx-only", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "W.safetensors" not in out
    assert f"--weights {DEFAULT_WEIGHTS.resolve()}" in out
    assert "exporting and checking the ONNX graphs of detector, polisher" in err
