"""The single strategy: the whole answer in one pass, with checkpoints.

Checkpoints hold the generated token ids up to a clean boundary (nothing held
back by the detokenizer or the stop matcher). Resuming replays those ids
through a fresh parser, which rebuilds the exact document, think text and
sections without running the model, then continues from the same token
sequence; a KV snapshot, when there is one, spares the re-prefill.
"""

from __future__ import annotations

import threading
import time
from lwz_cli.atomic import atomic_write_text
from lwz_cli.engine.protocol import Engine
from lwz_cli.errors import Interrupted, RuntimeFailure
from lwz_cli.events import (CheckpointEvent, DoneEvent, Emit, SectionEndEvent, SectionStartEvent,
                            WarningEvent)
from lwz_cli.journal import CHECKPOINT_INTERVAL, Checkpoint, Journal, disk_error, partial_path
from lwz_cli.profiles import profile
from lwz_cli.writing.length import count_words
from lwz_cli.writing.markdown import outline, unclosed_fence
from lwz_cli.writing.draft import CONTINUATIONS, SHORT, Draft
from lwz_cli.writing.kvsnap import Snapshots
from lwz_cli.writing.result import WriteResult, resume_command
from lwz_cli.writing.session import Prepared



class SinglePass:
    """The whole answer as one draft, with the journal's checkpoints."""

    def __init__(self, prepared: Prepared, emit: Emit, *, engine: Engine,
                 journal: Journal | None = None, cancel: threading.Event | None = None, resumed: bool = False):
        self.prepared = prepared
        self.emit = emit
        self.engine = engine
        self.journal = journal
        self.cancel = cancel
        self.resumed = resumed
        self.resumed_tokens = 0
        self.sections_saved = 0
        self.continuations = 0
        self._words_at_continuation = -1
        self._think_saved = 0
        self._last_checkpoint = time.monotonic()
        self._last_snapshot = 0.0
        self.snapshots = Snapshots(journal, engine, enabled=prepared.request.kv_snapshot,
                                   budget_gb=prepared.request.snapshot_budget_gb,
                                   n_ctx=prepared.tokens.n_ctx, emit=emit)
        self.draft = Draft(engine, emit, context=prepared.prompt_tokens, stop=prepared.prompt.stop,
                           sampling=prepared.request.sampling, cancel=cancel,
                           on_clean=self._on_clean)

    def replay(self, generated: list[int]) -> None:
        """Rebuild the draft from stored token ids, without the model."""
        sections: list[SectionStartEvent | SectionEndEvent] = []
        self.draft.on_event = lambda e: sections.append(e) \
            if isinstance(e, (SectionStartEvent, SectionEndEvent)) else None
        try:
            self.draft.replay(generated)
        finally:
            self.draft.on_event = None
        for event in sections:  # the plan panel shows the finished sections again
            self.emit(event)
        self.resumed_tokens = self.engine.count_tokens(generated)
        self.sections_saved = len(self.draft.section_starts)
        self._think_saved = len(self.draft.think_text())

    # -- checkpoints ----------------------------------------------------------

    def _on_clean(self, draft: Draft) -> None:
        if len(draft.section_starts) > self.sections_saved:
            self.checkpoint()
            self.snapshot()
        elif time.monotonic() - self._last_checkpoint >= CHECKPOINT_INTERVAL:
            self.checkpoint()

    def checkpoint(self, *, final: bool = False) -> None:
        journal, draft = self.journal, self.draft
        if journal is None:
            return
        output = self.prepared.request.output
        starts = draft.section_starts
        new_sections = len(starts) > self.sections_saved
        try:
            text = draft.text() if new_sections else ""
            if new_sections:
                bounds = [0] + starts
                # sections finished since the last checkpoint; 0000 is any preamble
                for index in range(self.sections_saved, len(starts)):
                    start, end = bounds[index], bounds[index + 1]
                    if index > 0 or end > 0:
                        journal.write_section(index, text[start:end])
            think = draft.think_text()
            journal.checkpoint(
                Checkpoint(seq=0, generated=draft.generated[: draft.clean_count],
                           words=draft.words, sections_done=len(starts)),
                think=think if len(think) != self._think_saved else None)
            self._think_saved = len(think)
            if output is not None and new_sections and not final:
                # after the checkpoint: PATH.partial never runs ahead of the journal
                atomic_write_text(partial_path(output), text[: starts[-1]])
            self.sections_saved = len(starts)
        except OSError as exc:
            raise disk_error(exc, journal.dir, resume_command(self.prepared, journal)) from exc
        self._last_checkpoint = time.monotonic()
        self.emit(CheckpointEvent(draft.clean_count, draft.words, len(starts)))

    def snapshot(self, *, force: bool = False) -> None:
        self.snapshots.save(self.prepared.prompt_tokens + self.draft.generated, force=force)

    # -- the run --------------------------------------------------------------

    def run(self) -> WriteResult:
        prepared, draft = self.prepared, self.draft
        started = time.monotonic()
        target = prepared.target_words
        cap = profile(prepared.prompt.protocol).single_cap
        limit = int(target * cap) if target else None
        while True:
            remaining = prepared.tokens.max_tokens - draft.model_tokens
            reason = draft.run(remaining, word_limit=limit) if remaining > 0 else "length"
            if reason == "cancelled":
                self._interrupted()
            short = target and draft.words < SHORT * target and reason in ("eos", "stop")
            progressed = draft.words > self._words_at_continuation
            if short and progressed and self.continuations < CONTINUATIONS and \
                    prepared.tokens.max_tokens - self.engine.count_tokens(
                        draft.generated[: draft.clean_count]) > 64:
                self._words_at_continuation = draft.words
                self.continuations += 1
                self.emit(WarningEvent(f"the model stopped at {draft.words} of {target} words; "
                                       f"continuing ({self.continuations}/{CONTINUATIONS})"))
                draft.nudge("\n\n")
                continue
            break
        draft.flush()
        return self._finish(reason, started)

    def _interrupted(self) -> None:
        if self.journal is not None:
            self.sections_saved = min(self.sections_saved, len(self.draft.section_starts) - 1) \
                if self.draft.section_starts else self.sections_saved
            self.checkpoint()
            self.snapshot(force=True)
            self.journal.set_status("interrupted", words=self.draft.words)
        command = resume_command(self.prepared, self.journal)
        raise Interrupted(f"interrupted; {self.draft.words} words are saved",
                          hint=f"continue with: {command}")

    def _finish(self, reason: str, started: float) -> WriteResult:
        prepared, request, emit, draft = self.prepared, self.prepared.request, self.emit, self.draft
        text = draft.text().strip()
        think_text = draft.think_text()
        if not text:
            self._no_document(reason, think_text)
        text += "\n"
        words = count_words(text)
        self._warn(text, words, reason, draft.model_tokens)
        output = request.output
        try:
            if self.journal is not None:
                self.checkpoint(final=True)
            if output is not None:
                atomic_write_text(output, text)
                partial_path(output).unlink(missing_ok=True)
        except OSError as exc:
            raise disk_error(exc, output.parent if output else self.journal.dir,
                             resume_command(prepared, self.journal)) from exc
        decode = draft.decode_seconds
        token_counts = self.engine.token_counts
        done = DoneEvent(
            output=str(output) if output else None,
            words=words, target_words=prepared.target_words,
            generated_tokens=draft.model_tokens,
            prompt_tokens_evaluated=draft.prompt_tokens_evaluated,
            decode_seconds=round(decode, 3),
            tokens_per_second=round(draft.new_tokens / decode, 2) if decode > 0 else 0.0,
            prefill_seconds=round(draft.prefill_seconds, 3),
            seconds=round(time.monotonic() - started, 3),
            resumed=self.resumed, resumed_tokens=self.resumed_tokens,
            finish_reason=reason, repetition_rewinds=draft.rewinds,
            continuations=self.continuations,
            sections=len(outline(text)), think_chars=len(think_text), planned_sections=None,
            model=prepared.model_name, strategy=prepared.strategy,
            # an endpoint: "server usage" or "counted pieces"
            token_counts=token_counts or None)
        if self.journal is not None:
            try:
                self.journal.drop_snapshot()
                self.journal.set_status("done", words=words, finished=time.time())
            except OSError:
                pass  # the document itself is complete and written
        emit(done)
        return WriteResult(text, think_text, done)

    def _no_document(self, reason: str, think_text: str) -> None:
        """The think text never becomes the document: fail clearly instead."""
        if self.journal is not None:
            self.checkpoint(final=True)
            self.journal.set_status("failed", words=0)
        tokens = self.draft.model_tokens
        if think_text.strip() and reason == "length":
            why = f"it spent all {tokens} tokens thinking"
            fix = "raise --max-tokens (or --ctx)"
        elif think_text.strip():
            why = "it stopped inside <think>"
            fix = "try again with another --seed"
        else:
            why = f"it stopped after {tokens} tokens"
            fix = "try again with another --seed or a different request"
        raise RuntimeFailure(f"the model wrote no document: {why}", hint=fix)

    def _warn(self, text: str, words: int, reason: str, tokens: int) -> None:
        target = self.prepared.target_words
        if reason == "length":
            self.emit(WarningEvent(f"stopped at the token limit ({tokens} tokens); the document "
                                   "may end mid-sentence (raise --max-tokens or --ctx)"))
        if target and words < 0.5 * target:
            self.emit(WarningEvent(f"the document is short: {words} of "
                                   f"{target} words ({100 * words // target}%)"))
        if unclosed_fence(text):
            self.emit(WarningEvent("the document ends inside a code block"))
