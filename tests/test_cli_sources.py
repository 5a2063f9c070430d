"""`lwz sources`: what is indexed, what a query retrieves, and its errors (in process)."""

from __future__ import annotations

import json

from source_files import make_folder


def test_sources_lists_each_file_with_its_passages_and_the_skipped_with_reasons(lwz, tmp_path):
    folder = make_folder(tmp_path / "docs")
    (folder / "blob.txt").write_bytes(b"\x00\x01" * 40)
    result = lwz("sources", "docs")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert sorted(rows) == sorted(
        f"docs/{n}"
        for n in ["blob.txt", "minutes.txt", "notes.md", "page.html", "paper.pdf", "spec.docx"]
    )
    assert "skipped: a binary file, not text" in rows["docs/blob.txt"]
    assert rows["docs/paper.pdf"].split()[1] == "2"
    assert (
        "lwz: 5 files indexed, 1 skipped;" in result.stderr and "6 files read anew" in result.stderr
    )
    again = lwz("sources", "docs")
    assert "0 files read anew" in again.stderr  # the index is reused


def test_query_shows_ranked_passages_with_file_and_page_or_lines(lwz, tmp_path):
    make_folder(tmp_path / "docs")
    result = lwz("sources", "docs", "--query", 'Who grazes at dawn? Zebras AND "NEAR(', "-n", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[1] docs/paper.pdf, p. 1\n    Zebras graze at dawn.\n")
    lines = lwz("sources", "docs/notes.md", "-q", "keepers rock")
    assert lines.stdout.startswith("[1] docs/notes.md, lines 6-8\n")


def test_json_holds_the_sources_and_the_results(lwz, tmp_path):
    make_folder(tmp_path / "docs")
    (tmp_path / "docs" / "bad.docx").write_bytes(b"no zip")
    result = lwz("sources", "docs", "--query", "widget", "--json")
    assert result.returncode == 0 and result.stderr == ""
    report = json.loads(result.stdout)
    assert (report["files"], report["query"]) == (5, "widget")
    bad = report["sources"][0]
    assert (bad["path"], bad["passages"]) == ("docs/bad.docx", 0)
    assert bad["skipped"].startswith("not a readable DOCX")
    assert report["results"][0] == {
        "path": "docs/spec.docx",
        "text": "Product spec The widget weighs 310 grams.",
        "page": None,
        "lines": None,
    }


def test_bad_input_is_one_line_and_exit_2(lwz, tmp_path):
    result = lwz("sources", "nowhere/*.md")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "lwz: error: source 'nowhere/*.md': matches no files\n"
    make_folder(tmp_path / "docs")
    assert lwz("sources", "docs", "--limit", "0", "-q", "x").returncode == 2
    as_json = lwz("sources", "missing.pdf", "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["event"] == "error"
