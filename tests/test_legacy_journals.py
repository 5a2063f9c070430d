"""Journals written by lwz 0.1.0 (before the typed run state) still resume.

tests/fixtures/journals/{single,planned}/run is a run folder as 0.1.0 left it after
`kill -9` mid-section (recorded with `lwz write ... -o doc.md --json --no-kv-snapshot`,
see each manifest's request), with the `doc.md.partial` it had written. The copy is moved
to this machine: its output and model paths are rewritten and the manifest re-sealed, as
0.1.0 sealed it (sha256 of the canonical JSON), which is all a move changes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "journals"


def seal(data: dict) -> str:
    body = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return json.dumps({"sha256": digest, "data": data}, ensure_ascii=False, sort_keys=True) + "\n"


def install(kind: str, tmp_path: Path, env: dict, tiny_path: Path) -> Path:
    from lwz_cli.journal import run_id_for

    output = tmp_path / "doc.md"
    run = Path(env["LWZ_HOME"]) / "data" / "runs" / run_id_for(output)
    shutil.copytree(FIXTURES / kind / "run", run)
    shutil.copy(FIXTURES / kind / "doc.md.partial", tmp_path / "doc.md.partial")
    wrapper = json.loads((run / "manifest.json").read_text())
    manifest = wrapper["data"]
    assert manifest["format"] == 1 and manifest["lwz_version"] == "0.1.0"
    manifest["output"] = str(output.resolve())
    manifest["id"] = run.name
    manifest["model"]["path"] = str(tiny_path)
    (run / "manifest.json").write_text(seal(manifest))
    return run


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["single", "planned"])
def test_a_run_killed_under_0_1_0_resumes(kind, run_lwz, lwz_env, tmp_path, tiny_path):
    run = install(kind, tmp_path, lwz_env, tiny_path)
    partial = (tmp_path / "doc.md.partial").read_text()
    listed = run_lwz("runs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert run.name in listed.stdout
    result = run_lwz("resume", "doc.md", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    done = events[-1]
    assert done["event"] == "done" and done["resumed"] is True
    assert done["strategy"] == kind
    final = (tmp_path / "doc.md").read_text()
    assert final.startswith(partial.strip())  # nothing the user already had is lost
    assert len(final) > len(partial)
    assert not (tmp_path / "doc.md.partial").exists()
