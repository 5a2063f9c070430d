"""The layers of lwz_cli hold: checked over the import graph read from the source (no model)."""

from __future__ import annotations

import pytest

from import_graph import Import, cycles, imports, internal_graph

IMPORTS = imports()


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _listing(found: list[Import]) -> str:
    lines = dict.fromkeys(f"  {i.source} -> {i.target}  (line {i.line})" for i in found)
    return "\n".join(lines)  # `from m import a, b` is one statement, one line


def _chain(start: str, imported: str, graph: dict[str, set[str]]) -> list[str] | None:
    """The shortest import chain from `start` into the package `imported`, if any."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if _in(node, imported):
            return paths[node]
        for nxt in sorted(graph.get(node, ())):
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return None


def _violations(importer: str, imported: str) -> list[str]:
    """Each import out of `importer` that reaches `imported`, directly or through other modules.

    Indirect imports count (as in import-linter's forbidden contracts): a view that imports
    a module that imports the engine has the engine in it all the same.
    """
    graph = internal_graph(IMPORTS)
    found: dict[str, None] = {}
    for imp in IMPORTS:
        if not _in(imp.source, importer) or _in(imp.target, importer) or imp.target not in graph:
            continue
        chain = _chain(imp.target, imported, graph)
        if chain:
            found[f"  {' -> '.join([imp.source, *chain])}  ({imp.source} line {imp.line})"] = None
    return list(found)


def test_the_graph_sees_every_kind_of_import():
    """A guard on the reader itself: function-level imports and `from pkg import module` count."""
    internal = {(i.source, i.target) for i in IMPORTS}
    assert ("lwz_cli.__main__", "lwz_cli.cli") in internal
    assert any(not i.top_level for i in IMPORTS), "function-level imports must be read too"
    # `from lwz_cli.engine.protocol import Engine` is the module, not the package lwz_cli.engine
    assert all(i.target != "lwz_cli.engine" for i in IMPORTS if i.source == "lwz_cli.engine")


def test_no_import_cycles_between_lwz_cli_modules():
    found = cycles(internal_graph(IMPORTS))
    report = []
    for component in found:  # each strongly connected component, then the imports inside it
        report.append("  " + " <-> ".join(component))
        inside = [i for i in IMPORTS if i.source in component and i.target in component]
        report.append(_listing(inside).replace("  ", "      ", 1).replace("\n  ", "\n      "))
    assert not found, "import cycles between lwz_cli modules:\n" + "\n".join(report)


FORBIDDEN = [
    # (importer package, imported package, why)
    ("lwz_cli.engine", "lwz_cli.writing", "engines stream tokens; the writing layer drives them"),
    ("lwz_cli.models", "lwz_cli.writing", "models are files and hardware facts, below writing"),
    ("lwz_cli.view", "lwz_cli.engine", "views render events and never touch the engine"),
    ("lwz_cli.repl", "lwz_cli.cli", "the REPL is a front end beside the CLI, not on top of it"),
    ("lwz_cli.sources", "lwz_cli.writing", "sources are read and indexed below the writing layer"),
    ("lwz_cli.sources", "lwz_cli.engine", "reading files needs no model"),
    ("lwz_cli.sources", "lwz_cli.models", "reading files needs no model"),
    ("lwz_cli.sources", "lwz_cli.view", "sources return passages; front ends render them"),
    ("lwz_cli.sources", "lwz_cli.cli", "`lwz sources` is a front end over the index"),
]


@pytest.mark.parametrize(
    "importer, imported, why",
    FORBIDDEN,
    ids=[f"{a.split('.')[-1]}-not-{b.split('.')[-1]}" for a, b, _ in FORBIDDEN],
)
def test_layer_imports_nothing_from_the_layer_above(importer, imported, why):
    found = _violations(importer, imported)
    assert not found, f"{importer} must import nothing from {imported} ({why}):\n" + "\n".join(
        found
    )


def test_only_the_cli_imports_typer():
    found = [i for i in IMPORTS if i.target == "typer" and not _in(i.source, "lwz_cli.cli")]
    assert not found, "only lwz_cli.cli may import typer:\n" + _listing(found)
