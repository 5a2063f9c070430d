"""DocumentOutput: PATH.partial while writing; PATH (complete) replaces it at the end."""

from lwz_cli.output import DocumentOutput


def test_partial_then_finish_leaves_only_the_complete_document(tmp_path):
    out = DocumentOutput(tmp_path / "guide.md")
    assert out.partial == tmp_path / "guide.md.partial"
    out.write_partial("## One\n\n")
    out.write_partial("## One\n\n## Two\n\n")
    assert out.partial.read_text() == "## One\n\n## Two\n\n" and not out.path.exists()
    out.finish("## One\n\n## Two\n\nEnd.\n")
    assert out.path.read_text() == "## One\n\n## Two\n\nEnd.\n"
    assert not out.partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["guide.md"]  # no temp files left


def test_discard_drops_the_partial_and_nothing_else(tmp_path):
    out = DocumentOutput(tmp_path / "guide.md")
    out.path.write_text("an earlier complete version\n")
    out.discard()  # nothing to drop: no error
    out.write_partial("half")
    out.discard()
    assert not out.partial.exists()
    assert out.path.read_text() == "an earlier complete version\n"


def test_a_copy_leaves_the_partial_of_that_path_alone(tmp_path):
    other = DocumentOutput(tmp_path / "copy.md")
    other.write_partial("another run's sections")
    other.write("a saved copy\n")
    assert other.path.read_text() == "a saved copy\n"
    assert other.partial.read_text() == "another run's sections"
