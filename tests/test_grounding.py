"""Issue 16: writing from the author's sources. Each section's prompt gets the
passages that match it as numbered excerpts (read back from the scripted engine's
recorded prompts), the numbers hold across the run, a crash and `lwz resume`, and
the finished document's citations resolve to References naming only the sources."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from fake_engine import outline, prose
from lwz_cli.runstate import Checkpoint, RequestRecord
from lwz_cli.sources.passage import Passage
from lwz_cli.writing.grounding import (
    Grounding,
    Ledger,
    SourcesSpec,
    excerpt_block,
    passage_tokens,
    select,
)

REQUEST = "Write a 900-word briefing on the Quillon tea cooperative."
PLAN = outline(
    "The Quillon Cooperative",
    [
        ("Founding and members", "who founded it and when", 300),
        ("Harvest and prices", "yields and what a kilo costs", 300),
        ("Export routes", "ports and ships", 300),
    ],
)
FACTS = {
    "history.md": "# History\n\nThe Quillon cooperative was founded in 1987 by Maren Toll "
    "and forty-two growers of the Vessa valley.\n\nIts members elect a council of nine "
    "every three years.\n",
    "harvest.txt": "The 2025 harvest yielded 310 tonnes of leaf.\n\nA kilo of first-flush "
    "Quillon leaf sold for 41 euros at the Vessa auction.\n",
    "ports.md": "Quillon tea leaves through the port of Caldra on the ship Marisol, "
    "every second Tuesday.\n",
}
ARGS = ["-m", "tiny", "-o", "brief.md", "--json", "--seed", "1", "--strategy", "planned"]
EXCERPT = re.compile(r"^\[(\d+)\] (\S+?)(?:, [^:]*)?: (.*)$", re.MULTILINE)


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _excerpts(prompt: str) -> dict[int, tuple[str, str]]:
    """The numbered excerpts a prompt holds: number -> (file, text)."""
    return {int(n): (path, text) for n, path, text in EXCERPT.findall(prompt)}


def _asks(prompts: list[str]) -> dict[int, str]:
    """Each section's user turn (its ask and excerpts), by section number, as first sent."""
    asks: dict[int, str] = {}
    for prompt in prompts:
        if "Now write section" in prompt:
            turn = prompt.rsplit("Now write section ", 1)[1]
            asks.setdefault(int(turn.split(" ", 1)[0]), turn.split("<|im_end|>", 1)[0])
    return asks


class ListRetriever:
    """A stand-in index over paragraphs of the test's files: ranked by shared words."""

    def __init__(self, passages: list[Passage]):
        self.items = passages
        self.closed = False

    @property
    def files(self) -> int:
        return len({p.path for p in self.items})

    @property
    def passages(self) -> int:
        return len(self.items)

    def search(self, query: str, limit: int = 20) -> list[Passage]:
        words = set(re.findall(r"\w+", query.lower()))
        scored = [(len(words & set(re.findall(r"\w+", p.text.lower()))), p) for p in self.items]
        ranked = sorted((s for s in scored if s[0]), key=lambda s: -s[0])
        return [p for _, p in ranked[:limit]]

    def close(self) -> None:
        self.closed = True


@pytest.fixture()
def sources(tmp_path):
    """A folder of the facts above, indexed by the real `SourceIndex` (a damaged PDF warns)."""
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in FACTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 not really")

    return folder


def _section_reply(prompt: str) -> str:
    """A section that cites the first excerpt its prompt was given, and a number it
    was never given (dropped by the citation check)."""
    turn = prompt.rsplit("Now write section ", 1)[-1]
    number = int(turn.split(" ", 1)[0])
    found = _excerpts(turn)
    first = min(found) if found else 99
    word = ("first", "second", "third", "fourth", "fifth")[number - 1]
    return (
        f"The {word} fact of the cooperative is recorded [{first}]. The {word} claim of the "
        f"growers is made up [77]. {prose(140, seed=number)}\n\n{prose(160, seed=number + 10)}"
    )


def _script(prompt: str) -> str:
    return (
        PLAN
        if "outline" in prompt.lower() and "Now write section" not in prompt
        else _section_reply(prompt)
    )


# -- the pieces ---------------------------------------------------------------------------


def test_select_drops_duplicates_and_keeps_to_the_budget():
    a = Passage("a.md", "The cooperative was founded in 1987 by Maren Toll.", lines=(1, 1))
    same = Passage("b.md", "The cooperative was founded in 1987 by Maren Toll!", lines=(4, 4))
    other = Passage("c.md", "Tea leaves through the port of Caldra every Tuesday.", lines=(2, 2))
    long = Passage("d.md", " ".join(f"word{i}" for i in range(400)), lines=(1, 9))
    assert select([a, same, other], 1000) == [a, other]
    # one template, other facts: not duplicates
    c = Passage(
        "a.md", "In 1987 Toll and forty growers of the Vessa valley sold tea.", lines=(1, 1)
    )
    d = Passage(
        "a.md", "In 1991 Toll and sixty growers of the Vessa valley sold tea.", lines=(2, 2)
    )
    assert select([c, d], 1000) == [c, d]
    assert select([a, other], passage_tokens(a) + 1) == [a]  # the second does not fit
    (cut,) = select([long], 120)
    assert cut.path == "d.md" and passage_tokens(cut) <= 130 and cut.text.endswith("…")


def test_a_passage_handed_out_again_keeps_its_number_and_the_ledger_round_trips():
    p1, p2 = Passage("a.md", "one fact", lines=(1, 1)), Passage("b.pdf", "two", page=3)
    ledger = Ledger()
    assert [ledger.number(p1), ledger.number(p2), ledger.number(p1)] == [1, 2, 1]
    ledger.sets["section:A"] = [2, 1]
    again = Ledger.from_json(json.loads(json.dumps(ledger.to_json())))
    assert again == ledger
    block = excerpt_block([(2, p2), (1, p1)], "en", cite=True)
    assert "[2] b.pdf, p. 3: two" in block and "[1] a.md, line 1: one fact" in block
    assert "as [n]" in block and "[n]" in excerpt_block([(1, p1)], "zh", cite=True)
    assert "[n]" not in excerpt_block([(1, p1)], "en", cite=False)


def test_a_journal_without_sources_still_reads_and_one_with_them_round_trips():
    assert Checkpoint.from_json({"seq": 1, "generated": [1, 2]}).excerpts is None
    record = RequestRecord(prompt="x", max_tokens=10, sources={"specs": ["notes"]})
    assert RequestRecord.from_json(record.to_json()).sources == {"specs": ["notes"]}
    assert "sources" not in RequestRecord(prompt="x", max_tokens=10).to_json()


def test_the_same_query_twice_is_answered_from_the_ledger():
    passages = [Passage("a.md", "Caldra port ships tea", lines=(1, 1))]
    opened = []

    def opener(specs, base, warn):
        opened.append(specs)
        return ListRetriever(passages)

    grounding = Grounding(SourcesSpec(("a.md",)), opener=opener)
    first = grounding.excerpts("section:Ports", "Caldra port", "en")
    passages.clear()  # the index changed: the journaled set is given again all the same
    assert grounding.excerpts("section:Ports", "Caldra port", "en") == first
    assert first is not None and "[1] a.md, line 1: Caldra port ships tea" in first


# -- a run ---------------------------------------------------------------------------------


def test_each_section_prompt_gets_its_own_excerpts_and_the_citations_resolve(
    lwz, fake_model, sources, tmp_path
):
    fake = fake_model(_script)
    result = lwz("write", REQUEST, *ARGS, "--source", "notes")
    assert result.returncode == 0, result.stderr
    events = _events(result.stdout)
    asks = _asks(fake.prompts)
    assert sorted(asks) == [1, 2, 3]
    given: dict[int, tuple[str, str]] = {}
    for number, needle in zip((1, 2, 3), ("1987", "41 euros", "Caldra"), strict=True):
        excerpts = _excerpts(asks[number])
        assert any(needle in text for _, text in excerpts.values()), (needle, excerpts)
        for n, seen in excerpts.items():  # a passage keeps its number in every prompt
            assert given.setdefault(n, seen) == seen
    assert "Cite a fact" in asks[1] and "[n]" in asks[1]
    plan = fake.prompts[0]  # the outline gets a short set, not asked to cite it
    assert "Now write section" not in plan and _excerpts(plan) and "Cite a fact" not in plan

    text = (tmp_path / "brief.md").read_text()
    body, _, references = text.partition("## References")
    assert references, text[-400:]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
    assert cited and "[77]" not in body  # a number never handed out is dropped
    listed = set(re.findall(r"notes/[\w.]+", references))
    assert listed and listed <= {f"notes/{name}" for name in FACTS}
    done = events[-1]
    assert done["event"] == "done"
    assert done["citations"]["total"] >= 4 and done["citations"]["dropped"] >= 3
    assert done["sources"]["files"] == 3 and done["sources"]["passages"] >= 3
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("scan.pdf" in w for w in warnings)  # the unreadable file: a warning, no stop


def test_without_sources_done_has_no_citation_fields(lwz, fake_model):
    fake_model(_script)
    result = lwz("write", REQUEST, *ARGS)
    assert result.returncode == 0, result.stderr
    done = _events(result.stdout)[-1]
    assert "citations" not in done and "sources" not in done


def test_the_single_pass_gets_one_set_after_the_request(lwz, fake_model, sources, tmp_path):
    fake = fake_model([f"{prose(200)} Founded in 1987 [1].\n"])
    args = ["-m", "tiny", "-o", "note.md", "--json", "--strategy", "single"]
    result = lwz(
        "write",
        "Write a 200-word note on Quillon harvest prices.",
        *args,
        "--source",
        "notes",
        "--excerpt-tokens",
        "150",
    )
    assert result.returncode == 0, result.stderr
    (prompt,) = fake.prompts
    excerpts = _excerpts(prompt)
    assert excerpts and prompt.index("Quillon harvest prices") < prompt.index("[1] notes/")
    assert sum(passage_tokens(Passage(p, t)) for p, t in excerpts.values()) <= 150 + 12 * len(
        excerpts
    )
    assert "## References" in (tmp_path / "note.md").read_text()


def test_a_crash_mid_run_then_resume_gives_the_same_excerpts_and_numbers(
    lwz, fake_model, sources, tmp_path
):
    crashed: list[str] = []

    def crash_in_section_three(prompt: str) -> str:
        if "Now write section 3" in prompt:
            crashed.append(prompt)
            # a second Ctrl-C, as abrupt as a kill -9: no checkpoint is taken, the
            # last one (its excerpts journaled, no token yet) stands
            raise KeyboardInterrupt
        return _script(prompt)

    fake_model(crash_in_section_three)
    assert lwz("write", REQUEST, *ARGS, "--source", "notes").returncode == 130
    assert crashed
    # the files change meanwhile: the run goes on with what it was given
    (sources / "ports.md").write_text("Caldra was closed; tea now goes by rail.\n")

    again = fake_model(_script)
    resumed = lwz("resume", "brief.md", "--json", "--no-kv-snapshot")
    assert resumed.returncode == 0, resumed.stderr
    after = _asks(again.prompts)
    assert list(after) == [3]
    # section 3's excerpts were journaled before its first token: the same passages,
    # the same numbers, not the file as it is now
    assert _excerpts(after[3]) == _excerpts(_asks(crashed)[3])
    assert any("Caldra" in text for _, text in _excerpts(after[3]).values())
    assert "by rail" not in again.prompts[0]
    text = (tmp_path / "brief.md").read_text()
    assert "## References" in text
    assert _events(resumed.stdout)[-1]["sources"]["files"] == 3


def test_a_resume_whose_sources_are_gone_goes_on_with_the_journaled_excerpts(
    lwz, fake_model, sources, tmp_path
):
    def crash_in_section_two(prompt: str) -> str:
        if "Now write section 2" in prompt:
            raise KeyboardInterrupt  # no checkpoint: section 2's excerpts are journaled
        return _script(prompt)

    fake_model(crash_in_section_two)
    assert lwz("write", REQUEST, *ARGS, "--source", "notes").returncode == 130
    shutil.rmtree(sources)  # the notes were moved away meanwhile

    again = fake_model(_script)
    resumed = lwz("resume", "brief.md", "--json", "--no-kv-snapshot")
    assert resumed.returncode == 0, resumed.stderr
    events = _events(resumed.stdout)
    assert any(e["event"] == "warning" and "cannot be read now" in e["message"] for e in events)
    asks = _asks(again.prompts)
    assert _excerpts(asks[2])  # journaled before the stop: still given
    assert not _excerpts(asks[3])  # retrieved after: nothing to retrieve from
    assert "## References" in (tmp_path / "brief.md").read_text()
    assert events[-1]["sources"] == {"files": 0, "passages": 0}


def test_an_interrupted_section_resumes_with_its_journaled_excerpts(lwz, fake_model, sources):
    """An interrupt mid-section: the resumed prompt is the journaled one, byte for byte."""
    from fake_engine import Reply

    calls = {"n": 0}

    def interrupt_section_two(prompt: str):
        if "Now write section 2" in prompt and calls["n"] == 0:
            calls["n"] += 1
            return Reply(_section_reply(prompt), interrupt_after=20)
        return _script(prompt)

    first = fake_model(interrupt_section_two)
    assert lwz("write", REQUEST, *ARGS, "--source", "notes").returncode == 130
    stopped = next(p for p in first.prompts if "Now write section 2" in p)
    (sources / "harvest.txt").write_text("Nothing about prices here.\n")
    again = fake_model(_script)
    resumed = lwz("resume", "brief.md", "--json", "--no-kv-snapshot")
    assert resumed.returncode == 0, resumed.stderr
    # the section stopped mid-way goes on from its journaled context: the same excerpts
    continued = again.prompts[0]
    assert _excerpts(stopped.rsplit("Now write section", 1)[-1]) == _excerpts(
        continued.rsplit("Now write section 2", 1)[-1]
    )


def test_a_bad_citations_value_is_one_line_exit_2(lwz, fake_model, sources):
    fake = fake_model(_script)
    result = lwz("write", REQUEST, *ARGS, "--source", "notes", "--citations", "apa")
    assert result.returncode == 2
    assert "--citations apa is not one of none, numeric, footnotes" in result.stderr
    assert fake.prompts == []


# -- recipes -------------------------------------------------------------------------------


def test_a_recipe_writes_from_its_sources(lwz, fake_model, sources, tmp_path):
    fake = fake_model([f"{prose(200)} Founded in 1987 [1].\n"])
    (tmp_path / "r.yaml").write_text(
        "name: r\nmodel: tiny\nstrategy: single\nparams: {seed: 1}\n"
        "prompt: Write a 200-word note on the Quillon founding.\noutput: out/note.md\n"
        "sources: [notes]\ncitations: footnotes\n"
    )
    result = lwz("batch", "r.yaml", "--json")
    assert result.returncode == 0, result.stderr
    (prompt,) = fake.prompts
    assert any("1987" in text for _, text in _excerpts(prompt).values())
    done = next(e for e in _events(result.stdout) if e["event"] == "done")
    assert done["sources"]["files"] == 3 and done["citations"]["total"] == 1


def test_a_recipe_source_outside_its_folder_or_a_bad_citations_is_a_problem(lwz, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "r.yaml").write_text(
        "name: r\nprompt: Write 200 words.\noutput: a.md\n"
        "sources: [../notes, /etc]\ncitations: apa\n"
    )
    result = lwz("batch", "r/r.yaml", "--dry-run")
    assert result.returncode == 2
    assert "source '../notes' is outside the recipe's folder" in result.stderr
    assert "source '/etc' is outside the recipe's folder" in result.stderr
    assert "citations 'apa' is not one lwz knows" in result.stderr


# -- chat ----------------------------------------------------------------------------------


def test_the_chat_loop_takes_sources_and_saves_with_references(
    tmp_path, monkeypatch, fake_model, sources
):
    import io

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from lwz_cli.engine.protocol import Sampling
    from lwz_cli.repl.app import ChatApp
    from lwz_cli.writing.drafting import DraftingSession, Settings
    from test_drafting_states import ViewRecorder

    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    fake = fake_model(_script)
    session = DraftingSession(
        Settings(model="tiny", output=tmp_path / "q.md", words=900, sampling=Sampling(seed=3))
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
            "/source",
            "/source add notes",
            "/source rm nowhere",
            "/source list",
            REQUEST,
            "/redo 2",
            "/save copy.md",
            "/quit",
        ):
            pipe.send_text(line + "\r")
        app.run()
    session.close()
    text = out.getvalue()
    assert "sources: none" in text and "added notes; sources: 1" in text
    assert "lwz: error: nowhere is not a source" in text
    assert "sources: notes" in text
    asks = _asks([p for p in fake.prompts if "Now write section 2" in p][:1])
    redo = fake.prompts[-1].rsplit("Now write section 2", 1)[-1].split("<|im_end|>")[0]
    assert _excerpts(asks[2]) and _excerpts(redo) == _excerpts(asks[2])  # /redo: the same set
    saved = (tmp_path / "copy.md").read_text()
    assert "## References" in saved and "notes/" in saved.partition("## References")[2]


# -- endpoints -----------------------------------------------------------------------------


def test_an_endpoint_gets_the_excerpts_in_its_prompt(lwz, sources, tmp_path):
    from test_endpoint import FakeServer

    answer = ["<think>plan</think><answer>", "# Quillon\n\n", "Founded in 1987 [1].\n", "</answer>"]
    fake = FakeServer([{"chunks": answer, "finish": "stop"}], models=["qwen2.5-7b-instruct"])
    try:
        args = ["--endpoint", fake.url, "--json", "--strategy", "single", "-o", "q.md"]
        result = lwz("write", "Write a note on the Quillon founding.", *args, "--source", "notes")
    finally:
        fake.close()
    assert result.returncode == 0, result.stderr
    prompt = fake.requests[0]["body"]["prompt"]
    assert any("1987" in text for _, text in _excerpts(prompt).values())
    text = (tmp_path / "q.md").read_text()
    cited = next(path for _, (path, t) in sorted(_excerpts(prompt).items()))  # [1]'s file
    assert "Founded in 1987 [1]." in text and cited in text.partition("## References")[2]
    assert _events(result.stdout)[-1]["citations"]["kept"] == 1


# -- the real index ------------------------------------------------------------------------


def _facts_folder(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in FACTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 not really a PDF\n")
    return folder


def test_a_run_on_the_real_index_hands_each_section_its_files_passages(lwz, fake_model, tmp_path):
    _facts_folder(tmp_path)
    fake = fake_model(_script)
    result = lwz("write", REQUEST, *ARGS, "--source", "notes")
    assert result.returncode == 0, result.stderr
    asks = _asks(fake.prompts)
    for number, needle in zip((1, 2, 3), ("1987", "41 euros", "Caldra"), strict=True):
        assert any(needle in text for _, text in _excerpts(asks[number]).values()), number
    events = _events(result.stdout)
    assert any(e["event"] == "warning" and "scan.pdf" in e["message"] for e in events)
    done = events[-1]
    assert done["sources"]["files"] == 3 and done["citations"]["kept"] >= 3
    body, _, references = (tmp_path / "brief.md").read_text().partition("## References")
    entries = re.findall(r"^(\d+)\. (notes/[\w.]+)", references, re.MULTILINE)
    assert entries and {path for _, path in entries} <= {f"notes/{name}" for name in FACTS}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", body)} <= {int(n) for n, _ in entries}


@pytest.mark.slow
def test_a_briefing_from_four_kinds_of_file_on_the_tiny_model(run_lwz, tmp_path):
    """The issue's proof: Markdown, text, PDF and DOCX sources of invented facts, an
    unreadable file among them; the tiny model writes, lwz checks what it cites."""
    import docx
    from fpdf import FPDF

    folder = tmp_path / "dossier"
    folder.mkdir()
    (folder / "history.md").write_text(FACTS["history.md"], encoding="utf-8")
    (folder / "harvest.txt").write_text(FACTS["harvest.txt"], encoding="utf-8")
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, FACTS["ports.md"] + " The Marisol carries 40 tonnes a voyage.")
    pdf.output(str(folder / "ports.pdf"))
    document = docx.Document()
    document.add_paragraph("The Quillon council meets in the Vessa hall on the first Monday.")
    document.add_paragraph("Its tasting panel rejected 12 percent of the 2025 lots.")
    document.save(str(folder / "council.docx"))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n\x00\x01 garbage")

    result = run_lwz(
        "write",
        "a 1,500-word briefing on the Quillon tea cooperative",
        "--source",
        "dossier",
        "--model",
        "tiny",
        "-o",
        "brief.md",
        "--json",
        "--seed",
        "1",
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    events = _events(result.stdout)
    assert any(e["event"] == "warning" and "broken.pdf" in e["message"] for e in events)
    done = events[-1]
    assert done["event"] == "done" and done["sources"]["files"] == 4
    assert set(done["citations"]) == {"total", "kept", "dropped", "unsupported"}
    text = (tmp_path / "brief.md").read_text()
    body, heading, references = text.partition("\n## References\n")
    entries = re.findall(r"^(\d+)\. (dossier/[\w.]+)", references, re.MULTILINE)
    names = {f"dossier/{n}" for n in ("history.md", "harvest.txt", "ports.pdf", "council.docx")}
    assert {path for _, path in entries} <= names
    cited = {int(n) for n in re.findall(r"(?<!\\)\[(\d+)\]", body)}
    assert cited <= {int(n) for n, _ in entries}  # every [n] resolves to a References entry
    assert bool(heading) == (done["citations"]["kept"] > 0) == bool(entries)


def test_a_prompt_too_long_with_its_excerpts_says_to_lower_them(lwz, fake_model, sources):
    fake = fake_model(_script)
    args = ["-m", "tiny", "--strategy", "single", "--ctx", "256", "--source", "notes"]
    result = lwz("write", "Write a note on the Quillon founding. " * 20, *args)
    assert result.returncode == 2, result.stderr
    assert "lower --excerpt-tokens, now 900" in result.stderr and result.stderr.count("\n") == 1
    assert fake.prompts == []


def test_the_plain_view_names_the_citations_kept(lwz, fake_model, sources):
    fake_model(_script)
    result = lwz("write", REQUEST, *[a for a in ARGS if a != "--json"], "--source", "notes")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if x.startswith("lwz: citations:"))
    assert re.fullmatch(
        r"lwz: citations: \d+ kept of \d+ \(\d+ dropped.*\) from 3 source files", line
    )


@pytest.mark.slow
def test_kill9_mid_section_then_resume_keeps_every_excerpt_and_number(
    run_lwz, lwz_env, tmp_path, monkeypatch
):
    """A real `lwz write --source` killed with SIGKILL inside section 2, the files
    changed, then `lwz resume`: every number journaled before the kill means the same
    passage after it, and section 2 goes on with the set it was given."""
    import signal
    import subprocess
    import sys

    from lwz_cli.journal import Journal

    folder = _facts_folder(tmp_path)
    command = [sys.executable, "-m", "lwz_cli", "write", REQUEST, *ARGS, "--source", "notes"]
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=lwz_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    texts = 0
    for line in proc.stdout or ():
        event = json.loads(line)
        if event["event"] == "section_start" and event["index"] == 2:
            texts = 1
        elif texts and event["event"] == "text":
            texts += 1
            if texts > 20:
                break
    else:
        raise AssertionError(f"the run ended before section 2: {proc.wait()}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    monkeypatch.setenv("LWZ_HOME", lwz_env["LWZ_HOME"])
    journal = Journal.find(tmp_path / "brief.md")
    assert journal is not None
    before = Ledger.from_json(journal.latest_checkpoint().excerpts)
    assert len(before.sets) >= 3  # the outline's set, sections 1 and 2
    for name in FACTS:  # the sources change meanwhile
        (folder / name).write_text("Nothing of the cooperative is known.\n")

    result = run_lwz("resume", "brief.md", "--json", timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    after = Ledger.from_json(Journal.find(tmp_path / "brief.md").latest_checkpoint().excerpts)
    for number, passage in before.numbers.items():
        assert after.numbers[number] == passage
    for key, numbers in before.sets.items():
        assert after.sets[key] == numbers
    done = _events(result.stdout)[-1]
    assert done["resumed"] is True and done["sources"]["files"] == 3


def test_memory_and_excerpts_share_each_section_turn_and_the_citations_still_resolve(
    lwz, fake_model, sources, tmp_path
):
    """Both issue 15's memory and issue 16's excerpts go into every section turn after
    the first; the note turns between sections never make the model cite."""
    from lwz_cli.writing.memory import note_request

    ask = note_request("en")

    def reply(prompt: str) -> str:
        if ask in prompt[-800:]:
            return "the cooperative's founder is Maren Toll"
        return _script(prompt)

    fake = fake_model(reply)
    result = lwz("write", REQUEST, *ARGS, "--source", "notes", "--memory")
    assert result.returncode == 0, result.stderr
    turns = [p for p in fake.prompts if "Now write section" in p[-3000:] and ask not in p[-800:]]
    asks = _asks(turns)
    assert sorted(asks) == [1, 2, 3]
    for number in (2, 3):
        turn = turns[number - 1][turns[number - 1].rfind("Now write section") - 800 :]
        assert "Maren Toll" in turn and _excerpts(asks[number]), turn
    text = (tmp_path / "brief.md").read_text()
    body, _, references = text.partition("## References")
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
    listed = [
        int(line.split(".")[0]) for line in references.strip().splitlines() if line[:1].isdigit()
    ]
    assert cited and cited == set(listed) == set(range(1, len(listed) + 1))
    done = _events(result.stdout)[-1]
    assert done["memory_tokens"] > 0 and done["citations"]["kept"] >= 1
