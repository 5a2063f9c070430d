"""What a new user meets before any writing: usage errors as one line plus a usage
line, `--help` that reads at 80 columns, listings whose paths copy whole when
piped, and sizes and quants in words people read. In-process (no model loads)."""

from __future__ import annotations

import io
import json
import re

from fake_engine import Reply, outline, prose
from lwz_cli.view.table import Column, print_table


def test_a_bad_value_is_one_error_line_and_the_usage_line(lwz):
    result = lwz("fit", "--ram", "abc")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "lwz: error: --ram: 'abc' is not a number",
        "usage: lwz fit [MODEL] [options]; lwz fit --help for more",
    ]
    assert lwz("fit", "--words", "1.5").stderr.startswith(
        "lwz: error: --words: '1.5' is not a whole number\n"
    )


def test_a_bare_command_prints_its_usage_line_not_its_help(lwz):
    result = lwz("write")
    assert result.returncode == 2
    assert result.stderr == "usage: lwz write [PROMPT] [options]; lwz write --help for more\n"
    missing = lwz("write", "-m", "tiny")
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[0] == "lwz: error: missing PROMPT"


def test_typos_get_a_did_you_mean(lwz):
    option = lwz("write", "x", "--wrods", "3")
    assert option.returncode == 2
    assert option.stderr.splitlines()[0] == (
        "lwz: error: no such option --wrods (did you mean --words?)"
    )
    command = lwz("wrte")
    assert command.returncode == 2
    assert command.stderr.splitlines()[0] == (
        "lwz: error: no such command 'wrte' (did you mean write?)"
    )
    model = lwz("write", "hi", "--model", "tinyy")
    assert model.returncode == 2 and len(model.stderr.splitlines()) == 1
    assert model.stderr.startswith("lwz: error: unknown model 'tinyy' (did you mean tiny?)")


def test_write_help_reads_at_80_columns(lwz):
    result = lwz("write", "--help", env={"COLUMNS": "80"})
    assert result.returncode == 0
    text = result.stdout
    assert "…" not in text and "{PROMPT}" not in text and "<str>" not in text
    assert text.startswith("Usage: lwz write [OPTIONS] [PROMPT]\n")
    assert "--kv-snapshot / --no-kv-snapshot" in text and "LWZ_ENDPOINT_MODEL" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    # every option's description starts on a line of at least 30 characters of text
    descriptions = re.findall(r"^  -.*?  +(\S.*)$", text, flags=re.M)
    assert len(descriptions) > 15 and min(len(d) for d in descriptions) >= 20
    assert "[[MODEL]]" not in lwz("fit", "--help", env={"COLUMNS": "80"}).stdout


LONG = "a-rather-long-folder-name-for-documents/and-another-level-below-it/tea-guide.md"


def test_piped_runs_keep_each_path_and_command_whole_on_one_line(lwz, fake_model, tmp_path):
    (tmp_path / LONG).parent.mkdir(parents=True)
    plan = outline("Tea", [("Origins", "where", 300), ("Brewing", "how", 300)])
    fake_model([plan, Reply(prose(300, seed=1), interrupt_after=30)])
    args = ["-m", "tiny", "-o", LONG, "--strategy", "planned", "-q"]
    assert lwz("write", "a 600-word guide to tea", *args).returncode == 130
    listing = lwz("runs", env={"COLUMNS": "80"}).stdout.splitlines()
    assert listing[0].split() == [
        "status",
        "words",
        "model",
        "updated",
        "document",
        "resume",
        "with",
    ]
    row = listing[1]
    assert len(listing) == 2 and row.startswith("interrupted")
    document = str(tmp_path / LONG)
    assert f"  {document}  " in row and row.endswith(f"lwz resume {document}")


def test_piped_models_list_keeps_each_path_whole(lwz, tiny_path):
    listing = lwz("models", "list", env={"COLUMNS": "60"}).stdout.splitlines()
    tiny = [line for line in listing if line.startswith("tiny ")]
    assert len(tiny) == 1 and tiny[0].endswith(str(tiny_path)) and "MiB" in tiny[0]


def test_a_terminal_table_never_cuts_a_path():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    path = "/home/someone/documents/" + "x" * 70 + ".md"
    print_table(
        [Column("status"), Column("why", wrap=True), Column("document")],
        [["done", "a reason " * 5, path]],
        file=out,
    )
    assert path in out.getvalue()


def test_models_info_shows_the_quant_and_a_human_size_and_json_keeps_raw_values(lwz):
    shown = lwz("models", "info", "tiny", "--no-sha256").stdout
    assert re.search(r"file_type: Q4_1$", shown, flags=re.M)
    assert re.search(r"size: 93\.8 MiB$", shown, flags=re.M)
    raw = json.loads(lwz("models", "info", "tiny", "--no-sha256", "--json").stdout)
    assert raw["file_type"] == 3 and raw["size"] > 90_000_000


def test_runs_rm_and_doctor_give_human_binary_sizes(lwz, fake_model):
    fake_model([prose(200, seed=1)])
    assert lwz("write", "a 200-word note", "-m", "tiny", "-o", "n.md", "-q").returncode == 0
    removed = lwz("runs", "rm", "--finished")
    assert removed.returncode == 0
    assert re.search(r"freed \d+(\.\d)? (B|KiB|MiB)$", removed.stderr.splitlines()[-1])
    doctor = lwz("doctor").stdout
    sizes = [line for line in doctor.splitlines() if re.match(r"\s*\w+ (disk|model)", line)]
    assert sizes and not any(" GB" in line for line in sizes)
    assert all("GiB" in line or "MiB" in line for line in sizes)
