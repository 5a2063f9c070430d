"""The user's sources: readers, passages, and the persistent index (`lwz_cli.sources`)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from lwz_cli.errors import UsageError
from lwz_cli.sources import readers
from lwz_cli.sources.blocks import MAX_CHARS
from lwz_cli.sources.index import SourceIndex
from source_files import make_docx, make_folder, make_pdf


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "home"))


def _open(folder: Path, *specs: str, base: Path | None = None) -> tuple[SourceIndex, list[str]]:
    warnings: list[str] = []
    index = SourceIndex.open(list(specs) or ["."], base=base or folder, warn=warnings.append)
    return index, warnings


def test_each_format_gives_passages_that_say_where_they_came_from(tmp_path):
    folder = make_folder(tmp_path / "src")
    index, warnings = _open(tmp_path, "src")
    with index:
        assert warnings == []
        assert (index.files, len(index.entries)) == (5, 5)
        [md] = index.search("Kelmar lighthouse", 1)
        assert (md.path, md.lines) == ("src/notes.md", (1, 4))  # the heading joins its paragraph
        assert "whale oil" in md.text and md.page is None
        [pdf] = index.search("giraffes", 1)
        assert (pdf.path, pdf.page, pdf.lines) == ("src/paper.pdf", 2, None)
        [docx] = index.search("widget grams", 1)
        assert (docx.path, docx.page, docx.lines) == ("src/spec.docx", None, None)
        [html] = index.search("quince medlar", 1)
        assert html.path == "src/page.html" and html.lines == (3, 5)
        assert index.search("scriptword") == []  # scripts are not text
        [txt] = index.search("quarry road budget", 1)
        assert txt.path == "src/minutes.txt" and "42,000 crowns" in txt.text
    assert folder.is_dir()


def test_a_long_paragraph_is_cut_at_sentences_into_bounded_passages(tmp_path):
    sentence = "The tide turns twice a day near the old stone pier of Varn. "
    (tmp_path / "long.txt").write_text(sentence * 100, encoding="utf-8")
    found = readers.parse((tmp_path / "long.txt").read_bytes(), ".txt")
    assert len(found) > 1 and all(len(p.text) <= MAX_CHARS for p in found)
    assert all(p.text.endswith("Varn.") for p in found)  # whole sentences
    assert all(p.lines == (1, 1) for p in found)


def test_chinese_is_indexed_and_found_by_a_chinese_query(tmp_path):
    (tmp_path / "tea.md").write_text(
        "# 茶\n\n绿茶起源于中国西南，已有数千年的历史。\n\n咖啡原产于埃塞俄比亚。\n"
        "\n" + "An English paragraph about something else entirely, long enough to stand. " * 4,
        encoding="utf-8",
    )
    index, _ = _open(tmp_path, "tea.md")
    with index:
        best = index.search("绿茶的历史", 3)
        assert best and "绿茶起源于中国" in best[0].text
        assert "咖啡" in index.search("埃塞俄比亚", 1)[0].text


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "AND", "OR NOT", "*", "NEAR(", "lighthouse*", "col:lamp", "^x", "(", "''", "-"],
)
def test_query_syntax_is_searched_as_words_never_parsed(tmp_path, query):
    make_folder(tmp_path / "src")
    index, _ = _open(tmp_path, "src")
    with index:
        assert isinstance(index.search(query), list)
        assert index.search(f"{query} lighthouse")[0].path == "src/notes.md"


def test_unreadable_files_each_warn_once_and_are_skipped(tmp_path):
    folder = make_folder(tmp_path / "src")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02ELF" * 50)
    (folder / "latin1.md").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (folder / "fake.docx").write_bytes(b"this is not a zip")
    (folder / "fake.pdf").write_bytes(b"%PDF-1.4 nothing else")
    make_pdf(folder / "locked.pdf", ["Secret text."], password="pw")
    make_pdf(folder / "scan.pdf", [""])
    (folder / "empty.txt").write_text("\n\n", encoding="utf-8")
    index, warnings = _open(tmp_path, "src")
    with index:
        assert index.files == 5
        skipped = {entry.path: entry.skipped for entry in index.entries if entry.skipped}
        assert sorted(skipped) == [
            f"src/{name}"
            for name in sorted(
                [
                    "binary.txt",
                    "latin1.md",
                    "fake.docx",
                    "fake.pdf",
                    "locked.pdf",
                    "scan.pdf",
                    "empty.txt",
                ]
            )
        ]
        assert "binary" in skipped["src/binary.txt"]
        assert "UTF-8" in skipped["src/latin1.md"]
        assert "encrypted" in skipped["src/locked.pdf"]
        assert "scanned" in skipped["src/scan.pdf"]
        assert "DOCX" in skipped["src/fake.docx"]
        assert len(warnings) == 7 and all(
            "\n" not in w and w.endswith("; skipped") for w in warnings
        )
        assert index.search("Secret") == []


def test_only_changed_files_are_read_again(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "src")
    parsed: list[str] = []
    real_parse = readers.parse
    monkeypatch.setattr(
        readers, "parse", lambda data, suffix: parsed.append(suffix) or real_parse(data, suffix)
    )
    with _open(tmp_path, "src")[0] as first:
        assert (first.reread, len(parsed)) == (5, 5)
    parsed.clear()
    with _open(tmp_path, "src")[0] as again:
        assert (again.reread, parsed, again.passages) == (0, [], first.passages)
    (folder / "minutes.txt").write_text("The budget moved to the ferry slip.\n", encoding="utf-8")
    (folder / "notes.md").touch()  # a new mtime, the same bytes: hashed, not parsed
    (folder / "paper.pdf").unlink()
    (folder / "extra.md").write_text("Otters hold hands while sleeping.\n", encoding="utf-8")
    with _open(tmp_path, "src")[0] as changed:
        assert sorted(parsed) == [".md", ".txt"] and changed.reread == 2
        assert changed.search("ferry slip")[0].path == "src/minutes.txt"
        assert changed.search("quarry") == []  # the old text is gone
        assert changed.search("giraffes") == []  # so is the deleted file's
        assert changed.search("otters")[0].path == "src/extra.md"
        assert changed.key == first.key and changed.files == 5


def test_paths_are_shown_as_named_and_the_index_is_shared(tmp_path):
    folder = make_folder(tmp_path / "src")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with _open(tmp_path, "src/*.md")[0] as relative:
        assert relative.search("lighthouse")[0].path == "src/notes.md"
    with _open(elsewhere, str(folder / "*.md"), base=elsewhere)[0] as absolute:
        assert absolute.search("lighthouse")[0].path == str(folder / "notes.md")
        assert absolute.key == relative.key and absolute.reread == 0  # shared: nothing read


@pytest.mark.parametrize("spec", ["missing.md", "src/*.nothing", "empty"])
def test_a_source_that_matches_nothing_is_a_usage_error_naming_it(tmp_path, spec):
    make_folder(tmp_path / "src")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(UsageError, match=re.escape(f"source '{spec}'")) as raised:
        SourceIndex.open(["src", spec], base=tmp_path)
    assert raised.value.exit_code == 2 and "\n" not in str(raised.value)


def test_a_damaged_index_is_rebuilt_not_a_crash(tmp_path):
    make_folder(tmp_path / "src")
    with _open(tmp_path, "src")[0] as index:
        location, passages = index.location, index.passages
    location.write_bytes(b"this is no SQLite database" * 100)
    index, warnings = _open(tmp_path, "src")
    with index:
        assert index.passages == passages and index.search("zebras")[0].page == 1
    assert any("damaged" in w and "rebuilding" in w for w in warnings)


def test_damaged_while_open_is_rebuilt_at_the_next_search(tmp_path):
    make_folder(tmp_path / "src")
    with _open(tmp_path, "src")[0] as index:
        index.location.write_bytes(b"\0" * 8192)
        assert index.search("zebras")[0].path == "src/paper.pdf"


def test_two_openers_at_once_share_one_build(tmp_path, monkeypatch):
    make_folder(tmp_path / "src")
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            with SourceIndex.open(["src"], base=tmp_path) as index:
                results.append((index.passages, index.reread))
                assert index.search("zebras")
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({passages for passages, _ in results}) == 1
    assert sorted(reread for _, reread in results) == [0, 0, 5]  # built once, then reused


def test_a_missing_reader_is_one_line_saying_how_to_install_it(tmp_path, monkeypatch):
    make_docx(tmp_path / "spec.docx", ["Text."])
    real = readers.importlib.util.find_spec
    monkeypatch.setattr(
        readers.importlib.util, "find_spec", lambda name: None if name == "docx" else real(name)
    )
    with pytest.raises(UsageError, match=r"needs python-docx; pip install 'lwz-cli\[sources\]'"):
        SourceIndex.open(["spec.docx"], base=tmp_path)


def test_words_in_most_passages_do_not_drown_the_rare_ones(tmp_path, monkeypatch):
    from lwz_cli.sources import index as index_module

    monkeypatch.setattr(index_module, "COMMON_FLOOR", 0)  # a tenth of 40 passages, not 2,000
    paragraphs = [
        f"The harbour wall, stretch {n}, was mended in spring {1900 + n}." * 4 for n in range(40)
    ]
    paragraphs[17] += " Kelp grows on it."
    (tmp_path / "wall.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    with _open(tmp_path, "wall.txt")[0] as index:
        assert index.passages == 40
        assert "Kelp" in index.search("harbour wall kelp", 1)[0].text
        assert len(index.search("harbour wall", 5)) == 5  # only common words: still an answer


OPEN_AND_SEARCH = """
import sys
from pathlib import Path
from lwz_cli.sources.index import SourceIndex
with SourceIndex.open(["src"], base=Path(sys.argv[1])) as index:
    print(index.passages, index.reread, index.search("file 7 lighthouse", 1)[0].path)
"""


@pytest.mark.slow
def test_two_processes_opening_at_once_build_once_and_agree(tmp_path):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    folder = tmp_path / "src"
    folder.mkdir()
    for number in range(300):
        (folder / f"f{number:03d}.md").write_text(
            f"# File {number}\n\nThe lighthouse of file {number}. " * 20, encoding="utf-8"
        )
    env = {**os.environ, "LWZ_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_SEARCH, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    lines = sorted(out.split() for out, _ in outputs)
    assert lines[0][0] == lines[1][0] and lines[0][2] == lines[1][2] == "src/f007.md"
    assert sorted(line[1] for line in lines) == ["0", "300"]  # one built it, the other reused it


def test_a_markdown_heading_joins_its_text_as_a_sentence_without_its_marks():
    from lwz_cli.sources.blocks import passages
    from lwz_cli.sources.text_reader import text_blocks

    english = list(passages("a.md", text_blocks("# History ##\n\nFounded in 1987.\n")))
    assert [p.text for p in english] == ["History. Founded in 1987."]
    assert english[0].lines == (1, 3)
    chinese = list(passages("b.md", text_blocks("## 茶\n\n绿茶起源于中国。\n")))
    assert [p.text for p in chinese] == ["茶。绿茶起源于中国。"]
