"""No module imports another module's private (``_``-prefixed) names: what crosses a module
boundary is public, so it can be found, documented and kept stable."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "edgetrain"

KNOWN: set[tuple[str, str]] = set()  # none: what crosses a module boundary is public


def private_imports(root: Path) -> set[tuple[str, str]]:
    found = set()
    for path in sorted(root.rglob("*.py")):
        rel = str(path.relative_to(root.parent))
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                parts = (node.module or "").split(".") + [a.name for a in node.names]
                found |= {(rel, p) for p in parts if p.startswith("_") and not p.startswith("__")}
    return found


def test_no_private_names_cross_modules() -> None:
    assert private_imports(PACKAGE) - KNOWN == set()


def test_the_check_sees_private_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("from .b import _helper, public\nfrom ._impl import x\nfrom __future__ import annotations\n")
    assert private_imports(pkg) == {("pkg/a.py", "_helper"), ("pkg/a.py", "_impl")}
