"""The single-pass writer as a library, on the real tiny model."""

import dataclasses

import pytest

from lwz_cli.errors import RuntimeFailure
from lwz_cli.events import TextEvent, ThinkEvent
from lwz_cli.writing.parser import THINK, ProtocolParser
from lwz_cli.writing.session import WriteRequest, prepare
from lwz_cli.writing.single import SinglePass

pytestmark = pytest.mark.slow  # the real tiny model


def test_think_text_never_becomes_the_document(tiny_engine, tmp_path):
    prepared = prepare(
        WriteRequest(
            prompt="Write about tea.", model="tiny", output=tmp_path / "tea.md", max_tokens=20
        )
    )
    events = []
    writer = SinglePass(prepared, events.append, engine=tiny_engine)
    writer.draft.mode = THINK  # as if the model opened <think> and never closed it
    writer.draft.parser = ProtocolParser(mode=THINK)
    with pytest.raises(RuntimeFailure, match="spent all 20 tokens thinking"):
        writer.run()
    assert not (tmp_path / "tea.md").exists()
    assert any(isinstance(e, ThinkEvent) for e in events)
    assert not any(isinstance(e, TextEvent) for e in events)


def test_library_run_returns_the_document_and_done(tiny_engine, tmp_path):
    prepared = prepare(
        WriteRequest(
            prompt="Write a 100-word note about rain.",
            model="tiny",
            output=tmp_path / "rain.md",
            max_tokens=300,
        )
    )
    prepared = dataclasses.replace(
        prepared,
        request=dataclasses.replace(
            prepared.request, sampling=dataclasses.replace(prepared.request.sampling, seed=4)
        ),
    )
    events = []
    result = SinglePass(prepared, events.append, engine=tiny_engine).run()
    assert (tmp_path / "rain.md").read_text() == result.document
    assert result.done.words > 10 and result.done.target_words == 100
    assert events[-1] is result.done
