"""Fuzz: outline files as people edit them (`parse_outline`, then `fit_outline`).

Any text gives a plan or one `FILE:LINE: message` error; a plan read back from
`format_outline` is the same plan; fitting any plan to any target gives budgets
that sum exactly to it.
"""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from lwz_cli.errors import UsageError
from lwz_cli.writing.length import MAX_TARGET_WORDS
from lwz_cli.writing.outline_file import fit_outline, format_outline, parse_outline

ATOMS = st.sampled_from(
    [
        "# ", "## ", "### ", "#", "<!-- ", " -->", "-->", "<!--", "900 words", "字", "0", "1,200",
        "words", "x", "Title", "Brewing", "起源", " ", "\t", "\n", "\n\n", "\r\n", "- ", "notes",
    ]
)  # fmt: skip
OUTLINES = st.lists(st.one_of(ATOMS, st.text(max_size=8)), max_size=60).map("".join)


@given(st.one_of(OUTLINES, st.text()), st.one_of(st.none(), st.integers(1, MAX_TARGET_WORDS)))
@example("## # # # ", None)  # a title of '#'s was stripped to nothing on reading it back
def test_any_text_is_a_plan_or_one_file_line_error(text, words):
    try:
        plan = parse_outline(text, "o.md")
    except UsageError as exc:
        assert re.match(r"o\.md:\d+: ", exc.message) and "\n" not in exc.message
        return
    assert plan.sections and all(s.title and "\n" not in s.title for s in plan.sections)
    again = parse_outline(format_outline(plan), "o.md")
    assert again.title == plan.title and again.sections == plan.sections
    fitted = fit_outline(plan, words)
    assert sum(s.budget for s in fitted.plan.sections) == fitted.target
    assert [s.title for s in fitted.plan.sections] == [s.title for s in plan.sections]
