"""setup.py lists every subpackage, so a non-editable install (a wheel) has all of them."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_setup_lists_every_package():
    tree = ast.parse((ROOT / "setup.py").read_text())
    listed = next(ast.literal_eval(kw.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Call) for kw in node.keywords if kw.arg == "packages")
    found = {"fastcolor." + ".".join(p.parent.relative_to(ROOT / "fastcolor").parts)
             for p in (ROOT / "fastcolor").rglob("__init__.py")}
    found = {name.rstrip(".") for name in found} | {"fastcolor.kernels"}
    found.discard("fastcolor")
    assert found | {"fastcolor"} == set(listed)
