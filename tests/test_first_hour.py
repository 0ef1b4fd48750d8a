"""What a new user meets in the first hour (issue 16): ``--version``, a fast ``--help``
that documents every option and its default, usage errors that say what to type, long
waits that say what they do, training reruns, packaging."""

from __future__ import annotations

import argparse
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
