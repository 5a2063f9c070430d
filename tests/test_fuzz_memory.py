"""Fuzz: memory notes as models write them (`clean_note`) and the block built from them
(`memory_block`). Any text gives a note without raising, within its bound, without a
line break (a note is one line of the block), and in time linear in the text; any
notes give a block within the memory's bound."""

from __future__ import annotations

import time

from hypothesis import example, given
from hypothesis import strategies as st

from lwz_cli.writing.length import count_words
from lwz_cli.writing.memory import clean_note, memory_block, memory_words, note_request, note_words

ATOMS = st.sampled_from(
    [
        "<think>", "</think>", "<answer>", "</answer>", "<|im_end|>", "; ", "；", "\n", "- ",
        "1. ", "## ", "* ", "Kenji", "farmer", "400 m", "茶园", "海拔", " ", "tea tea tea ",
        note_request("en"), note_request("zh"), "x" * 50, ".", "。",
    ]
)  # fmt: skip
NOTES = st.lists(st.one_of(ATOMS, st.text(max_size=12)), max_size=40).map("".join)


@given(st.one_of(NOTES, st.text()), st.sampled_from(["en", "zh"]), st.booleans())
@example("tea " * 5000, "en", True)
def test_any_answer_cleans_to_a_bounded_one_line_note(text, language, complete):
    note = clean_note(text, language, complete=complete)
    assert count_words(note) <= note_words(language)
    assert "\n" not in note and note == note.strip()


@given(st.lists(st.tuples(st.text(max_size=20), NOTES), max_size=30), st.sampled_from(["en", "zh"]))
def test_any_notes_give_a_block_within_the_memory_bound(raw, language):
    notes = [(title.replace("\n", " "), clean_note(note, language)) for title, note in raw]
    block = memory_block(notes, language)
    if block is not None:
        body = block.split("\n", 1)[1]
        assert count_words(body) <= memory_words(language) + 2 * len(notes)  # "- " marks


def test_a_huge_answer_is_cleaned_in_linear_time():
    text = "; ".join(f"fact {i}" for i in range(20_000))
    started = time.monotonic()
    clean_note(text, "en")
    assert time.monotonic() - started < 0.5
