"""`lwz write` and `lwz resume` in-process on the scripted engine (milliseconds):
the `--json` contract of a planned run, and a Ctrl-C that `lwz resume` finishes.
The same commands on the real model, as processes, are in test_cli_write.py,
test_planned.py and test_resume.py."""

from __future__ import annotations

import json

from fake_engine import Reply, outline, prose

REQUEST = "Write a 900-word guide to green tea."
PLAN = outline(
    "Green Tea",
    [
        ("Origins", "where it grows", 300),
        ("Brewing", "water and time", 300),
        ("Health", "what studies say", 300),
    ],
)
ARGS = ["-m", "tiny", "-o", "tea.md", "--json", "--strategy", "planned", "--seed", "1"]


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_a_planned_write_streams_the_json_contract(lwz, fake_model, tmp_path):
    fake = fake_model([PLAN, *(prose(300, seed=i) for i in range(3))])
    result = lwz("write", REQUEST, *ARGS)
    assert result.returncode == 0, result.stderr
    evs = events(result.stdout)
    names = [e["event"] for e in evs]
    assert names[0] == "start" and names[-1] == "done" and "progress" not in names
    assert [n for n in names if n in ("plan", "section_start", "section_end")] == ["plan"] + [
        "section_start",
        "section_end",
    ] * 3
    assert names.count("checkpoint") >= 4  # after the outline and after every section
    start, done = evs[0], evs[-1]
    assert start["strategy"] == "planned" and start["target_words"] == 900
    assert start["n_ctx"] == fake.n_ctx and start["seed"] == 1 and start["resumed"] is False
    text = (tmp_path / "tea.md").read_text()
    assert "".join(e["text"] for e in evs if e["event"] == "text").strip() == text.strip()
    assert done["output"] == "tea.md" and done["planned_sections"] == 3
    assert done["generated_tokens"] == sum(len(c.pieces) for c in fake.calls)
    assert not (tmp_path / "tea.md.partial").exists() and fake.closed


def test_ctrl_c_exits_130_and_lwz_resume_finishes_the_document(lwz, fake_model, tmp_path):
    fake_model([PLAN, prose(300, seed=1), Reply(prose(300, seed=2), interrupt_after=30)])
    stopped = lwz("write", REQUEST, *ARGS)
    assert stopped.returncode == 130
    assert "lwz resume tea.md" in stopped.stderr and "Traceback" not in stopped.stderr
    last = events(stopped.stdout)[-1]
    assert last["event"] == "error" and last["exit_code"] == 130
    held = (tmp_path / "tea.md.partial").read_text()
    assert held.startswith("# Green Tea\n\n## Origins\n\n") and not (tmp_path / "tea.md").exists()
    runs = json.loads(lwz("runs", "--json").stdout)
    assert runs[0]["status"] == "interrupted"

    fake = fake_model([prose(280, seed=3), prose(300, seed=4)])
    resumed = lwz("resume", "tea.md", "--json")
    assert resumed.returncode == 0, resumed.stderr
    evs = events(resumed.stdout)
    assert evs[0]["resumed"] is True and evs[-1]["resumed"] is True
    assert fake.calls[0].evaluated == 1  # the KV snapshot saved at Ctrl-C held the rest
    final = (tmp_path / "tea.md").read_text()
    assert final.startswith(held.strip())
    assert [line[3:] for line in final.splitlines() if line.startswith("## ")] == [
        "Origins",
        "Brewing",
        "Health",
    ]
    assert not (tmp_path / "tea.md.partial").exists()
    assert json.loads(lwz("runs", "--json").stdout)[0]["status"] == "done"


def test_a_fifo_as_output_is_written_through_and_stays_a_fifo(lwz, fake_model, tmp_path):
    """Issue 14: `-o` that is not a regular file (a FIFO, a device, /dev/stdout) is written
    through as a stream; nothing is renamed over it or written beside it."""
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    fake_model([PLAN, *(prose(300, seed=i) for i in range(3))])
    args = ["-m", "tiny", "-o", "pipe.md", "--json", "--strategy", "planned"]
    result = lwz("write", REQUEST, *args)
    reader.join(timeout=10)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a FIFO, not a file renamed over it
    assert received and received[0].startswith("# Green Tea\n\n## Origins")
    text = "".join(e["text"] for e in events(result.stdout) if e["event"] == "text")
    assert received[0].strip() == text.strip()
    assert not (tmp_path / "pipe.md.partial").exists()
