"""Regenerate man/lwz.1 from the Typer app: python scripts/gen_man.py"""

from pathlib import Path

from lwz_cli.cli import app
from lwz_cli.cli.manpage import render

target = Path(__file__).resolve().parent.parent / "man" / "lwz.1"
target.write_text(render(app), encoding="utf-8")
print(f"wrote {target}")
