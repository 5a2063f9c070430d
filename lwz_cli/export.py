"""Export: a finished Markdown document converted to the format its path's suffix asks for.

Markdown stays the truth (the journal, `PATH.partial`, `/save`): conversion happens once,
at the end, from the complete Markdown text, and the converted file is written atomically
(temp file, fsync, rename), so `PATH` is either absent, the old file, or the whole new one.

Converters, chosen by output quality and install weight:

- `.html`/`.htm`: markdown-it-py (already a dependency of lwz): a standalone HTML5 page,
  headings, lists, emphasis, tables and code as Markdown wrote them. No extra needed.
- `.docx`, `.odt`, `.epub`, `.pdf`: pandoc, from the optional extra `lwz-cli[export]`
  (the `pypandoc-binary` wheel: a 35 MB download that carries a static pandoc, no system
  package) or any `pandoc` on PATH. python-docx plus markdown-it-py was the alternative:
  lighter (1 MB plus lxml) but DOCX only, and every construct (nested lists, tables,
  code, links, footnotes) would be hand-mapped to Word styles here. Pandoc writes real
  `Heading N` styles (Word's navigation pane shows the outline), numbered and bulleted
  lists, tables and code (`Source Code` style) for DOCX, and ODT and EPUB from the
  same reader. PDF also needs a PDF engine pandoc can drive (a LaTeX, typst,
  tectonic, weasyprint or wkhtmltopdf), which no wheel provides.

A missing converter is found by `require()` before any model loads: one line naming
what to install, exit 2.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lwz_cli.atomic import atomic_write_bytes, document_mode
from lwz_cli.errors import RuntimeFailure, UsageError

INSTALL = "pip install 'lwz-cli[export]'"
# pandoc's PDF engines, in the order tried: the ones that need no TeX first
PDF_ENGINES = ("typst", "tectonic", "weasyprint", "wkhtmltopdf", "xelatex", "lualatex", "pdflatex")


@dataclass(frozen=True)
class ExportFormat:
    name: str  # what messages show, and recipes' `format:` value
    suffix: str  # the canonical suffix (`.htm` maps to html's `.html`)
    pandoc: str | None  # pandoc's writer, or None: markdown-it-py


FORMATS = {
    ".html": ExportFormat("html", ".html", None),
    ".htm": ExportFormat("html", ".html", None),
    ".docx": ExportFormat("docx", ".docx", "docx"),
    ".odt": ExportFormat("odt", ".odt", "odt"),
    ".epub": ExportFormat("epub", ".epub", "epub3"),
    ".pdf": ExportFormat("pdf", ".pdf", "pdf"),
}
# recipes' `format:` values: markdown, or one of FORMATS' names
FORMAT_NAMES = ("md", *dict.fromkeys(f.name for f in FORMATS.values()))
# the Markdown pandoc reads: GitHub's (pipe tables, fenced code, strikethrough), as the
# model writes it; raw HTML in the model's text stays text-like rather than markup
PANDOC_READER = "gfm-raw_html"


def format_for(path: Path | str) -> ExportFormat | None:
    """The format `path`'s suffix asks for; None: Markdown (any other suffix, as before)."""
    return FORMATS.get(Path(path).suffix.lower())


def pandoc_path() -> str | None:
    """The pandoc binary: the `pypandoc-binary` wheel's, else one on PATH."""
    try:
        import pypandoc  # the [export] extra; optional

        return str(pypandoc.get_pandoc_path())
    except (ImportError, OSError):  # not installed, or pypandoc without a pandoc
        return shutil.which("pandoc")


def pdf_engine() -> str | None:
    return next((engine for engine in PDF_ENGINES if shutil.which(engine)), None)


def require(path: Path | str | None) -> ExportFormat | None:
    """Refuse `-o path` now, before a model loads, if its format's converter is missing."""
    if path is None:
        return None
    fmt = format_for(path)
    if fmt is None or fmt.pandoc is None:
        return fmt
    if pandoc_path() is None:
        raise UsageError(
            f"{path} needs pandoc to write {fmt.name}",
            hint=f"{INSTALL} (or install pandoc), or write .md or .html",
        )
    if fmt.name == "pdf" and pdf_engine() is None:
        raise UsageError(
            f"{path} needs a PDF engine for pandoc (none of {', '.join(PDF_ENGINES)} is on PATH)",
            hint="install one (e.g. apt install texlive-xetex, or typst), or write .docx or .html",
        )
    return fmt


def title_of(markdown: str) -> str:
    """The document's title: its first heading's text, else its first line."""
    lines = [line.strip() for line in markdown.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("#"):
            return line.lstrip("#").strip() or "Document"
    return lines[0][:80] if lines else "Document"


def to_html(markdown: str) -> bytes:
    """A standalone HTML5 page (markdown-it-py, CommonMark plus tables and strikethrough)."""
    from markdown_it import MarkdownIt  # lazy: lwz --help start-up
    from mdit_py_plugins.footnote import footnote_plugin

    # html off: raw HTML in the model's text is shown as text, never run (<script>);
    # footnotes (`[^1]`, as `--citations footnotes` writes them) are a plugin, not core
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.use(footnote_plugin)
    body = md.render(markdown)
    page = (
        "<!DOCTYPE html>\n"
        '<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title_of(markdown))}</title>\n"
        "</head>\n<body>\n"
        f"{body}"
        "</body>\n</html>\n"
    )
    return page.encode("utf-8")


def to_pandoc(markdown: str, fmt: ExportFormat) -> bytes:
    """`markdown` through pandoc's `fmt` writer, as bytes (pandoc writes a private temp
    file; the caller renames the bytes into place)."""
    pandoc = pandoc_path()
    if pandoc is None or fmt.pandoc is None:
        raise UsageError(f"{fmt.name} needs pandoc", hint=INSTALL)
    # --sandbox: the text is the model's, so pandoc reads no file and fetches no URL it
    # names (an image `![](/home/me/.ssh/id_rsa)` would otherwise be embedded in the DOCX)
    args = [pandoc, "--sandbox", "--from", PANDOC_READER, "--to", fmt.pandoc]
    if fmt.name in ("epub", "pdf"):  # both want a title; DOCX/ODT keep the `#` line as Heading 1
        args += ["--metadata", f"title={title_of(markdown)}"]
    if fmt.name == "pdf":
        engine = pdf_engine()
        if engine is None:
            raise UsageError("PDF needs a PDF engine for pandoc", hint="install typst or a LaTeX")
        args.append(f"--pdf-engine={engine}")
    with tempfile.TemporaryDirectory(prefix="lwz-export-") as scratch:
        out = Path(scratch) / f"document{fmt.suffix}"
        try:
            done = subprocess.run(
                [*args, "--output", str(out)],
                input=markdown.encode("utf-8"),
                capture_output=True,
                cwd=scratch,
                check=False,
            )
        except OSError as exc:
            raise RuntimeFailure(f"cannot run pandoc ({pandoc}): {exc.strerror or exc}") from None
        if done.returncode != 0 or not out.is_file():
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeFailure(
                f"pandoc could not write {fmt.name}: {said[-1] if said else f'exit {done.returncode}'}"
            )
        return out.read_bytes()


def convert(markdown: str, fmt: ExportFormat) -> bytes:
    return to_html(markdown) if fmt.pandoc is None else to_pandoc(markdown, fmt)


def write_converted(path: Path, markdown: str, fmt: ExportFormat) -> None:
    """Convert, then replace `path` atomically: a failed conversion leaves `path` as it was."""
    data = convert(markdown, fmt)
    atomic_write_bytes(path, data, mode=document_mode(path))


def read_markdown(source: Path) -> str:
    """`lwz export SOURCE`: a Markdown file already written, as UTF-8 text."""
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{source} is not UTF-8 text (byte {exc.start})", hint="convert it first (iconv)"
        ) from None
