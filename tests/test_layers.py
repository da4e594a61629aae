"""The layer rule and import hygiene, read from the source (no model loads).

- ``user_models`` and ``pipelines`` import nothing from ``pmgen`` or ``demo``;
- ``pmgen`` imports nothing from ``demo`` except inside the ``demo`` command;
- no import circle among modules, counting every import (top-level or inside a function),
  so any module can be imported first (tests/test_smoke.py imports each on its own).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pmgen", "pipelines", "user_models", "demo")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, int, str | None]]:
    """(imported module, line, enclosing function or None) of every import in ``path`` that
    runs (those under ``if TYPE_CHECKING:`` do not)."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only: never imported at run time
            inner = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = child.name
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, child.lineno, function))
                # "from pmgen import paths" imports the module pmgen.paths
                found.extend(
                    (f"{child.module}.{alias.name}", child.lineno, function)
                    for alias in child.names
                    if f"{child.module}.{alias.name}" in MODULES
                )
            visit(child, inner)

    visit(tree, None)
    return found


def _internal(name: str) -> str | None:
    """The repository module ``name`` refers to (itself or its nearest package), or None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def test_lower_layers_import_nothing_from_pmgen_or_demo():
    bad = [
        f"{module}:{line} imports {target}"
        for module, path in MODULES.items()
        if module.split(".")[0] in ("user_models", "pipelines")
        for target, line, _ in _imports(path)
        if target.split(".")[0] in ("pmgen", "demo")
    ]
    assert not bad, bad


def test_pmgen_imports_demo_only_in_the_demo_command():
    bad = [
        f"{module}:{line} imports {target} (in {function or 'module scope'})"
        for module, path in MODULES.items()
        if module.split(".")[0] == "pmgen"
        for target, line, function in _imports(path)
        if target.split(".")[0] == "demo" and (module, function) != ("pmgen.cli", "demo_command")
    ]
    assert not bad, bad


def test_no_import_circles():
    graph = {
        module: {
            target
            for name, _, _ in _imports(path)
            if (target := _internal(name))
            and target != module
            # a package's __init__ importing its own submodules is not a circle
            and not target.startswith(module + ".")
            and not module.startswith(target + ".")
        }
        for module, path in MODULES.items()
    }
    circles, done, stack = [], set(), []

    def walk(node: str) -> None:
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt in stack:
                circles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in done:
                walk(nxt)
        stack.pop()
        done.add(node)

    for module in sorted(graph):
        if module not in done:
            walk(module)
    assert not circles, circles
