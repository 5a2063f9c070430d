"""Issue 15: `--brief` and `--style` reach every prompt (the scripted engine records
them), survive an interrupt and `lwz resume`, and bad files are one line, exit 2."""

from __future__ import annotations

import json

import pytest

from fake_engine import Reply, outline, prose
from lwz_cli.errors import UsageError
from lwz_cli.runstate import RequestRecord
from lwz_cli.writing.brief import STYLE_WORDS, guidance_block, read_brief, style_excerpt
from lwz_cli.writing.length import count_words

REQUEST = "Write a 900-word guide to green tea."
PLAN = outline(
    "Green Tea",
    [
        ("Origins", "where it grows", 300),
        ("Brewing", "water and time", 300),
        ("Health", "studies", 300),
    ],
)
BRIEF = "For office workers new to tea; warm tone; mention that sencha costs 8 euros per 100 g."
VOICE = "I brew my sencha at seventy degrees, never hotter, and I drink it standing by the window."
ARGS = ["-m", "tiny", "-o", "tea.md", "--json", "--seed", "1"]


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _style_file(tmp_path, text: str = VOICE):
    path = tmp_path / "voice.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_brief_and_style_reach_the_plan_and_every_section_prompt(lwz, fake_model, tmp_path):
    _style_file(tmp_path)
    fake = fake_model([PLAN, *(prose(300, seed=i) for i in range(3))])
    args = [*ARGS, "--strategy", "planned", "--brief", BRIEF, "--style", "voice.txt"]
    result = lwz("write", REQUEST, *args)
    assert result.returncode == 0, result.stderr
    assert len(fake.prompts) == 4  # the outline, then three sections
    for prompt in fake.prompts:
        assert BRIEF in prompt and VOICE in prompt
        assert "[The author's brief" in prompt and "[A sample of the author's own prose" in prompt
    assert "sencha" not in (tmp_path / "tea.md").read_text()  # guidance, not document text


def test_a_brief_file_and_style_reach_the_single_pass_prompt(lwz, fake_model, tmp_path):
    (tmp_path / "brief.md").write_text(BRIEF + "\n", encoding="utf-8")
    _style_file(tmp_path)
    fake = fake_model([prose(300)])
    args = ["-m", "tiny", "-o", "tea.md", "--strategy", "single", "--brief", "brief.md"]
    result = lwz("write", "Write a 300-word note on tea.", *args, "--style", "voice.txt", "--json")
    assert result.returncode == 0, result.stderr
    (prompt,) = fake.prompts
    assert BRIEF in prompt and "brief.md" not in prompt and VOICE in prompt
    # the request comes first, then the labelled block: the model's protocol is unchanged
    assert prompt.index("Write a 300-word note on tea.") < prompt.index(BRIEF)


def test_brief_and_style_survive_an_interrupt_and_resume(lwz, fake_model, tmp_path):
    _style_file(tmp_path)
    fake_model([PLAN, prose(300, seed=1), Reply(prose(300, seed=2), interrupt_after=30)])
    args = [*ARGS, "--strategy", "planned", "--brief", BRIEF, "--style", "voice.txt"]
    assert lwz("write", REQUEST, *args).returncode == 130
    (tmp_path / "voice.txt").write_text("Another voice entirely.", encoding="utf-8")
    record = json.loads(lwz("runs", "--json").stdout)[0]
    assert record["status"] == "interrupted"

    fake = fake_model([prose(280, seed=3), prose(300, seed=4)])
    resumed = lwz("resume", "tea.md", "--json", "--no-kv-snapshot")
    assert resumed.returncode == 0, resumed.stderr
    assert len(fake.prompts) == 2
    for prompt in fake.prompts:  # the journal's brief and excerpt, not the file as it is now
        assert BRIEF in prompt and VOICE in prompt and "Another voice" not in prompt


def test_writing_again_with_another_brief_is_not_silently_resumed_with_the_old_one(
    lwz, fake_model, tmp_path
):
    fake_model([PLAN, prose(300, seed=1), Reply(prose(300, seed=2), interrupt_after=30)])
    args = [*ARGS, "--strategy", "planned"]
    assert lwz("write", REQUEST, *args, "--brief", BRIEF).returncode == 130
    again = lwz("write", REQUEST, *args, "--brief", "For chemists; dry tone.")
    assert again.returncode == 2
    assert "unfinished run of a different request" in again.stderr
    assert "--restart" in again.stderr


def test_a_missing_or_non_utf8_style_file_is_one_line_exit_2(lwz, fake_model, tmp_path):
    fake = fake_model([prose(300)])
    missing = lwz("write", REQUEST, "-m", "tiny", "--style", "nowhere.txt")
    assert missing.returncode == 2
    assert (
        missing.stderr.strip().count("\n") <= 1 and "nowhere.txt does not exist" in missing.stderr
    )
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    bad = lwz("write", REQUEST, "-m", "tiny", "--style", "latin1.txt")
    assert bad.returncode == 2 and "not UTF-8" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "latin1.txt").rename(tmp_path / "brief.txt")
    worse = lwz("write", REQUEST, "-m", "tiny", "--brief", "brief.txt")
    assert worse.returncode == 2 and "--brief brief.txt is not UTF-8" in worse.stderr
    assert fake.prompts == []  # refused before the model ran


def test_a_brief_too_long_for_the_context_is_exit_2(lwz, fake_model):
    fake = fake_model([prose(300)])
    huge = " ".join(f"fact{i} is true." for i in range(6000))
    result = lwz("write", REQUEST, "-m", "tiny", "--ctx", "4096", "--brief", huge)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("lwz: error: the request with its brief and style is ")
    assert "shorten --brief or --style" in result.stderr and result.stderr.count("\n") == 1
    assert fake.prompts == []


def test_the_style_excerpt_is_bounded_at_a_paragraph_or_sentence_end():
    paragraph = " ".join(["The tea is green today."] * 30)  # 150 words
    text = "\n\n".join([paragraph] * 5)
    excerpt = style_excerpt(text)
    assert count_words(excerpt) <= STYLE_WORDS and excerpt.count("\n\n") == 1  # two paragraphs
    one_long = " ".join(["The tea is green today."] * 200)
    cut = style_excerpt(one_long)
    assert count_words(cut) == STYLE_WORDS and cut.endswith("today.")
    no_stop = " ".join(["tea"] * 1000)
    assert count_words(style_excerpt(no_stop)) == STYLE_WORDS
    chinese = "我每天早上都喝一杯绿茶。" * 100
    cut = style_excerpt(chinese)
    assert count_words(cut) <= STYLE_WORDS and cut.endswith("。")
    assert style_excerpt("short sample") == "short sample"


def test_a_brief_is_text_unless_it_names_a_file(tmp_path):
    assert read_brief("for beginners") == "for beginners"
    (tmp_path / "b.txt").write_text("\ufeffaudience: chefs\n", encoding="utf-8")
    assert read_brief("b.txt", base=tmp_path) == "audience: chefs"
    with pytest.raises(UsageError, match=r"--brief breif\.md does not exist"):
        read_brief("breif.md", base=tmp_path)  # a mistyped file name is not a brief
    assert guidance_block(None, None, "en") == ""
    assert "作者的写作说明" in guidance_block("给初学者", None, "zh")


def test_the_request_record_keeps_brief_and_style_and_reads_old_records():
    old = {"prompt": "p", "max_tokens": 10, "later_key": 1}
    record = RequestRecord.from_json(old)
    assert record.brief is None and record.style is None
    assert record.to_json() == {**old, **record.to_json()} and "brief" not in record.to_json()
    new = RequestRecord.from_json({**old, "brief": "b", "style": "s"})
    assert (new.brief, new.style) == ("b", "s") and new.to_json()["brief"] == "b"


def test_recipe_brief_and_style_reach_every_batch_prompt(lwz, fake_model, tmp_path):
    _style_file(tmp_path)
    (tmp_path / "r.yaml").write_text(
        f"name: r\nmodel: tiny\nstrategy: planned\nparams: {{seed: 1}}\nprompt: {REQUEST}\n"
        f'output: b.md\nbrief: "{BRIEF}"\nstyle: voice.txt\n',
        encoding="utf-8",
    )
    fake = fake_model([PLAN, *(prose(300, seed=i) for i in range(3))])
    result = lwz("batch", "r.yaml", "--json")
    assert result.returncode == 0, result.stderr
    assert len(fake.prompts) == 4
    assert all(BRIEF in p and VOICE in p for p in fake.prompts)


def test_recipe_style_outside_its_folder_or_missing_is_one_problem(tmp_path):
    from lwz_cli.recipes import RecipeError, load_recipe

    (tmp_path / "outside.txt").write_text(VOICE, encoding="utf-8")
    inner = tmp_path / "recipes"
    inner.mkdir()
    head = "name: r\nprompt: Write about tea.\noutput: a.md\n"
    for style, message in (
        ("../outside.txt", "style '../outside.txt' is outside the recipe's folder"),
        ("gone.txt", "gone.txt does not exist"),
    ):
        (inner / "r.yaml").write_text(head + f"style: {style}\n", encoding="utf-8")
        with pytest.raises(RecipeError) as caught:
            load_recipe(inner / "r.yaml")
        (problem,) = caught.value.problems
        assert problem.line == 4 and message in problem.message
    (inner / "voice.md").write_text(VOICE, encoding="utf-8")
    (inner / "brief.md").write_text(BRIEF, encoding="utf-8")
    (inner / "r.yaml").write_text(head + "style: voice.md\nbrief: brief.md\n", encoding="utf-8")
    recipe = load_recipe(inner / "r.yaml")
    (job,) = recipe.jobs
    assert (job.brief, job.style) == (BRIEF, VOICE)
    assert job.fingerprint() != __import__("dataclasses").replace(job, brief=None).fingerprint()


def test_chat_brief_and_style_reach_every_prompt_and_a_new_brief_reaches_redo(
    tmp_path, monkeypatch, fake_model
):
    from fake_engine import Recorder
    from lwz_cli.engine.protocol import Sampling
    from lwz_cli.journal import Journal
    from lwz_cli.writing.drafting import DraftingSession, Settings
    from test_drafting_states import writer

    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    fake = fake_model(writer())
    settings = Settings(
        model="tiny", output=tmp_path / "tea.md", words=900, sampling=Sampling(seed=3)
    )
    session = DraftingSession(settings)
    try:
        session.set_guidance(brief=BRIEF, style=VOICE)  # /brief and /style before /write
        session.write("a guide to green tea", Recorder())
        assert len(fake.prompts) == 4 and all(BRIEF in p and VOICE in p for p in fake.prompts)
        session.set_guidance(brief="For chemists: name the catechins.", style=VOICE)
        session.redo(2, Recorder())
        assert "For chemists: name the catechins." in fake.prompts[-1]
        assert BRIEF not in fake.prompts[-1] and VOICE in fake.prompts[-1]
        record = Journal.find(tmp_path / "tea.md").manifest.request
        assert record.brief == "For chemists: name the catechins." and record.style == VOICE
    finally:
        session.close()


def test_the_chat_loop_takes_brief_and_style(tmp_path, monkeypatch, fake_model):
    import io

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from lwz_cli.engine.protocol import Sampling
    from lwz_cli.repl.app import ChatApp
    from lwz_cli.writing.drafting import DraftingSession, Settings
    from test_drafting_states import ViewRecorder, writer

    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    _style_file(tmp_path)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00broken")
    fake = fake_model(writer())
    session = DraftingSession(
        Settings(model="tiny", output=tmp_path / "tea.md", words=900, sampling=Sampling(seed=3))
    )
    out = io.StringIO()
    with create_pipe_input() as pipe:
        app = ChatApp(
            session,
            view_factory=ViewRecorder,
            out=out,
            history=tmp_path / "history",
            pt_input=pipe,
            pt_output=DummyOutput(),
        )
        for line in (
            "/brief",
            f"/brief {BRIEF}",
            "/style bad.txt",
            "/style voice.txt",
            "/style",
            "a guide to green tea",
            "/quit",
        ):
            pipe.send_text(line + "\r")
        app.run()
    session.close()
    text = out.getvalue()
    assert "brief: none" in text and "brief set: every prompt carries it" in text
    assert "lwz: error: /style bad.txt is not UTF-8 text" in text
    assert f"style sample set: {count_words(VOICE)} words of voice.txt" in text
    assert len(fake.prompts) == 4 and all(BRIEF in p and VOICE in p for p in fake.prompts)


def test_brief_and_style_reach_every_section_of_an_outline_file_run(lwz, fake_model, tmp_path):
    _style_file(tmp_path)
    (tmp_path / "tea.outline.md").write_text(
        "# Green Tea\n\n## Origins <!-- 300 words -->\nWhere it grows.\n\n"
        "## Brewing <!-- 300 words -->\n\n## Health <!-- 300 words -->\n",
        encoding="utf-8",
    )
    fake = fake_model([prose(300, seed=i) for i in range(3)])
    args = ["--outline", "tea.outline.md", "--brief", BRIEF, "--style", "voice.txt"]
    result = lwz("write", *args, "-m", "tiny", "-o", "tea.md", "--json")
    assert result.returncode == 0, result.stderr
    assert len(fake.prompts) == 3 and all(BRIEF in p and VOICE in p for p in fake.prompts)


def test_lwz_plan_takes_the_brief_and_style_into_its_prompt(lwz, fake_model, tmp_path):
    _style_file(tmp_path)
    fake = fake_model([PLAN])
    args = ["-m", "tiny", "-o", "tea.md", "--brief", BRIEF, "--style", "voice.txt"]
    result = lwz("plan", REQUEST, *args)
    assert result.returncode == 0, result.stderr
    (prompt,) = fake.prompts
    assert BRIEF in prompt and VOICE in prompt and (tmp_path / "tea.outline.md").exists()
