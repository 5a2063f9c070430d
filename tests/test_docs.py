"""The documentation a new user meets first must match what actually runs."""

import re
import shutil
import subprocess

import pytest

from conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [c.strip() for c in re.findall(r"```sh\n(.+?)\n\s*```", section)]


def test_readme_opens_with_two_setup_commands_and_ci_runs_the_second():
    run, test = readme_commands()[:2]
    assert "lwz write" in run and "--model tiny" in run and "-o " in run
    assert "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    install_and_test = test.split("&& ", 2)[2]  # after creating and activating the venv
    assert install_and_test in ci


def test_man_page_is_up_to_date():
    from lwz_cli.cli import app
    from lwz_cli.cli.manpage import render

    assert (ROOT / "man" / "lwz.1").read_text() == render(app), (
        "man/lwz.1 is stale: run python scripts/gen_man.py"
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_page_renders_without_warnings():
    result = subprocess.run(
        ["man", "--warnings", "-l", str(ROOT / "man" / "lwz.1")],
        capture_output=True,
        text=True,
        env={"MANWIDTH": "80", "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0
    assert result.stderr.strip() == ""
    assert "lwz write" in result.stdout


@pytest.mark.slow
def test_the_wheel_installs_the_man_page_where_man_finds_it(tmp_path):
    import sys
    import zipfile

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {result.stderr[-200:]}")
    wheel = next(tmp_path.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    # <venv>/share/man/man1/lwz.1: man-db maps <venv>/bin on PATH to <venv>/share/man
    assert any(n.endswith(".data/data/share/man/man1/lwz.1") for n in names)


def _anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_the_readme_and_docs_resolve():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.is_file():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and anchor not in {
                _anchor(h) for h in re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
            }:
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "broken links:\n  " + "\n  ".join(broken)
