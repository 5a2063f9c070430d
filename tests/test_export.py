"""Export (`-o guide.docx`, `lwz export`): the converted files as a reader opens them
(python-docx, html.parser), the converter missing, and a failed conversion leaving
nothing half-written. Pandoc comes from the `[export]` extra (in `[test]`)."""

from __future__ import annotations

import json
import os
import stat
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import docx
import pytest

from fake_engine import outline, prose
from lwz_cli.errors import UsageError
from lwz_cli.export import FORMATS, convert, require

MARKDOWN = """# Bread Baking Guide

Why bread matters, with *emphasis* and **strong** words.

## Flour

- bread flour
- whole wheat
  - stone-ground

1. weigh
2. mix

| flour | protein |
|---|---|
| bread | 13% |

## Kneading

```python
knead(minutes=10)
```

### By hand

Push, fold, turn.
"""
HEADINGS = [
    (1, "Bread Baking Guide"),
    (2, "Flour"),
    (2, "Kneading"),
    (3, "By hand"),
]


def docx_headings(path: Path) -> list[tuple[int, str]]:
    document = docx.Document(str(path))
    return [
        (int(p.style.name.removeprefix("Heading ")), p.text)
        for p in document.paragraphs
        if p.style is not None and p.style.name.startswith("Heading ")
    ]


class Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[int, str]] = []
        self.level: int | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self.level = int(tag[1])
            self.found.append((self.level, ""))

    def handle_endtag(self, tag: str) -> None:
        self.level = None if tag.startswith("h") else self.level

    def handle_data(self, data: str) -> None:
        if self.level is not None:
            level, text = self.found[-1]
            self.found[-1] = (level, text + data)


def test_docx_has_word_heading_styles_lists_emphasis_tables_and_code(tmp_path):
    path = tmp_path / "guide.docx"
    path.write_bytes(convert(MARKDOWN, FORMATS[".docx"]))
    assert docx_headings(path) == HEADINGS  # Word's navigation pane shows this outline
    document = docx.Document(str(path))
    body = document.element.body.xml
    assert body.count("<w:numPr>") >= 5  # every list item is a real Word list paragraph
    runs = [r for p in document.paragraphs for r in p.runs]
    assert any(r.italic and r.text == "emphasis" for r in runs)
    assert any(r.bold and r.text == "strong" for r in runs)
    [table] = document.tables
    assert [c.text for c in table.rows[1].cells] == ["bread", "13%"]
    code = [p for p in document.paragraphs if "knead(minutes=10)" in p.text]
    assert code and code[0].style.name == "Source Code"


def test_html_is_a_page_with_the_same_headings():
    page = convert(MARKDOWN, FORMATS[".html"]).decode("utf-8")
    parser = Headings()
    parser.feed(page)
    assert parser.found == HEADINGS
    assert "<title>Bread Baking Guide</title>" in page and "<table>" in page
    assert "<em>emphasis</em>" in page and '<code class="language-python">' in page


def test_lwz_export_converts_a_markdown_file(lwz, tmp_path):
    (tmp_path / "guide.md").write_text(MARKDOWN, encoding="utf-8")
    for name in ("guide.docx", "guide.html", "guide.odt", "guide.epub"):
        result = lwz("export", "guide.md", "-o", name)
        assert result.returncode == 0, result.stderr
        assert result.stderr == f"lwz: wrote {name}\n"
    assert docx_headings(tmp_path / "guide.docx") == HEADINGS
    assert (tmp_path / "guide.odt").read_bytes()[:2] == b"PK"  # a zip: OpenDocument
    assert (tmp_path / "guide.epub").read_bytes()[30:58] == b"mimetypeapplication/epub+zip"
    mode = stat.S_IMODE((tmp_path / "guide.docx").stat().st_mode)
    assert mode == 0o666 & ~_umask()  # a document's mode, not the temp file's 0600
    again = lwz("export", "guide.md", "-o", "guide.docx")
    assert again.returncode == 2 and "guide.docx already exists" in again.stderr
    wrong = lwz("export", "guide.md", "-o", "guide.txt")
    assert wrong.returncode == 2 and "'.txt' is not an export format" in wrong.stderr


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


REQUEST = "Write a 600-word guide to green tea."
PLAN = outline("Green Tea", [("Origins", "where it grows", 300), ("Brewing", "water", 300)])
ARGS = ["-m", "tiny", "--json", "--strategy", "planned", "--seed", "1"]


def test_export_of_a_missing_source_says_so_before_anything_about_the_output(lwz, tmp_path):
    (tmp_path / "guide.docx").write_bytes(b"an older export")
    result = lwz("export", "nope.md", "-o", "guide.docx")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "nope.md" in line and "already exists" not in line
    assert (tmp_path / "guide.docx").read_bytes() == b"an older export"


def test_write_o_docx_end_to_end_through_the_fake_engine(lwz, fake_model, tmp_path):
    fake_model([PLAN, prose(300, seed=1), prose(300, seed=2)])
    result = lwz("write", REQUEST, *ARGS, "-o", "tea.docx")
    assert result.returncode == 0, result.stderr
    done = [json.loads(line) for line in result.stdout.splitlines()][-1]
    assert done["event"] == "done" and done["output"] == "tea.docx"
    assert docx_headings(tmp_path / "tea.docx") == [
        (1, "Green Tea"),
        (2, "Origins"),
        (2, "Brewing"),
    ]
    assert not (tmp_path / "tea.docx.partial").exists()


def _no_pandoc(monkeypatch, tmp_path):
    """pandoc absent: the extra not installed (its import fails) and none on PATH."""
    monkeypatch.setitem(sys.modules, "pypandoc", None)  # `import pypandoc` raises ImportError
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_a_missing_converter_is_refused_before_the_model_loads(lwz, tmp_path, monkeypatch):
    loads: list[int] = []
    monkeypatch.setattr(
        "lwz_cli.engine.llama.LlamaEngine", lambda path, *, n_ctx, **kw: loads.append(n_ctx)
    )
    _no_pandoc(monkeypatch, tmp_path)
    result = lwz("write", REQUEST, *ARGS, "-o", "tea.docx")
    assert result.returncode == 2
    error = json.loads(result.stdout.splitlines()[-1])
    assert error["event"] == "error" and "pip install 'lwz-cli[export]'" in error["message"]
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert loads == []  # refused before the model loaded
    assert not list(tmp_path.glob("tea.docx*"))
    (tmp_path / "a.md").write_text(MARKDOWN, encoding="utf-8")
    exported = lwz("export", "a.md", "-o", "a.odt")
    assert exported.returncode == 2 and "pip install 'lwz-cli[export]'" in exported.stderr
    assert lwz("export", "a.md", "-o", "a.html").returncode == 0  # HTML needs no extra


def test_pdf_without_a_pdf_engine_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr("lwz_cli.export.pdf_engine", lambda: None)
    with pytest.raises(UsageError, match="needs a PDF engine"):
        require(tmp_path / "guide.pdf")


def test_a_failed_conversion_leaves_no_half_written_file(lwz, fake_model, tmp_path, monkeypatch):
    broken = tmp_path / "pandoc"  # writes half a file, then fails, as a crashing converter would
    broken.write_text(
        '#!/bin/sh\nfor a; do o=$a; done\necho half > "$o"\necho "boom" >&2\nexit 3\n'
    )
    broken.chmod(0o755)
    monkeypatch.setattr("lwz_cli.export.pandoc_path", lambda: str(broken))
    (tmp_path / "a.md").write_text(MARKDOWN, encoding="utf-8")
    (tmp_path / "a.docx").write_bytes(b"the old document")
    result = lwz("export", "a.md", "-o", "a.docx", "--force")
    assert result.returncode == 1 and "pandoc could not write docx: boom" in result.stderr
    assert (tmp_path / "a.docx").read_bytes() == b"the old document"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.docx", "a.md", "pandoc"]
    # at the end of a write: PATH never appears, PATH.partial keeps the whole Markdown
    fake_model([PLAN, prose(300, seed=1), prose(300, seed=2)])
    failed = lwz("write", REQUEST, *ARGS, "-o", "tea.docx")
    assert failed.returncode == 1
    assert "lwz export tea.docx.partial -o tea.docx" in failed.stdout.splitlines()[-1]
    assert not (tmp_path / "tea.docx").exists()
    assert (tmp_path / "tea.docx.partial").read_text().startswith("# Green Tea\n\n## Origins")


def test_chat_export_saves_a_converted_copy(tmp_path, monkeypatch, fake_model):
    import io
    import itertools

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput
    from rich.console import Console

    from fake_engine import Reply
    from lwz_cli.engine.protocol import Sampling
    from lwz_cli.repl.app import ChatApp
    from lwz_cli.view.live import LiveView
    from lwz_cli.writing.drafting import DraftingSession, Settings

    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    calls = itertools.count()
    fake_model(lambda prompt: Reply(PLAN if next(calls) == 0 else prose(300, seed=3)))
    session = DraftingSession(Settings(model="tiny", words=600, sampling=Sampling(seed=3)))
    out = io.StringIO()
    try:
        with create_pipe_input() as pipe:
            app = ChatApp(
                session,
                view_factory=lambda: LiveView(Console(file=io.StringIO()), attach=False),
                out=out,
                pt_input=pipe,
                pt_output=DummyOutput(),
            )
            app.handle("a guide to green tea")
            app.handle("/export tea.docx")
            app.handle("/export tea.txt")
            app.handle("/save")  # an export is a copy, not the chat's file
    finally:
        session.close()
    said = out.getvalue()
    assert "exported tea.docx (docx, " in said
    assert "'.txt' is not an export format" in said and not (tmp_path / "tea.txt").exists()
    assert "no file to save to" in said
    assert docx_headings(tmp_path / "tea.docx") == [
        (1, "Green Tea"),
        (2, "Origins"),
        (2, "Brewing"),
    ]


RECIPE = """\
name: teas
words: 600
prompt: "Write a {words}-word guide to {topic}."
output: "out/{topic}.md"
format: docx
items:
  - {topic: green tea}
"""


def test_a_recipe_format_key_writes_every_output_in_that_format(tmp_path):
    from lwz_cli.recipes import RecipeError, load_recipe

    (tmp_path / "r.yaml").write_text(RECIPE, encoding="utf-8")
    [job] = load_recipe(tmp_path / "r.yaml").jobs
    assert job.output == (tmp_path / "out" / "green tea.docx").resolve()
    (tmp_path / "r.yaml").write_text(RECIPE.replace("format: docx", "format: rtf"))
    with pytest.raises(RecipeError, match=r"r\.yaml:5:9: format 'rtf' is not one lwz writes"):
        load_recipe(tmp_path / "r.yaml")


def test_batch_with_format_docx_and_no_pandoc_is_refused_before_any_model(
    lwz, tmp_path, monkeypatch
):
    (tmp_path / "r.yaml").write_text(RECIPE, encoding="utf-8")
    loads: list[int] = []
    monkeypatch.setattr(
        "lwz_cli.engine.llama.LlamaEngine", lambda path, *, n_ctx, **kw: loads.append(n_ctx)
    )
    _no_pandoc(monkeypatch, tmp_path)
    result = lwz("batch", "r.yaml", "-m", "tiny")
    assert result.returncode == 2, result.stderr
    assert "green tea.docx needs pandoc" in result.stderr
    assert "pip install 'lwz-cli[export]'" in result.stderr and loads == []


def test_batch_with_format_docx_writes_a_docx(lwz, fake_model, tmp_path):
    (tmp_path / "r.yaml").write_text(
        RECIPE.replace("words: 600", "words: 600\nstrategy: planned"), encoding="utf-8"
    )
    fake_model([PLAN, prose(300, seed=1), prose(300, seed=2)])
    result = lwz("batch", "r.yaml", "-m", "tiny")
    assert result.returncode == 0, result.stderr
    written = tmp_path / "out" / "green tea.docx"
    assert docx_headings(written) == [(1, "Green Tea"), (2, "Origins"), (2, "Brewing")]
    assert sorted(p.name for p in written.parent.iterdir()) == ["green tea.docx"]


def test_resume_of_a_docx_run_checks_the_converter_first_then_converts(
    lwz, fake_model, tmp_path, monkeypatch
):
    from fake_engine import Reply

    fake_model([PLAN, prose(300, seed=1), Reply(prose(300, seed=2), interrupt_after=30)])
    assert lwz("write", REQUEST, *ARGS, "-o", "tea.docx").returncode == 130
    held = (tmp_path / "tea.docx.partial").read_text(encoding="utf-8")
    assert held.startswith("# Green Tea\n\n## Origins\n\n")  # the partial is Markdown
    with monkeypatch.context() as absent:
        _no_pandoc(absent, tmp_path)
        refused = lwz("resume", "tea.docx")
        assert refused.returncode == 2 and "pip install 'lwz-cli[export]'" in refused.stderr
    fake_model([prose(300, seed=2)])
    resumed = lwz("resume", "tea.docx", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert docx_headings(tmp_path / "tea.docx") == [
        (1, "Green Tea"),
        (2, "Origins"),
        (2, "Brewing"),
    ]
    assert not (tmp_path / "tea.docx.partial").exists()


def test_pandoc_embeds_no_file_and_fetches_no_url_the_text_names(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG private")
    text = f"# T\n\n![a]({secret})\n\n![b](http://127.0.0.1:9/x.png)\n"
    data = convert(text, FORMATS[".docx"])
    path = tmp_path / "t.docx"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as packed:
        assert not [n for n in packed.namelist() if "media/" in n]  # nothing embedded
    assert docx.Document(str(path)).paragraphs[0].text == "T"


def test_raw_html_in_the_text_is_shown_not_run():
    page = convert("# T\n\n<script>alert(1)</script>\n\nand <b>x</b>\n", FORMATS[".html"]).decode()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.slow
def test_the_tiny_model_writes_a_docx_with_the_markdown_s_headings(run_lwz, tmp_path):
    """The proof on the real model: -o guide.docx, its Heading N paragraphs equal to the
    `#` lines of the Markdown the run streamed; the HTML export parses with the same."""
    request = "Write a 600-word guide to baking bread, with sections."
    args = ["--model", "tiny", "--strategy", "planned", "--json", "--seed", "3"]
    result = run_lwz("write", request, *args, "-o", "bread.docx")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    markdown = "".join(e["text"] for e in events if e["event"] == "text")
    expected = [
        (len(line) - len(line.lstrip("#")), line.lstrip("#").strip())
        for line in markdown.splitlines()
        if line.startswith("#") and line.lstrip("#").startswith(" ")
    ]
    assert len(expected) >= 3  # a title and sections
    assert docx_headings(tmp_path / "bread.docx") == expected
    (tmp_path / "bread.md").write_text(markdown, encoding="utf-8")
    assert run_lwz("export", "bread.md", "-o", "bread.html").returncode == 0
    parser = Headings()
    parser.feed((tmp_path / "bread.html").read_text(encoding="utf-8"))
    assert parser.found == expected
