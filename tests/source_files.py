"""Small source files of each format for the source tests, made in a folder."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, pages: list[str], *, password: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    for text in pages:
        pdf.add_page()
        pdf.set_font("helvetica", size=11)
        if text:
            pdf.multi_cell(0, 6, text)
        else:  # a scanned page: a picture (here a box), no text
            pdf.rect(10, 10, 100, 150)
    pdf.output(str(path))
    return path


def make_docx(path: Path, paragraphs: list[str]) -> Path:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(str(path))
    return path


def make_folder(folder: Path) -> Path:
    """One readable file of each format, each holding a fact no other holds."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.md").write_text(
        "# Harbour notes\n\nThe Kelmar lighthouse was lit in 1871.\nIts lamp burned whale oil.\n\n"
        "## Keepers\n\nThree keepers lived on the rock.\n",
        encoding="utf-8",
    )
    (folder / "minutes.txt").write_text(
        "Meeting minutes.\n\nThe budget for the quarry road is 42,000 crowns.\n", encoding="utf-8"
    )
    (folder / "page.html").write_text(
        "<html><head><title>T</title><script>var secret = 'scriptword';</script></head>\n"
        "<body>\n<h1>Orchard</h1>\n<p>The orchard grows\nquince and medlar.</p>\n</body></html>\n",
        encoding="utf-8",
    )
    make_pdf(folder / "paper.pdf", ["Zebras graze at dawn.", "Giraffes sleep standing up."])
    make_docx(folder / "spec.docx", ["Product spec", "The widget weighs 310 grams."])
    return folder
