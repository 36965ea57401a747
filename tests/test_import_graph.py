"""vertexchat's modules import each other without circles: resources above helpers above core.

Walks the source (AST): module-level imports and imports inside functions count, imports under
``if TYPE_CHECKING:`` do not (they never run). Like ``test_purity.py``, on the source files.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "vertexchat"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package.name, *parts])


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    # "from . import x" and "from .pkg import mod" may name submodules: try both.
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found |= {alias.name for alias in node.names}

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found |= set(_resolve(self.module, self.is_package, node))


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of ``package`` → the modules of ``package`` it imports at run time."""
    paths = {_module_name(path, package): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        collector = _Collector(name, path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        graph[name] = {found for found in collector.found if found in paths and found != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, …, a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


# A package's __init__ imports its submodules, and submodules import siblings through the
# package ("from . import __version__"): that edge is how Python loads packages, not a circle
# between modules.
def _without_package_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages = {name for name in graph if (PACKAGE.parent / name.replace(".", "/")).is_dir()}
    return {
        name: {target for target in targets if target not in packages}
        for name, targets in graph.items()
    }


def test_vertexchat_has_no_import_cycle() -> None:
    graph = _without_package_edges(import_graph())
    assert "vertexchat._client" in graph
    assert find_cycle(graph) is None


def test_the_check_finds_cycles_in_functions_and_skips_type_checking(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_a.py").write_text("def f():\n    from ._b import x\n")
    (package / "_b.py").write_text("from pkg._c import y\nx = 1\n")
    (package / "_c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._b import x\n"
        "else:\n    from . import _a\ny = 2\n"
    )
    graph = import_graph(package)
    assert graph["pkg._c"] == {"pkg._a", "pkg"}
    assert find_cycle(graph) == ["pkg._a", "pkg._b", "pkg._c", "pkg._a"]
    (package / "_c.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    import pkg._a\n")
    assert find_cycle(import_graph(package)) is None
