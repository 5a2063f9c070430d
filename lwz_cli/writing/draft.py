"""One stretch of generation: engine tokens -> parser -> guarded, gated events.

Both strategies write through a `Draft`: the single pass is one draft over the
whole answer, the planned strategy one draft per section. A draft

- parses the stream (think / text / sections) and keeps the document text;
- cuts the document into sentences and checks each finished one against the
  repetition guard; text is released to the views only once its sentence has
  passed, so a loop caught at its second occurrence is never shown;
- on a repeat, rewinds to the start of that sentence (token-exactly, by
  replaying the kept token ids through a fresh parser) and resamples with a
  new seed and a stronger repeat penalty, a bounded number of times;
- stops at a word limit on a sentence boundary, when asked to.

Everything here costs the same per token at the end of a document as at the
start; replays happen only on rewinds and resumes.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import replace

from lwz_cli.clock import active_seconds
from lwz_cli.engine.protocol import Engine, Sampling
from lwz_cli.events import (
    Emit,
    SectionEndEvent,
    SectionStartEvent,
    TextEvent,
    ThinkEvent,
    TickEvent,
    WarningEvent,
)
from lwz_cli.writing.parser import ParserEvent, ProtocolParser
from lwz_cli.writing.repetition import RepetitionGuard, SentenceSplitter, normalise

PROGRESS_INTERVAL = 0.25  # seconds between `progress` ticks to the views
MAX_REWINDS = 4  # per draft: after that the loop is cut off where it started
HARD_CAP = 1.3  # stop mid-sentence past this multiple of the word limit
RESEED_STEP = 7919  # a retry's seed is seed + this x attempt: a prime, far from the first


class Draft:
    def __init__(
        self,
        engine: Engine,
        emit: Emit,
        *,
        context: list[int],
        stop: tuple[str, ...],
        sampling: Sampling,
        mode: str = "pre",
        cancel: threading.Event | None = None,
        on_clean: Callable[[Draft], None] | None = None,
        on_event: Callable[[ParserEvent], None] | None = None,
        min_heading: int = 1,
        history: str = "",
        title: str = "",
    ):
        self.engine = engine
        self.emit = emit
        self.context = list(context)  # the tokens before this draft's own output
        self.stop = stop
        self.sampling = sampling
        self.mode = mode
        self.cancel = cancel
        self.on_clean = on_clean
        self.on_event = on_event  # sees every parser event, released or not (for state)
        self.min_heading = min_heading  # headings above this level are demoted to it
        # text before this draft (earlier sections): a sentence or heading from it that
        # comes back here is a repeat too
        self.history = history
        self.title = title  # the section's own title: restating it is no repeat
        self.cut_words = 0  # words of repeated text dropped when the rewinds ran out
        self.rewinds = 0
        self.resamples = 0  # continuations sampled with another seed (`continue_short`)
        self.prompt_tokens_evaluated = 0
        self.decode_seconds = 0.0
        self.prefill_seconds = 0.0
        self.new_tokens = 0
        self.finish_reason = ""
        self._reset_state()

    # -- state ------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.parser = ProtocolParser(mode=self.mode, min_heading=self.min_heading)
        self.generated: list[int] = []
        self.model_tokens = 0  # model tokens `generated` stands for (== its length in-process)
        self.token_marks: list[int] = []  # model_tokens after each generated id
        # document length after each generated token, counting text the parser holds
        # (a heading line until its end): a rewind to an offset drops a held heading
        self.marks: list[int] = []
        self.clean_count = 0
        self.doc: list[str] = []
        self.doc_len = 0
        self.think: list[str] = []
        self.splitter = SentenceSplitter()
        self.guard = RepetitionGuard()
        if self.history:
            self.guard.remember(self.history)
        self.guard.allowed = normalise(self.title)
        self.released = 0  # document offset up to which events went out
        self.section_starts: list[int] = []  # document offset of each heading
        # (doc offset at emit, event): parser events held until their sentence is checked
        self.pending: list[tuple[int, TextEvent | SectionStartEvent | SectionEndEvent]] = []

    @property
    def words(self) -> int:
        return self.parser.words

    def text(self) -> str:
        joined = "".join(self.doc)
        self.doc = [joined]
        return joined

    def think_text(self) -> str:
        return "".join(self.think)

    # -- feeding ----------------------------------------------------------------

    def _absorb(self, events: list[ParserEvent], live: bool) -> int | None:
        """Take parser events; returns the offset of a repeated sentence, if any."""
        repeat_at = None
        for event in events:
            if self.on_event is not None:
                self.on_event(event)
            if isinstance(event, ThinkEvent):
                self.think.append(event.text)
                if live:
                    self.emit(event)
                continue
            offset = self.doc_len
            if isinstance(event, TextEvent):
                self.doc.append(event.text)
                self.doc_len += len(event.text)
                self.pending.append((offset, event))
                for start, sentence in self.splitter.feed(event.text):
                    if self.guard.is_repeat(sentence) and live and repeat_at is None:
                        repeat_at = start
                    elif repeat_at is None:
                        self._release(start + len(sentence), live)
            else:
                if isinstance(event, SectionStartEvent):
                    self.section_starts.append(offset)
                self.pending.append((offset, event))
        return repeat_at

    def _release(self, upto: int, live: bool, *, exact: bool = False) -> None:
        """Send pending events up to the last token boundary at or before `upto`
        (or exactly `upto`: for text already sent before a rewind)."""
        if exact:
            boundary = upto
        else:
            index = bisect_right(self.marks, upto)
            boundary = self.marks[index - 1] if index else 0
        keep: list[tuple[int, TextEvent | SectionStartEvent | SectionEndEvent]] = []
        for offset, event in self.pending:
            if not isinstance(event, TextEvent):
                if offset <= boundary:
                    if live:
                        self.emit(event)
                else:
                    keep.append((offset, event))
                continue
            text = event.text
            end = offset + len(text)
            if end <= boundary:
                if live:
                    self.emit(event)
            elif offset < boundary:
                cut = boundary - offset
                if live:
                    self.emit(TextEvent(text[:cut]))
                keep.append((boundary, TextEvent(text[cut:])))
            else:
                keep.append((offset, event))
        self.pending = keep
        self.released = max(self.released, boundary)

    def flush(self) -> None:
        """Release everything (end of the draft)."""
        for event in self.parser.finish():
            self._absorb([event], live=True)
        for _offset, event in self.pending:
            self.emit(event)
        self.pending = []
        self.released = self.doc_len

    def replay(
        self, tokens: list[int], *, sent: int | None = None, token_marks: list[int] | None = None
    ) -> None:
        """Rebuild all state from token ids, silently (no events out). `sent`: how
        much of the document already went out (a rewind); None for a resume, where
        text up to the last finished sentence counts as sent."""
        self._reset_state()
        detok = self.engine.detokenizer()
        for token in tokens:
            text = detok.feed(token)
            if text:
                self._absorb(self.parser.feed(text), live=False)
            self.generated.append(token)
            self.marks.append(self.doc_len + self.parser.held_chars)
        self.clean_count = len(self.generated)
        if token_marks is None:  # ids only (a resume): model tokens by the engine's count
            total, n = self.engine.count_tokens(tokens), len(tokens)
            token_marks = [(i + 1) * total // n for i in range(n)]
        self.token_marks = list(token_marks)
        self.model_tokens = self.token_marks[-1] if self.token_marks else 0
        if sent is None:  # resume: the unfinished sentence is pending again
            self._release(self.splitter.offset, live=False)
        else:  # rewind: what went out stays out, the rest goes out when checked
            self._release(min(sent, self.doc_len), live=False, exact=True)

    # -- running ----------------------------------------------------------------

    def run(self, max_tokens: int, *, word_limit: int | None = None) -> str:
        """Generate until EOS/stop, `max_tokens` new tokens, the word limit (on a
        sentence boundary), or cancel. Returns the finish reason."""
        sampling = self.sampling
        remaining = max_tokens
        attempts = 0
        while True:
            reason, repeat_at, used = self._stream(remaining, sampling, word_limit)
            remaining -= used
            if reason == "repeat":
                self.rewinds += 1
                attempts += 1
                self.emit(
                    WarningEvent(
                        f"repetition caught at word {self.words}; rewinding "
                        f"and resampling ({attempts}/{MAX_REWINDS})"
                    )
                )
                words = self.words
                self._rewind_to(repeat_at)
                if attempts >= MAX_REWINDS:
                    # the loop is not kept: its text from the repeat on is cut, and the
                    # caller moves on (continues afresh or ends the section)
                    self.cut_words += max(0, words - self.words)
                    reason = "repetition"
                    break
                base = sampling.seed if sampling.seed is not None else 1234
                sampling = replace(
                    sampling,
                    seed=base + RESEED_STEP * self.rewinds,
                    repeat_penalty=min(1.3, max(sampling.repeat_penalty, 1.0) + 0.1),
                    temperature=min(1.0, sampling.temperature + 0.1),
                )
                if remaining > 0:
                    continue
                reason = "length"
            heading_cut = self.splitter.pending.lstrip().startswith("#")
            if reason == "budget" or (heading_cut and reason != "cancelled"):
                # end on the sentence boundary; never on a heading cut short
                self._rewind_to(self.splitter.offset)
            break
        self.finish_reason = reason
        return reason

    def continue_short(self, *, looped: bool) -> None:
        """Go on with a draft that ended short (see `continuing`): a paragraph break
        as the model's own text, and another seed, so a model that ended at once or
        looped does not take the same path again; after a loop, with the stronger
        repeat penalty a rewind uses."""
        text = self.text()  # a paragraph break, not a pile of blank lines
        self.nudge("" if text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n")
        self.resamples += 1
        sampling = self.sampling
        base = sampling.seed if sampling.seed is not None else 1234
        # half a step on: apart from the seeds this draft's rewinds use
        sampling = replace(sampling, seed=base + RESEED_STEP // 2)
        if looped:
            sampling = replace(
                sampling, repeat_penalty=min(1.3, max(sampling.repeat_penalty, 1.0) + 0.1)
            )
        self.sampling = sampling

    def successor(self, context: list[int]) -> Draft:
        """A draft going on from this one after `context` (this draft's context and
        tokens plus a new user turn): the same settings and seed, this draft's
        text part of the history the guard checks against."""
        return Draft(
            self.engine,
            self.emit,
            context=context,
            stop=self.stop,
            sampling=self.sampling,
            mode=self.mode,
            cancel=self.cancel,
            on_clean=self.on_clean,
            on_event=self.on_event,
            min_heading=self.min_heading,
            history=self.history + self.text(),
            title=self.title,
        )

    def nudge(self, text: str) -> None:
        """Continue a draft that ended short: drop any stop-string tokens, then add
        `text` as if the model had written it, so the next run picks up the same
        turn (the model sees its own partial text, not a new request)."""
        keep = self.clean_count
        self.replay(self.generated[:keep], sent=self.released, token_marks=self.token_marks[:keep])
        repeat_at = self._absorb(self.parser.feed(text), live=True)
        if repeat_at is not None:
            # the draft ended on a sentence it had written before: the end of sequence
            # left it unchecked, and only the nudge's break completes it. It is cut like
            # a loop the rewinds could not mend (it was never shown), then the nudge goes on
            words = self.words
            self._rewind_to(repeat_at)
            self.cut_words += max(0, words - self.words)
            self._absorb(self.parser.feed(text), live=True)
        added = self.engine.tokenize(text, add_bos=False)
        base, count = self.model_tokens, self.engine.count_tokens(added)
        for i, token in enumerate(added, 1):
            self.generated.append(token)
            self.marks.append(self.doc_len + self.parser.held_chars)
            self.token_marks.append(base + i * count // len(added))
        self.model_tokens = base + count
        self.clean_count = len(self.generated)

    def _rewind_to(self, offset: int) -> None:
        keep = bisect_right(self.marks, offset)
        self.replay(self.generated[:keep], sent=self.released, token_marks=self.token_marks[:keep])
        self.guard.reset_grams()  # the loop's 4-grams must not trip the guard again at once

    def _stream(self, max_tokens: int, sampling: Sampling, word_limit: int | None):
        sequence = self.context + self.generated
        repeat_at = None
        reason = "length"
        count = 0
        used = 0  # model tokens (pieces, for engines whose ids are tokens)
        if max_tokens <= 0:
            return reason, None, 0
        stream = self.engine.stream(
            sequence, max_tokens=max_tokens, stop=self.stop, sampling=sampling, cancel=self.cancel
        )
        clock = active_seconds  # stopped time (Ctrl-Z) is not decode time
        first_at = last_tick = 0.0
        try:
            for piece in stream:
                count += 1
                used += piece.tokens
                now = clock()
                if count == 1:
                    first_at = now
                if now - last_tick >= PROGRESS_INTERVAL:
                    last_tick = now
                    self.emit(
                        TickEvent(
                            self.parser.mode,
                            self.new_tokens + used,
                            self.parser.words,
                            self.decode_seconds + (now - first_at),
                        )
                    )
                if piece.token >= 0:
                    self.generated.append(piece.token)
                    self.model_tokens += piece.tokens
                    self.token_marks.append(self.model_tokens)
                if piece.text:
                    repeat_at = self._absorb(self.parser.feed(piece.text), live=True)
                if piece.token >= 0:
                    self.marks.append(self.doc_len + self.parser.held_chars)
                if repeat_at is not None:
                    reason = "repeat"
                    break
                if piece.clean:
                    self.clean_count = len(self.generated)
                    if self.on_clean is not None:
                        self.on_clean(self)
                if word_limit is not None:
                    words = self.parser.words
                    at_boundary = self.splitter.pending.strip() == ""
                    if words >= word_limit and (at_boundary or words >= word_limit * HARD_CAP):
                        reason = "budget"
                        break
            else:
                reason = self.engine.last.finish_reason or "length"
        finally:
            stream.close()
            stats = self.engine.last
            self.prompt_tokens_evaluated += stats.prompt_tokens_evaluated
            self.decode_seconds += stats.decode_seconds
            self.prefill_seconds += stats.prefill_seconds
            self.new_tokens += stats.generated_tokens
        if reason == "length" and self.engine.last.finish_reason == "cancelled":
            reason = "cancelled"
        return reason, repeat_at, used
