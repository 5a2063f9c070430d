"""A run another lwz is writing is never restarted or resumed under it (issue 14):
`--restart` used to delete the live run's journal and `PATH.partial`."""

from __future__ import annotations

import pytest

from lwz_cli.errors import UsageError
from lwz_cli.journal import Journal
from lwz_cli.output import DocumentOutput
from lwz_cli.runstate import Checkpoint
from lwz_cli.writing.resume import open_run
from lwz_cli.writing.session import WriteRequest, manifest_for, prepare


@pytest.mark.parametrize("restart", [True, False])
def test_a_live_run_is_neither_restarted_nor_resumed(tmp_path, monkeypatch, restart):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    output = tmp_path / "doc.md"
    prepared = prepare(
        WriteRequest(prompt="Write a 300-word note on tea.", model="tiny", output=output)
    )
    writer = Journal.create(manifest_for(prepared), output)
    writer.lock()  # the first lwz, still writing
    writer.checkpoint(Checkpoint(seq=0, generated=[]))  # PATH.partial follows a checkpoint
    DocumentOutput(output).write_partial("## Tea\n\nSaved so far.\n")
    try:
        with pytest.raises(UsageError, match="another lwz is writing"):
            open_run(prepared, restart=restart)
        assert (writer.dir / "manifest.json").is_file()  # its journal is intact
        assert DocumentOutput(output).partial.read_text() == "## Tea\n\nSaved so far.\n"
    finally:
        writer.unlock()
    # once it has stopped, the same request resumes (or restarts) as before
    _, journal, _ = open_run(prepared, restart=restart)
    assert journal.dir == writer.dir
