"""No import cycles among edgetrain's modules.

A cycle makes the import order matter (a module can see its partner half-initialised) and forces
function-level imports to break it at run time. The graph is read statically with `ast`:

* nodes: the package's modules, a package and its ``__init__`` being one node;
* edges: every ``import`` / ``from ... import`` at module level and inside functions or classes,
  relative imports resolved; ``from pkg import name`` depends on ``pkg.name`` when that is a
  module, else on ``pkg``; imports under ``if TYPE_CHECKING:`` do not run and are ignored;
* importing ``a.b.c`` runs the ``__init__`` of ``a`` and ``a.b`` too, but those edges are not
  counted: a package importing its own submodules would make every submodule that imports a
  sibling through the package a cycle, which Python resolves (the package is already in
  ``sys.modules``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "edgetrain"


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the package directory ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
           (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: all but those in an ``if TYPE_CHECKING:`` body."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _known(name: str, mods: dict[str, Path]) -> str | None:
    """``name`` or its longest prefix that is a module of the package."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in mods:
            return candidate
        parts.pop()
    return None


def import_graph(root: Path) -> dict[str, set[str]]:
    mods = modules(root)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        package = mod.split(".") if is_pkg else mod.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in mods else prefix for a in node.names]
            for t in targets:
                dep = _known(t, mods)
                if dep is not None and dep != mod:
                    edges[mod].add(dep)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return sorted(out)


def test_edgetrain_has_no_import_cycles() -> None:
    found = cycles(import_graph(PACKAGE))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_graph_sees_edgetrain_imports() -> None:
    edges = import_graph(PACKAGE)
    assert "edgetrain.techniques.base" in edges["edgetrain.techniques.motif"]
    assert "edgetrain.techniques.motif" in edges["edgetrain.techniques"]
    assert "edgetrain.interop.onnx.emitters" in edges["edgetrain.interop.onnx.exportable"]
    assert "edgetrain.export.c.abi" in edges["edgetrain.device.exchange"]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


# The two shapes the edgetrain cycles had, and what must not count.
SYNTHETIC = {
    "registry in the package __init__": ({
        "pkg/__init__.py": "from .techniques import apply\n",
        "pkg/techniques/__init__.py": "REGISTRY = {}\ndef register(f):\n    return f\nfrom . import motif, prune\n",
        "pkg/techniques/motif.py": "from . import register\n",
        "pkg/techniques/prune.py": "from .motif import register\n",
    }, [["pkg.techniques", "pkg.techniques.motif", "pkg.techniques.prune"]]),
    "function-level import back": ({
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "",
        "pkg/sub/common.py": "def check():\n    from .emitters import EMITTERS\n    return EMITTERS\n",
        "pkg/sub/emitters.py": "from .common import check\nEMITTERS = {}\n",
    }, [["pkg.sub.common", "pkg.sub.emitters"]]),
    "absolute imports, a method-level one": ({
        "pkg/__init__.py": "",
        "pkg/a.py": "import pkg.b\n",
        "pkg/b.py": "class C:\n    def f(self):\n        from pkg import a\n        return a\n",
    }, [["pkg.a", "pkg.b"]]),
    "two dots up": ({
        "pkg/__init__.py": "",
        "pkg/x.py": "from .sub.y import f\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/y.py": "def f():\n    from ..x import f as g\n    return g\n",
    }, [["pkg.sub.y", "pkg.x"]]),
    "TYPE_CHECKING imports do not run": ({
        "pkg/__init__.py": "",
        "pkg/a.py": "from typing import TYPE_CHECKING\nfrom .b import B\nif TYPE_CHECKING:\n    from .c import C\n",
        "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from .a import A\nelse:\n    from .c import C\nB = 1\n",
        "pkg/c.py": "from . import b\nC = 1\n",
    }, [["pkg.b", "pkg.c"]]),
    "acyclic: registry in base.py, submodule imports of the package": ({
        "pkg/__init__.py": "from .techniques import apply\nimport os\n",
        "pkg/techniques/__init__.py": "from .base import register\nfrom . import motif\n",
        "pkg/techniques/base.py": "def register(f):\n    return f\n",
        "pkg/techniques/motif.py": "from .base import register\nfrom ..util import helper\n",
        "pkg/util.py": "import pkg.techniques.base\nhelper = 1\n",
    }, []),
}


@pytest.mark.parametrize("case", sorted(SYNTHETIC))
def test_cycle_finder_on_synthetic_packages(case: str, tmp_path: Path) -> None:
    files, expected = SYNTHETIC[case]
    assert cycles(import_graph(write(tmp_path, files))) == expected
