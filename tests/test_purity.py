"""The pure core does no I/O: its modules import neither httpx nor anyio, nor any I/O module.

Checked on the source (AST), transitively through relative imports, so a pure module cannot
reach I/O by importing an impure sibling.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "vertexchat"
PURE = [
    "_accumulate",
    "_diagnosis",
    "_genai_content",
    "_http11",
    "_jsonl",
    "_limits",
    "_logs",
    "_model_ids",
    "_observe",
    "_params",
    "_progress_view",
    "_quota",
    "_redact",
    "_request_models",
    "_response_models",
    "_request",
    "_retry",
    "_separate",
    "_sse",
    "_thoughts",
    "_urls",
    "_usage",
    "_wire_facts",
    "sse",
    "testing/_errors",
    "testing/_faults",
    "testing/_reply",
    "testing/_schema",
    "testing/_script",
    "testing/_text",
    "testing/_validate",
    "testing/_variants",
    "testing/_wire",
]
IMPURE_TOP_LEVEL = {"httpx", "httpcore", "anyio", "h11", "trio", "asyncio", "socket", "ssl"}
# Pure modules may raise the library's exceptions; _exceptions itself only needs httpx types
# for annotations on the edge classes, so it is allowed as a leaf and not followed.
ALLOWED_LEAVES = {"_exceptions"}


def _imports(module: str, package: Path = PACKAGE) -> tuple[set[str], set[str]]:
    path = package / f"{module}.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    absolute: set[str] = set()
    relative: set[str] = set()
    base = module.rsplit("/", 1)[0] if "/" in module else ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            absolute |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                absolute.add(node.module.split(".")[0])
            elif node.level == 1 and node.module:
                relative.add(f"{base}/{node.module}" if base else node.module)
    return absolute, relative


def impure_imports(module: str, package: Path = PACKAGE) -> dict[str, set[str]]:
    """Every module reachable from ``module`` that imports an I/O library, with what it imports."""
    found: dict[str, set[str]] = {}
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen or current.rsplit("/", 1)[-1] in ALLOWED_LEAVES:
            continue
        seen.add(current)
        absolute, relative = _imports(current, package)
        if absolute & IMPURE_TOP_LEVEL:
            found[current] = absolute & IMPURE_TOP_LEVEL
        todo.extend(relative)
    return found


@pytest.mark.parametrize("module", PURE)
def test_pure_module_reaches_no_io(module: str) -> None:
    assert impure_imports(module) == {}


def test_the_check_follows_relative_imports(tmp_path: Path) -> None:
    (tmp_path / "_pure.py").write_text("from ._helper import x\nimport json\n")
    (tmp_path / "_helper.py").write_text("import anyio.abc\nx = 1\n")
    assert impure_imports("_pure", tmp_path) == {"_helper": {"anyio"}}
