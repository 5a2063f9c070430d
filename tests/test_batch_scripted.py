"""`lwz batch` in-process on the scripted engine and without a model: the --json
contract it shares with `lwz write`, the dry run's checks, and --model/--words."""

from __future__ import annotations

import json

from fake_engine import Reply, prose
from lwz_cli.models.registry import DEFAULT_MODEL

LOOP = "Green tea is picked in spring and dried the same day on the hills. "
TEXT = "# Tea\n\n## One\n\n" + prose(40, seed=1) + "\n\n## Two\n\n" + prose(20, seed=2) + " "
REQUEST = "Write 200 words about tea."


def _rewinding_script():
    """A draft that loops on its first three generations (three rewinds), then ends."""
    calls = []

    def reply(prompt: str) -> Reply:
        calls.append(prompt)
        if len(calls) == 1:
            return Reply(TEXT, loop=LOOP)
        if len(calls) <= 3:
            return Reply(prose(10, seed=len(calls)) + " ", loop=LOOP)
        return Reply(prose(10, seed=9))

    return reply


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_batch_json_is_write_json_for_each_job_plus_its_job_events(lwz, fake_model, tmp_path):
    fake_model(_rewinding_script())
    written = _events(
        lwz("write", REQUEST, "-m", "tiny", "-o", "w.md", "--json", "--seed", "1").stdout
    )
    (tmp_path / "r.yaml").write_text(
        f"name: r\nmodel: tiny\nparams: {{seed: 1}}\nprompt: {REQUEST}\noutput: b.md\n"
    )
    fake_model(_rewinding_script())
    batch = _events(lwz("batch", "r.yaml", "--json").stdout)

    names = [e["event"] for e in batch]
    assert names[0] == "job_start" and names[-2:] == ["job_end", "batch"]
    assert "progress" not in names
    assert sum(e["event"] == "warning" for e in batch) >= 2  # it did rewind
    job = [e for e in batch if e["event"] not in ("job_start", "job_end", "batch")]
    assert all(e.pop("job") == "r/b.md" for e in job)
    # the same events, in the same order, as `lwz write --json` on the same script
    assert [e["event"] for e in job] == [e["event"] for e in written]
    sections = [(e["event"], e["index"]) for e in job if e["event"].startswith("section")]
    assert sections == [
        (e["event"], e["index"]) for e in written if e["event"].startswith("section")
    ]
    assert len(sections) == len(set(sections))  # no section event twice


RECIPE = """\
name: guides
model: {model}
words: 3000
prompt: Write a {{words}}-word guide to {{topic}}.
output: "out/{{topic}}.md"
items:
  - {{topic: tea}}
  - {{topic: coffee, words: 1500}}
"""


def test_dry_run_refuses_what_the_run_refuses_and_shows_model_and_output(lwz, tmp_path):
    (tmp_path / "g.yaml").write_text(RECIPE.format(model=DEFAULT_MODEL))
    dry = lwz("batch", "g.yaml", "--dry-run")
    assert dry.returncode == 2  # as the run would: the model is not downloaded
    rows = [line.split() for line in dry.stdout.splitlines()]  # the table is on stdout
    assert rows[0] == ["job", "action", "model", "words", "output", "why"]
    assert rows[1][:5] == [
        "guides/out/tea.md",
        "refused",
        DEFAULT_MODEL,
        "3,000",
        str(tmp_path / "out" / "tea.md"),
    ]
    assert "the model is not downloaded" in dry.stdout
    assert f"`lwz models pull {DEFAULT_MODEL}`" in dry.stderr
    # the error names the recipe's model: line (3), not an item's
    assert f"g.yaml:2: model '{DEFAULT_MODEL}'" in dry.stderr
    assert "--model tiny" in dry.stderr
    run = lwz("batch", "g.yaml")
    assert run.returncode == 2 and dry.stderr.splitlines()[-1] == run.stderr.splitlines()[-1]

    as_json = _events(lwz("batch", "g.yaml", "--dry-run", "--json").stdout)
    assert [(e["action"], e["model"]) for e in as_json] == [("refused", DEFAULT_MODEL)] * 2


def test_model_and_words_flags_win_over_the_recipe(lwz, tmp_path):
    (tmp_path / "g.yaml").write_text(RECIPE.format(model=DEFAULT_MODEL))
    dry = lwz("batch", "g.yaml", "--dry-run", "--json", "--model", "tiny", "--words", "200")
    assert dry.returncode == 0, dry.stderr
    jobs = _events(dry.stdout)
    assert [(e["action"], e["model"], e["words"]) for e in jobs] == [("write", "tiny", 200)] * 2
    assert jobs[1]["prompt"] == "Write a 200-word guide to coffee."  # {words} too

    # from config.yaml the model is only a default: the recipe's model: wins
    config = tmp_path / "lwz-home" / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("model: tiny\n")
    configured = _events(lwz("batch", "g.yaml", "--dry-run", "--json").stdout)
    assert {e["model"] for e in configured} == {DEFAULT_MODEL}
    assert lwz("batch", "g.yaml", "--dry-run", "--words", "0").returncode == 2
