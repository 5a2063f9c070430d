"""Outline files (issue 15): `lwz write --outline FILE` writes exactly the author's
outline (headings, order, budgets, notes), on the scripted engine; the format's
reader and its FILE:LINE errors. The tiny model's proof is in test_outline_tiny.py."""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace

import pytest

from fake_engine import Reply, outline, prose
from lwz_cli.errors import UsageError
from lwz_cli.writing.outline_file import (
    fit_outline,
    format_outline,
    outline_path,
    parse_outline,
)
from lwz_cli.writing.plan import Plan, Section

EDITED = """<!-- lwz outline -->
# Bread at Home

## Choosing Flour <!-- 300 words -->
Bread flour against all-purpose; protein content.

## The Long Rise <!-- 400 words -->
Cold fermentation in the fridge.
Why time builds flavour.

## Shaping Loaves <!-- 300 words -->
"""


def zh_prose(chars: int, seed: int) -> str:
    """Chinese text with no repeated sentence (the repetition guard rewinds repeats)."""
    rng = random.Random(seed)
    pool = "茶水山云月风花雨石林江河春秋书画琴棋香色光影叶根泉火木金土天地人心"
    text = ""
    while len(text) < chars:
        text += "".join(rng.choice(pool) for _ in range(rng.randint(8, 20))) + "。"
    return text


def by_budget(prompt: str) -> str:
    """A scripted model that writes what each section prompt asks for."""
    asked = re.findall(r"Write about (\d+) words", prompt)
    return prose(int(asked[-1]) + 20, seed=len(prompt)) if asked else ""


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def headings(text: str) -> list[str]:
    return [line[3:] for line in text.splitlines() if line.startswith("## ")]


def section_prompts(fake) -> list[str]:
    return [call.prompt for call in fake.calls]


def test_the_document_has_exactly_the_outlines_headings_and_its_notes_reach_the_prompts(
    lwz, fake_model, tmp_path
):
    (tmp_path / "bread.outline.md").write_text(EDITED)
    fake = fake_model([prose(300, seed=1), prose(400, seed=2), prose(300, seed=3)])
    result = lwz("write", "--outline", "bread.outline.md", "-m", "tiny", "-o", "bread.md", "--json")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "bread.md").read_text()
    assert text.startswith("# Bread at Home\n\n")
    assert headings(text) == ["Choosing Flour", "The Long Rise", "Shaping Loaves"]
    assert len(fake.calls) == 3  # no plan asked of the model: one generation per section
    prompts = section_prompts(fake)
    assert "protein content" in prompts[0] and '"Choosing Flour"' in prompts[0]
    assert "Cold fermentation in the fridge. Why time builds flavour." in prompts[1]
    assert '"The Long Rise"' in prompts[1] and "Shaping Loaves" not in prompts[1].split("Now")[-1]
    evs = events(result.stdout)
    plan = next(e for e in evs if e["event"] == "plan")
    assert [s["budget"] for s in plan["sections"]] == [300, 400, 300]
    assert "scaled_from" not in plan  # the budgets were the target
    assert plan["source"] == "outline"  # the author's file, never judged or resampled
    assert evs[0]["target_words"] == 1000 and "outline" in evs[0]["strategy_reason"]


def test_budgets_not_adding_up_to_words_are_scaled_and_the_plan_event_says_so(
    lwz, fake_model, tmp_path
):
    (tmp_path / "o.md").write_text(EDITED)
    fake_model([prose(600, seed=1), prose(800, seed=2), prose(600, seed=3)])
    result = lwz("write", "--outline", "o.md", "-w", "2000", "-m", "tiny", "-o", "b.md", "--json")
    assert result.returncode == 0, result.stderr
    plan = next(e for e in events(result.stdout) if e["event"] == "plan")
    assert plan["scaled_from"] == 1000
    assert [s["budget"] for s in plan["sections"]] == [600, 800, 600]


def test_a_hand_written_chinese_outline_with_zi_budgets(lwz, fake_model, tmp_path):
    (tmp_path / "茶.outline.md").write_text(
        "# 绿茶\n\n## 起源 <!-- 300 字 -->\n产地与历史。\n\n## 冲泡 <!-- 500 字 -->\n水温和时间。\n\n## 结语\n"
    )
    fake = fake_model([zh_prose(320, 1), zh_prose(520, 2), zh_prose(450, 3)])
    result = lwz("write", "--outline", "茶.outline.md", "-m", "tiny", "-o", "茶.md", "--json")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "茶.md").read_text()
    assert headings(text) == ["起源", "冲泡", "结语"]
    evs = events(result.stdout)
    assert evs[0]["language"] == "zh"
    plan = next(e for e in evs if e["event"] == "plan")
    assert [s["budget"] for s in plan["sections"]] == [300, 500, 400]  # 结语: the mean
    assert "“起源”（产地与历史。）" in fake.calls[0].prompt
    assert "“冲泡”（水温和时间。）" in fake.calls[1].prompt


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("# Title\n\nJust prose.\n", 3, "text before the first `## ` section"),
        ("# Title\n\n", 2, "no `## ` section"),
        ("# T\n## A <!-- many words -->\n", 2, "is not a number of words"),
        ("# T\n## A <!-- 0 words -->\n", 2, "positive number"),
        ("# T\n## Brewing\n\n## brewing  <!-- 90 words -->\n", 4, "repeats line 2"),
        ("# T\n## A\n# Another\n", 3, "a second `# ` title"),
        ("# T\n## <!-- 300 words -->\n", 2, "no text"),
    ],
)
def test_malformed_outlines_name_file_and_line(text, line, message):
    with pytest.raises(UsageError) as caught:
        parse_outline(text, "g.outline.md")
    assert caught.value.message.startswith(f"g.outline.md:{line}: ")
    assert message in caught.value.message


def test_a_malformed_outline_exits_2_before_any_model_loads(lwz, tmp_path):
    (tmp_path / "bad.md").write_text("# T\n## One <!-- 300 words -->\n## one\n")
    result = lwz("write", "--outline", "bad.md", "-m", "tiny", "-o", "x.md")
    assert result.returncode == 2
    assert result.stderr.startswith("lwz: error: bad.md:3: the heading 'one' repeats line 2")
    assert len(result.stderr.splitlines()) == 1
    missing = lwz("write", "--outline", "gone.md", "-m", "tiny")
    assert missing.returncode == 2 and "gone.md: no such outline file" in missing.stderr
    single = lwz("write", "--outline", "bad.md", "-s", "single")
    assert single.returncode == 2


def test_the_format_reads_back_what_it_writes_and_survives_hand_edits():
    plan = Plan("Tea", [Section("Origins", "where it grows", 300), Section("Brewing", "", 500)])
    text = format_outline(plan)
    assert "## Origins <!-- 300 words -->\nwhere it grows\n" in text
    back = parse_outline(text)
    assert back.title == "Tea" and back.sections == plan.sections
    edited = text.replace("<!-- 300 words -->", "<!--1,200 words-->") + "\n### a sub-point\n"
    again = parse_outline(edited.replace("\n", "\r\n"))
    assert again.sections[0].budget == 1200 and again.sections[1].points == "### a sub-point"
    assert "<!-- 300 字 -->" in format_outline(plan, "zh")
    assert outline_path(__import__("pathlib").Path("d/guide.md")).name == "guide.outline.md"


def test_fitting_shares_the_target_and_reports_scaling():
    plan = parse_outline("## A <!-- 900 words -->\n## B\n## C\n")
    fitted = fit_outline(plan, 3000)
    assert [s.budget for s in fitted.plan.sections] == [900, 1050, 1050]
    assert fitted.scaled_from is None  # budgets kept; the others shared what was left
    own = fit_outline(plan, None)
    assert own.target == 2700 and own.scaled_from is None
    scaled = fit_outline(parse_outline("## A <!-- 100 words -->\n## B <!-- 300 words -->"), 800)
    assert [s.budget for s in scaled.plan.sections] == [200, 600] and scaled.scaled_from == 400


def test_resume_after_an_interrupt_keeps_the_outline(lwz, fake_model, tmp_path):
    (tmp_path / "o.md").write_text(EDITED)
    fake_model([prose(300, seed=1), Reply(prose(400, seed=2), interrupt_after=30)])
    stopped = lwz("write", "--outline", "o.md", "-m", "tiny", "-o", "b.md", "--json")
    assert stopped.returncode == 130
    (tmp_path / "o.md").write_text(EDITED.replace("Shaping Loaves", "Edited Since"))
    fake = fake_model([prose(400, seed=3), prose(300, seed=4)])
    resumed = lwz("resume", "b.md", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert headings((tmp_path / "b.md").read_text()) == [
        "Choosing Flour",
        "The Long Rise",
        "Shaping Loaves",
    ]
    assert len(fake.calls) == 2  # the two sections left; the edited file is not reread


def test_resume_before_the_first_checkpoint_still_follows_the_outline(lwz, fake_model, tmp_path):
    """Killed while the model loads: no checkpoint yet, but the manifest holds the outline."""

    from lwz_cli.writing.outline_file import read_outline
    from lwz_cli.writing.resume import open_run
    from lwz_cli.writing.session import WriteRequest, prepare

    (tmp_path / "o.md").write_text(EDITED)
    request = WriteRequest("", model="tiny", output=tmp_path / "b.md")
    prepared = prepare(replace(request, outline=read_outline(tmp_path / "o.md")))
    _, journal, checkpoint = open_run(prepared)  # the journal exists; nothing ran
    assert checkpoint is None and journal.manifest.request.outline is not None
    fake = fake_model([prose(300, seed=1), prose(400, seed=2), prose(300, seed=3)])
    resumed = lwz("resume", "b.md", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert len(fake.calls) == 3
    assert headings((tmp_path / "b.md").read_text()) == [
        "Choosing Flour",
        "The Long Rise",
        "Shaping Loaves",
    ]


def test_without_outline_prompt_is_still_required(lwz):
    result = lwz("write", "-m", "tiny")
    assert result.returncode == 2 and result.stderr.startswith("lwz: error: missing PROMPT")


_ = outline  # the scripted model's outline helper: `lwz plan` tests use it


def test_lwz_plan_writes_an_outline_file_that_write_follows_after_editing(
    lwz, fake_model, tmp_path
):
    fake_model(
        [
            outline(
                "Bread Baking",
                [
                    ("Flour and Water", "types of flour", 750),
                    ("Kneading", "gluten", 750),
                    ("Shaping", "boules and batards", 750),
                    ("Baking", "oven heat", 750),
                ],
            )
        ]
    )
    planned = lwz("plan", "a 3000-word guide to bread baking", "-m", "tiny", "-o", "bread.md")
    assert planned.returncode == 0, planned.stderr
    path = tmp_path / "bread.outline.md"
    assert "wrote bread.outline.md" in planned.stderr and not (tmp_path / "bread.md").exists()
    text = path.read_text()
    assert "## Kneading <!-- 750 words -->\ngluten\n" in text
    edited = (
        text.replace("## Kneading", "## Kneading by Hand")
        .replace("<!-- 750 words -->\noven heat", "<!-- 600 words -->\noven heat")
        .replace("## Flour and Water <!-- 750 words -->\ntypes of flour\n", "")
        + "## Storing Bread <!-- 500 words -->\nfreezing slices\n"
    )
    path.write_text(edited)
    again = lwz("plan", "a 3000-word guide to bread baking", "-m", "tiny", "-o", "bread.md")
    assert again.returncode == 2 and "exists" in again.stderr  # an edited outline is kept
    fake = fake_model(by_budget)
    result = lwz("write", "--outline", "bread.outline.md", "-m", "tiny", "-o", "bread.md", "--json")
    assert result.returncode == 0, result.stderr
    assert headings((tmp_path / "bread.md").read_text()) == [
        "Kneading by Hand",
        "Shaping",
        "Baking",
        "Storing Bread",
    ]
    assert "freezing slices" in fake.calls[-1].prompt
    assert events(result.stdout)[0]["target_words"] == 2600  # the edited budgets' total


def test_a_recipe_with_outline_writes_it_for_every_job(lwz, fake_model, tmp_path):
    (tmp_path / "bread.outline.md").write_text(EDITED)
    (tmp_path / "r.yaml").write_text(
        "name: r\nmodel: tiny\noutline: bread.outline.md\n"
        "prompt: A guide to {kind} bread.\noutput: out/{kind}.md\n"
        "items:\n  - kind: rye\n  - kind: spelt\n"
    )
    fake = fake_model(by_budget)
    result = lwz("batch", "r.yaml", "--json")
    assert result.returncode == 0, result.stderr
    for kind in ("rye", "spelt"):
        text = (tmp_path / "out" / f"{kind}.md").read_text()
        assert headings(text) == ["Choosing Flour", "The Long Rise", "Shaping Loaves"]
    assert any("A guide to spelt bread." in c.prompt for c in fake.calls)


def test_a_recipes_outline_must_be_in_its_folder_and_well_formed(lwz, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "bad.outline.md").write_text("# T\n\nprose\n")
    recipe = "name: r\nmodel: tiny\nprompt: p\noutput: o.md\noutline: {}\n"
    (tmp_path / "sub" / "r.yaml").write_text(recipe.format("../bad.outline.md"))
    outside = lwz("batch", "sub/r.yaml", "--dry-run")
    assert (
        outside.returncode == 2
        and "sub/r.yaml:5:10: outline '../bad.outline.md' is outside" in outside.stderr
    )
    (tmp_path / "r.yaml").write_text(recipe.format("bad.outline.md"))
    bad = lwz("batch", "r.yaml", "--dry-run")
    assert bad.returncode == 2
    assert "r.yaml:5:10: outline: " in bad.stderr and "bad.outline.md:3: text before" in bad.stderr


def test_chat_outline_starts_a_draft_from_the_file_or_replaces_the_open_ones(
    tmp_path, monkeypatch, fake_model
):
    from lwz_cli.engine.protocol import Sampling
    from lwz_cli.writing.drafting import DraftingSession, Settings
    from lwz_cli.writing.outline_file import outline_prompt

    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    fake = fake_model(by_budget)
    plan = parse_outline(EDITED)
    session = DraftingSession(
        Settings(model="tiny", output=tmp_path / "b.md", sampling=Sampling(seed=3))
    )
    try:
        session.write(outline_prompt(plan), lambda event: None, outline=plan)
        assert session.target == 1000 and len(fake.calls) == 3
        assert headings(session.document()) == [s.title for s in plan.sections]
        session.use_outline(parse_outline("## The Long Rise <!-- 500 words -->\n## Crust\n"))
        assert [s.title for s in session.need_draft().need_plan().sections] == [
            "The Long Rise",
            "Crust",
        ]
        assert session.written == 1 and session.target == 1000  # the kept section, by title
        assert session.undo() == "outline" and session.written == 3
    finally:
        session.close()


def test_lwz_plan_refuses_a_request_without_a_length_and_prints_to_stdout(
    lwz, fake_model, tmp_path
):
    vague = lwz("plan", "a guide to bread", "-m", "tiny")
    assert vague.returncode == 2
    assert vague.stderr.startswith("lwz: error: lwz plan needs a target length; ")
    fake_model([outline("Rain", [("Clouds", "", 300), ("Storms", "", 300)])])
    shown = lwz("plan", "rain", "--words", "600", "-m", "tiny", "--json")
    assert shown.returncode == 0, shown.stderr
    plan = next(e for e in events(shown.stdout) if e["event"] == "plan")
    assert [s["title"] for s in plan["sections"]] == ["Clouds", "Storms"]
    assert not list(tmp_path.glob("*.outline.md"))


def test_a_damaged_outline_in_the_manifest_is_an_error_not_a_crash(lwz, fake_model, tmp_path):
    from lwz_cli.journal import Journal

    (tmp_path / "o.md").write_text(EDITED)
    fake_model([Reply(prose(300, seed=1), interrupt_after=20)])
    assert lwz("write", "--outline", "o.md", "-m", "tiny", "-o", "b.md").returncode == 130
    journal = Journal.find(tmp_path / "b.md")
    assert journal is not None
    journal.manifest.request.outline = {"sections": [{"title": 3}]}  # a hand-edited journal
    journal.save_manifest()
    resumed = lwz("resume", "b.md")
    assert resumed.returncode == 2 and "Traceback" not in resumed.stderr
    assert "outline recorded in" in resumed.stderr, resumed.stderr
