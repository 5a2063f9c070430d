"""Issue 15's proof of outline files on the real tiny model: `lwz plan` writes
bread.outline.md; after a rename, a deletion, an addition and a changed budget by
hand, `lwz write --outline` writes exactly the edited outline."""

from __future__ import annotations

import json
import re

import pytest

from lwz_cli.writing.length import count_words, length_score
from lwz_cli.writing.outline_file import parse_outline

REQUEST = "a 3,000-word guide to bread baking"


def sections_of(text: str) -> list[tuple[str, str]]:
    """(heading, body) for each `## ` section of a document."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def edit(outline: str) -> str:
    """What a person does in an editor: rename the first heading, delete the second
    section, change the third's budget, add a section at the end."""
    blocks = re.split(r"(?=^## )", outline, flags=re.MULTILINE)
    head, sections = blocks[0], blocks[1:]
    assert len(sections) >= 3, outline
    sections[0] = re.sub(r"^## .+?(?= <!--)", "## Choosing Your Flour", sections[0])
    del sections[1]
    sections[1] = re.sub(r"<!-- \d+ words -->", "<!-- 500 words -->", sections[1])
    sections.append(
        "## Storing and Reviving Bread <!-- 400 words -->\nFreezing slices, stale loaves.\n\n"
    )
    return head + "".join(sections)


@pytest.mark.slow
def test_plan_edit_then_write_follows_the_edited_outline(run_lwz, tmp_path):
    planned = run_lwz("plan", REQUEST, "--model", "tiny", "-o", "bread.md", "--seed", "7")
    assert planned.returncode == 0, planned.stderr
    path = tmp_path / "bread.outline.md"
    path.write_text(edit(path.read_text()))
    wanted = parse_outline(path.read_text(), str(path))

    result = run_lwz(
        "write",
        "--outline",
        "bread.outline.md",
        "-o",
        "bread.md",
        "--model",
        "tiny",
        "--json",
        "--seed",
        "7",
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    evs = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    done = evs[-1]
    text = (tmp_path / "bread.md").read_text()
    written = sections_of(text)
    assert [h for h, _ in written] == [s.title for s in wanted.sections]
    target = sum(s.budget for s in wanted.sections)
    figures = [
        (s.title, s.budget, count_words(body))
        for s, (_, body) in zip(wanted.sections, written, strict=True)
    ]
    score = length_score(target, done["words"])
    print(
        f"\noutline sections (title, budget, words): {figures}\ntotal {done['words']} of {target}: S_l {score:.1f}"
    )
    assert score >= 80, figures
