"""The import graph of `lwz_cli`, read from the source with `ast` (nothing is imported).

Every `import` statement counts, at module level or inside a function (and inside
`if TYPE_CHECKING:`): a type-only import still ties the two modules' layers together.
`from pkg import name` resolves `name` to the submodule `pkg.name` when one exists,
otherwise to `pkg` itself. Used by tests/test_layers.py and scripts/import_report.py.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "lwz_cli"


@dataclass(frozen=True)
class Import:
    """One imported module, as written in `source` at `line`."""

    source: str  # the importing lwz_cli module
    target: str  # the imported module: an lwz_cli module, or a third-party top-level name
    line: int
    top_level: bool  # False when the statement sits inside a function


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (`lwz_cli.view` for view/__init__.py)."""
    modules: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _resolve_relative(node: ast.ImportFrom, source: str, modules: dict[str, Path]) -> str:
    """The absolute module a `from .x import y` starts from."""
    base = source.split(".")
    if not _is_package(source, modules):
        base = base[:-1]  # a plain module's level-1 base is its package
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Visitor(ast.NodeVisitor):
    def __init__(self, source: str, modules: dict[str, Path]) -> None:
        self.source = source
        self.modules = modules
        self.depth = 0  # how many function bodies enclose the current node
        self.found: list[Import] = []

    def _add(self, target: str, node: ast.stmt) -> None:
        if target == PACKAGE or target.startswith(PACKAGE + "."):
            # `import lwz_cli.a.b.c` where c is a name, not a module: keep the longest module prefix
            while target not in self.modules and "." in target:
                target = target.rsplit(".", 1)[0]
        else:
            target = target.split(".")[0]  # third-party: the distribution's top-level name
        self.found.append(Import(self.source, target, node.lineno, self.depth == 0))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = (
            _resolve_relative(node, self.source, self.modules) if node.level else node.module or ""
        )
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in self.modules else base, node)


def imports(root: Path = ROOT) -> list[Import]:
    """Every import statement's target in every lwz_cli module, in file and line order."""
    modules = module_files(root)
    found: list[Import] = []
    for name, path in modules.items():
        visitor = _Visitor(name, modules)
        visitor.visit(ast.parse(path.read_text(), str(path)))
        found.extend(visitor.found)
    return found


def internal_graph(found: list[Import]) -> dict[str, set[str]]:
    """lwz_cli module -> the lwz_cli modules it imports (self-imports dropped)."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        graph.setdefault(imp.source, set())
        if imp.target.startswith(PACKAGE) and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)
