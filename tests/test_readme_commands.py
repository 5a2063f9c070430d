"""Every README command that needs no network runs as written.

The commands come from the README itself, so the test follows its edits: each
line of a ```sh block (install chains split at `&&`, so the `lwz write` at the
end of the quick start still runs), and each inline `lwz ...` span that is a
whole command (no placeholder such as PATH or N, a subcommand that needs no
argument). A command that needs the Hub, a server, a GPU or a checkout to write
into is skipped with its reason; the rest run in order, in one temporary folder
(so `tea.md` written by the quick start is the document later commands see),
with LWZ_HOME there, `lwz` meaning `python -m lwz_cli` and `python` this
interpreter, and each must exit 0, as the README implies.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

# (pattern, why it is not run here): the first match wins
SKIPS: tuple[tuple[str, str], ...] = (
    (r"^(python3? -m venv|\. \.venv/bin/activate|pip install)", "installs packages"),
    (r"^CMAKE_ARGS=", "rebuilds llama-cpp-python for a GPU"),
    (
        r"^(llama-server|vllm serve|python -m sglang\.launch_server)\b|--endpoint\b",
        "needs an inference server",
    ),
    (r"^python -m pytest\b", "the test suite itself"),
    (r"^(ruff (check|format)\b|mypy$)", "the lint and type checks: .ci/run runs them"),
    (r"^python bench/", "a benchmark: tests/test_benches.py runs each on a small setting"),
    (r"^python scripts/gen_man\.py", "rewrites man/lwz.1 in the checkout (test_docs checks it)"),
    (r"^lwz models (pull|rm)\b", "downloads from or changes the Hub cache"),
    (r"^lwz (chat|resume)\b", "interactive or needs an interrupted run"),
    (r"^lwz write\b(?!.*--model tiny)", "writes with LongWriter-Zero-32B (from the Hub)"),
    (r"^lwz batch\b(?!.*--dry-run)", "the example recipes write with LongWriter-Zero-32B"),
)
# inline `lwz ...` spans that are whole commands: these subcommands need no argument
INLINE_WHOLE = re.compile(
    r"^lwz (doctor|runs|models list|fit|config (path|show))(\s+-[-\w]+(\s+[^-\s]\S*)?)*$"
)
PLACEHOLDER = re.compile(r"\.\.\.|[|\[\]]|\b[A-Z]{2,}\b|\bN\b")


@dataclass(frozen=True)
class Command:
    line: int  # in README.md
    text: str
    skip: str | None  # the reason it is not run, or None


def _skip_reason(text: str) -> str | None:
    return next((why for pattern, why in SKIPS if re.search(pattern, text)), None)


def readme_commands(readme: str) -> list[Command]:
    """The README's commands in reading order, each once."""
    found: list[tuple[int, str]] = []
    for block in re.finditer(r"```sh\n(.*?)\n\s*```", readme, re.S):
        first = readme.count("\n", 0, block.start(1)) + 1
        # a line ending in `\` goes on to the next (the command is numbered by its last line)
        lines = block.group(1).splitlines()
        held = ""
        for offset, raw in enumerate(lines):
            if raw.rstrip().endswith("\\"):
                held += raw.strip()[:-1].rstrip() + " "
                continue
            raw, held = held + raw.strip(), ""
            # a trailing `# comment` is prose; `#` inside quotes is not a comment
            text = re.sub(r"\s+#(?=[^\"']*$).*$", "", raw).strip()
            for part in text.split(" && "):
                if part.strip():
                    found.append((first + offset, part.strip()))
    fenced = {m.start() for m in re.finditer(r"```", readme)}
    for span in re.finditer(r"(?<!`)`(lwz [^`\n]+)`(?!`)", readme):
        if span.start() in fenced:
            continue
        text = span.group(1).strip()
        if INLINE_WHOLE.match(text) and not PLACEHOLDER.search(text):
            found.append((readme.count("\n", 0, span.start()) + 1, text))
    commands: list[Command] = []
    seen: set[str] = set()
    for line, text in sorted(found, key=lambda found: found[0]):  # stable: && order
        if text not in seen:  # a second `lwz write -o tea.md` would ask before overwriting
            seen.add(text)
            commands.append(Command(line, text, _skip_reason(text)))
    return commands


COMMANDS = readme_commands((ROOT / "README.md").read_text())


def test_readme_commands_are_found_and_each_runs_or_has_a_reason():
    run = [c.text for c in COMMANDS if c.skip is None]
    assert any(t.startswith("lwz write") and "--model tiny" in t for t in run), run
    assert any(t.startswith("lwz config set") for t in run), run
    assert any(t.startswith("lwz batch") and "--dry-run" in t for t in run), run
    assert any(t.startswith("lwz doctor") for t in run), run
    skipped = {c.text: c.skip for c in COMMANDS if c.skip}
    assert any("pip install" in t for t in skipped), skipped


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(ROOT / "recipes", work / "recipes")
    env = {
        **os.environ,
        "LWZ_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",  # a command that reaches for the Hub fails instead of waiting
        "COLUMNS": "100",
    }
    env.pop("LWZ_CONFIG", None)
    prelude = (
        f'lwz() {{ "{sys.executable}" -m lwz_cli "$@"; }}\n'
        f'python() {{ "{sys.executable}" "$@"; }}\n'
        "set -eo pipefail\n"
    )
    failures: list[str] = []
    for command in COMMANDS:
        if command.skip:
            continue
        result = subprocess.run(
            ["bash", "-c", prelude + command.text],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            failures.append(
                f"README.md:{command.line}: {command.text}\n  exit {result.returncode}: "
                f"{result.stderr.strip()[-400:]}"
            )
    assert not failures, "\n".join(failures)
    assert (work / "tea.md").read_text().strip(), "the quick start wrote no document"
