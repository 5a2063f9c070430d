"""The single strategy's state machine on the scripted engine (milliseconds each):
think and answer, a short answer continued, a model that never leaves <think>,
and a Ctrl-C resumed from the journal's checkpoint with its KV snapshot."""

from __future__ import annotations

import threading

import pytest

from fake_engine import FakeEngine, Recorder, Reply, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import Interrupted, RuntimeFailure
from lwz_cli.journal import Journal
from lwz_cli.output import DocumentOutput
from lwz_cli.writing.length import count_words
from lwz_cli.writing.resume import prepare_resume
from lwz_cli.writing.run import write_document
from lwz_cli.writing.session import WriteRequest, manifest_for, prepare


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    return tmp_path


def single(tmp_path, request: str = "Write a 300-word note about green tea.", **kw):
    prepared = prepare(
        WriteRequest(
            prompt=request,
            model="tiny",
            strategy="single",
            output=tmp_path / "note.md",
            sampling=Sampling(seed=2),
            **kw,
        )
    )
    assert prepared.strategy == "single"
    return prepared


def answer(body: str) -> str:
    return f"<think>A short plan.</think><answer># Green Tea\n\n## Leaves\n\n{body}</answer>"


def test_think_goes_to_think_events_and_the_answer_to_the_file(home):
    fake = FakeEngine([answer(prose(280, seed=1))])
    events = Recorder()
    result = write_document(single(home), events, engine=fake)
    text = (home / "note.md").read_text()
    assert text == result.document and text.startswith("# Green Tea\n\n## Leaves\n\n")
    assert "A short plan." not in text and result.think == "A short plan."
    assert "".join(e["text"] for e in events if e["event"] == "text").strip() == text.strip()
    assert [e["title"] for e in events if e["event"] == "section_start"] == ["Green Tea", "Leaves"]
    done = events[-1]
    assert done["event"] == "done" and done["finish_reason"] == "stop"
    assert done["words"] == count_words(text) and done["continuations"] == 0
    assert fake.calls[0].stop == ("</answer>", "<|im_end|>")
    assert done["tokens_per_second"] == pytest.approx(100.0)  # the fake decodes at 100 tok/s


def test_a_short_answer_is_continued_then_reported_short(home):
    first, second = prose(40, seed=1), prose(40, seed=2)
    # the third and fourth tries end at once: the second stall in a row is the last
    fake = FakeEngine([first, second, "", ""])
    events = Recorder()
    result = write_document(single(home), events, engine=fake)
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    one, two = count_words(first), count_words(first) + count_words(second)
    assert warnings[:3] == [
        f"the model stopped at {one} of 300 words; continuing (1/6)",
        f"the model stopped at {two} of 300 words; continuing (2/6)",
        f"the model stopped at {two} of 300 words; continuing (3/6)",
    ]
    assert warnings[3] == (
        f"the document ends short at {two} of 300 words: 2 continuations in a row added nothing"
    )
    assert f"the document is short: {two} of 300 words ({100 * two // 300}%)" in warnings
    # a continuation is the same answer: its prompt is the last one plus the text so far
    assert fake.prompts[1] == fake.prompts[0] + first + "\n\n"
    # ...sampled with another seed each time, so a model that ended at once may not again
    seeds = [call.sampling.seed for call in fake.calls]
    assert len(set(seeds)) == 4
    assert result.document == f"{first}\n\n{second}\n" and events[-1]["continuations"] == 3
    assert fake.replies_left == 0


def test_a_model_that_never_leaves_think_writes_no_file(home):
    # it is nudged on (no document words yet), then stalls twice with nothing to add
    fake = FakeEngine([Reply("<think>Let me think. " + prose(20, seed=1)), Reply(""), Reply("")])
    events = Recorder()
    with pytest.raises(RuntimeFailure, match="the model wrote no document: it stopped inside"):
        write_document(single(home), events, engine=fake)
    assert not (home / "note.md").exists()
    assert any(e["event"] == "think" for e in events)
    assert not any(e["event"] == "text" for e in events)


def test_ctrl_c_then_resume_replays_the_saved_tokens(home):
    prepared = single(home)
    output = prepared.request.output
    journal = Journal.create(manifest_for(prepared), output)
    text = answer(prose(280, seed=1))
    fake = FakeEngine([Reply(text, interrupt_after=120)])
    with pytest.raises(Interrupted, match="words are saved"):
        write_document(
            prepared, lambda e: None, engine=fake, journal=journal, cancel=threading.Event()
        )
    assert Journal.find(output).manifest.status == "interrupted" and not output.exists()
    checkpoint = Journal.find(output).latest_checkpoint()
    assert len(checkpoint.generated) == 120
    assert DocumentOutput(output).partial.read_text() == "# Green Tea\n\n"  # the finished sections

    prepared2, checkpoint2 = prepare_resume(Journal.find(output))
    saved = fake.decode(checkpoint.generated)
    fake2 = FakeEngine([text[len(saved) :]])  # the model goes on where it stopped
    events = Recorder()
    write_document(
        prepared2, events, engine=fake2, journal=Journal.find(output), checkpoint=checkpoint2
    )
    assert fake2.calls[0].prompt_tokens == prepared.prompt_tokens + checkpoint.generated
    assert fake2.calls[0].evaluated == 1  # the KV snapshot held everything else
    progress = next(e for e in events if e.get("phase") == "resumed")
    assert progress["think_tail"] == "A short plan." and "## Leaves" in progress["draft_tail"]
    final = output.read_text()
    assert final.startswith("# Green Tea\n\n## Leaves\n\n") and final.strip().endswith(".")
    assert final.strip() == text.split("<answer>")[1].split("</answer>")[0].strip()
    done = events[-1]
    assert done["resumed"] is True and done["resumed_tokens"] == 120
    assert not DocumentOutput(output).partial.exists()


def test_a_short_chinese_document_is_reported_in_zi(home):
    """Issue 13: Chinese runs count 字, and their warnings say so."""
    short = "绿茶产自中国南方。春天采摘嫩叶。水温八十度最好。"
    fake = FakeEngine([f"<think>计划。</think><answer>{short}</answer>"] + ["</answer>"] * 5)
    events = Recorder()
    write_document(single(home, "写一篇600字的绿茶介绍。"), events, engine=fake)
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("of 600 字" in w for w in warnings), warnings
    assert not any("600 words" in w for w in warnings)


def test_words_cut_from_a_loop_are_still_counted_after_a_resume(home):
    """`done.cut_words` and `repetition_rewinds` of a single pass survive a stop and
    resume (they were 0 after one: only the planned strategy kept them)."""
    prepared = single(home)
    output = prepared.request.output
    journal = Journal.create(manifest_for(prepared), output)
    loop = "The kettle sings on the stove while the leaves wait in the pot. "
    looping = Reply(answer(prose(30, seed=1)).split("</answer>")[0] + " ", loop=loop)
    rest = prose(300, seed=2) + "</answer>"
    replies = [looping] * 4 + [Reply(rest, interrupt_after=40)]
    fake = FakeEngine(lambda prompt: replies.pop(0))
    with pytest.raises(Interrupted):
        write_document(
            prepared, lambda e: None, engine=fake, journal=journal, cancel=threading.Event()
        )
    checkpoint = Journal.find(output).latest_checkpoint()
    assert checkpoint.cut_words > 0 and checkpoint.rewinds == 4

    prepared2, checkpoint2 = prepare_resume(Journal.find(output))
    fake2 = FakeEngine([prose(300, seed=3) + "</answer>"])
    events = Recorder()
    write_document(
        prepared2, events, engine=fake2, journal=Journal.find(output), checkpoint=checkpoint2
    )
    done = events[-1]
    assert done["cut_words"] == checkpoint.cut_words and done["repetition_rewinds"] == 4
