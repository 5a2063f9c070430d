"""The repetition guard on crafted loops, and the draft's rewind on the real model."""

import pytest

from fake_engine import FakeEngine, Recorder, Reply, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.writing.draft import MAX_REWINDS, Draft
from lwz_cli.writing.repetition import RepetitionGuard, SentenceSplitter, repetition_rate


def sentences(text, step=3):
    splitter, out = SentenceSplitter(), []
    for i in range(0, len(text), step):
        out += splitter.feed(text[i : i + step])
    return out


def test_splitter_offsets_and_languages():
    text = "Hello there. This is a test!\n## Head\n中文句子。第二句！tail"
    found = sentences(text, step=1)
    assert [s for _, s in found] == [
        "Hello there. ",
        "This is a test!\n",
        "## Head\n",
        "中文句子。",
        "第二句！",
    ]
    for start, sentence in found:
        assert text[start : start + len(sentence)] == sentence


def test_catches_a_repeated_sentence_despite_case_and_numbers():
    guard = RepetitionGuard()
    assert not guard.is_repeat("Green tea supports your mental health and well-being.")
    assert not guard.is_repeat("It is often recommended by many experts in 2024.")
    assert guard.is_repeat("Green tea supports your MENTAL health and well-being!")
    assert guard.is_repeat("It is often recommended by many experts in 2025.")


def test_short_lines_may_repeat_but_not_in_a_run():
    guard = RepetitionGuard()
    assert not guard.is_repeat("Yes.\n")
    assert not guard.is_repeat("Some real sentence that is long enough here.")
    assert not guard.is_repeat("Yes.\n")
    assert [guard.is_repeat("#\n") for _ in range(3)] == [False, False, True]
    code = RepetitionGuard()
    assert [code.is_repeat("}\n") for _ in range(2)] == [False, False]  # code may


def test_the_same_line_twice_running_is_a_loop():
    guard = RepetitionGuard()
    assert not guard.is_repeat("N. Early Humans | 490 words\n")
    assert guard.is_repeat("N. Early Humans | 490 words\n")


def test_a_heading_seen_before_is_a_repeat_wherever_it_comes():
    guard = RepetitionGuard()
    assert not guard.is_repeat("### Special Guest:\n")
    assert not guard.is_repeat("The guest arrived late and sat by the window, smiling.")
    assert guard.is_repeat("### Special Guest:\n")
    assert not guard.is_repeat("## Chapter 2\n") and not guard.is_repeat("## Chapter 3\n")


def test_earlier_sections_are_remembered():
    guard = RepetitionGuard()
    guard.remember("## Soil\n\nLoose soil full of compost feeds the roots all season.\n\n")
    assert guard.is_repeat("Loose soil full of compost feeds the roots all season.")
    assert guard.is_repeat("### Soil\n")
    assert not guard.is_repeat("Water deeply once a week rather than a little every day.")


def test_window_forgets_old_sentences():
    guard = RepetitionGuard(window=3)
    guard.is_repeat("The first sentence is long enough to count.")
    for i in range(3):
        guard.is_repeat(f"Filler sentence number {'x' * (i + 1)} that is long enough.")
    assert not guard.is_repeat("The first sentence is long enough to count.")


def test_repetition_rate():
    assert repetition_rate("a b c d e f g") == 0
    assert repetition_rate("one two three four " * 5) > 0.7


def test_a_loop_that_never_ends_is_cut_where_it_started():
    """A model that loops on every resample: after MAX_REWINDS tries the draft ends,
    with the looping sentence shown once and nothing shown that is not the text."""
    loop = "Green tea is picked in spring and dried the same day on the hills. "
    fake = FakeEngine([Reply(prose(30, seed=1) + " ", loop=loop)] * (MAX_REWINDS + 1))
    events = Recorder()
    context = fake.tokenize(
        "<|im_start|>user\nWrite about tea.<|im_end|>\n<|im_start|>assistant\n", add_bos=False
    )
    draft = Draft(fake, events, context=context, stop=("<|im_end|>",), sampling=Sampling(seed=3))
    assert draft.run(2000) == "repetition"
    draft.flush()
    assert draft.text().count(loop.strip()) == 1 and draft.rewinds == MAX_REWINDS
    assert "".join(e["text"] for e in events if e["event"] == "text") == draft.text()
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert len(warnings) == MAX_REWINDS and warnings[-1].endswith(f"({MAX_REWINDS}/{MAX_REWINDS})")
    # each resample asked for a new seed and a stronger repeat penalty
    seeds = [call.sampling.seed for call in fake.calls]
    assert seeds[0] == 3 and len(set(seeds)) == MAX_REWINDS
    assert [c.sampling.repeat_penalty for c in fake.calls][1:] == pytest.approx([1.1, 1.2, 1.3])


@pytest.mark.slow
def test_draft_rewinds_a_loop_on_the_real_model(tiny_engine):
    """SmolLM2 falls into loops; the guard must keep any sentence from appearing twice."""
    from lwz_cli.engine.protocol import Sampling
    from lwz_cli.writing.draft import Draft
    from lwz_cli.writing.repetition import normalise

    prompt = (
        "<|im_start|>user\nWrite a 400-word blog post about green tea.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    events: list = []
    draft = Draft(
        tiny_engine,
        events.append,
        context=tiny_engine.tokenize(prompt, add_bos=False),
        stop=("<|im_end|>",),
        sampling=Sampling(seed=3, temperature=0.6),
    )
    draft.run(900)
    draft.flush()
    text = draft.text()
    keys = [normalise(s) for _, s in sentences(text, step=50)]
    long_keys = [k for k in keys if len(k) >= 24]
    assert len(long_keys) == len(set(long_keys))  # no sentence twice
    from lwz_cli.events import TextEvent

    released = "".join(e.text for e in events if isinstance(e, TextEvent))
    assert released == text  # what was shown is exactly the document


def test_run_on_loops_without_full_stops_are_checked_in_pieces():
    splitter = SentenceSplitter()
    pieces = splitter.feed("and the tea is good " * 100)
    assert pieces and all(len(s) <= 600 for _, s in pieces)
    guard = RepetitionGuard()
    assert any(guard.is_repeat(s) for _, s in pieces)


def test_paraphrase_loops_are_caught_by_the_4gram_rate():
    guard = RepetitionGuard()
    looping = [
        f"Green tea is good for your health and it is good for {w} too."
        for w in (
            "you",
            "me",
            "us",
            "them",
            "her",
            "him",
            "all",
            "most",
            "many",
            "some",
            "few",
            "each",
            "both",
            "either",
            "anyone",
            "everyone",
        )
    ]
    assert any(guard.is_repeat(s) for s in looping)
    prose = RepetitionGuard()
    text = [
        "Tea arrived in Europe in the seventeenth century",
        "Dutch traders carried it from Java",
        "Within decades it had reached London coffee houses",
        "The East India Company soon dominated the trade",
        "Smuggling flourished because of heavy taxes",
        "Porcelain cups and silver pots became symbols of status",
        "Afternoon tea appeared in the 1840s",
        "Tea gardens in Assam changed the market",
        "Ceylon followed after a coffee blight",
        "Today India and Kenya export more than China.",
    ]
    assert not any(prose.is_repeat(s + ".") for s in text)


def test_loops_of_short_chinese_sentences_are_caught():
    guard = RepetitionGuard()
    loop = ["郭沫若是作家。", "他写了很多诗。", "郭沫若是诗人。", "他写了很多书。"] * 30
    assert any(guard.is_repeat(s) for s in loop)
