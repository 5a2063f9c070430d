"""Count lwz_cli's import statements, top-level against function-level, for the closing note.

    python scripts/import_report.py          # totals, then the modules with function-level imports

A statement counts once however many names it imports; "lwz_cli" counts statements
that import an lwz_cli module, "other" the standard library and third-party ones.
"""

from __future__ import annotations

import signal
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from import_graph import PACKAGE, Import, cycles, imports, internal_graph


def statements(found: list[Import]) -> dict[tuple[str, int], Import]:
    """One entry per statement (module, line); an internal target wins over a third-party one."""
    by_line: dict[tuple[str, int], Import] = {}
    for imp in found:
        key = (imp.source, imp.line)
        if key not in by_line or imp.target.startswith(PACKAGE):
            by_line[key] = imp
    return by_line


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends it quietly
    found = imports()
    stmts = statements(found).values()
    table = Counter((i.target.startswith(PACKAGE), i.top_level) for i in stmts)
    print(f"{'import statements':<20}{'top-level':>10}{'function':>10}")
    for internal, label in ((True, PACKAGE), (False, "other")):
        print(f"{label:<20}{table[internal, True]:>10}{table[internal, False]:>10}")
    print(
        f"{'all':<20}{table[True, True] + table[False, True]:>10}"
        f"{table[True, False] + table[False, False]:>10}"
    )
    per_module = Counter(i.source for i in stmts if not i.top_level)
    if per_module:
        print("\nfunction-level import statements per module:")
        for module, count in per_module.most_common():
            print(f"  {count:>4}  {module}")
    found_cycles = cycles(internal_graph(found))
    print(f"\nimport cycles: {len(found_cycles)}")
    for component in found_cycles:
        print("  " + " <-> ".join(component))


if __name__ == "__main__":
    main()
