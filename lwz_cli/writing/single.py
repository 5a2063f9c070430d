"""The single strategy: the whole answer in one pass, with checkpoints.

Checkpoints hold the generated token ids up to a clean boundary (nothing held
back by the detokenizer or the stop matcher). Resuming replays those ids
through a fresh parser, which rebuilds the exact document, think text and
sections without running the model, then continues from the same token
sequence; a KV snapshot, when there is one, spares the re-prefill.
"""

from __future__ import annotations

import threading
from typing import NoReturn

from lwz_cli.engine.protocol import Engine
from lwz_cli.errors import RuntimeFailure
from lwz_cli.events import Emit, ResumedEvent, SectionEndEvent, SectionStartEvent, WarningEvent
from lwz_cli.journal import Journal
from lwz_cli.profiles import profile
from lwz_cli.runstate import Checkpoint, RunStatus
from lwz_cli.writing.continuing import CONTINUATIONS, Continuing
from lwz_cli.writing.draft import Draft
from lwz_cli.writing.length import count_words, word_unit
from lwz_cli.writing.lifecycle import CheckpointState, RunFigures, RunLifecycle
from lwz_cli.writing.markdown import unclosed_fence
from lwz_cli.writing.result import WriteResult
from lwz_cli.writing.session import Prepared


class SinglePass(RunLifecycle):
    """The whole answer as one draft; a checkpoint holds its clean token ids."""

    def __init__(
        self,
        prepared: Prepared,
        emit: Emit,
        *,
        engine: Engine,
        journal: Journal | None = None,
        cancel: threading.Event | None = None,
        resumed: bool = False,
    ):
        super().__init__(
            prepared, emit, engine=engine, journal=journal, cancel=cancel, resumed=resumed
        )
        self.sections_saved = 0  # sections (preamble first) in the journal and PATH.partial
        self.continuations = 0
        self._think_saved = 0
        self.draft = Draft(
            engine,
            emit,
            context=prepared.prompt_tokens,
            stop=prepared.prompt.stop,
            sampling=prepared.request.sampling,
            cancel=cancel,
            on_clean=self.on_clean,
        )

    # -- resume ---------------------------------------------------------------

    def restore(self, checkpoint: Checkpoint) -> None:
        self.restore_excerpts(checkpoint)
        generated = checkpoint.generated
        if not generated:
            return
        self.snapshots.restore(self.prepared.prompt_tokens + generated)
        self.replay(generated)
        draft = self.draft
        draft.cut_words, draft.rewinds = checkpoint.cut_words, checkpoint.rewinds
        self.emit(
            ResumedEvent(draft.words, draft.text()[-4000:], think_tail=draft.think_text()[-2000:])
        )

    def replay(self, generated: list[int]) -> None:
        """Rebuild the draft from stored token ids, without the model."""
        sections: list[SectionStartEvent | SectionEndEvent] = []
        self.draft.on_event = lambda e: (
            sections.append(e) if isinstance(e, (SectionStartEvent, SectionEndEvent)) else None
        )
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

    def on_clean(self, draft: Draft) -> None:
        if len(draft.section_starts) > self.sections_saved:
            self.checkpoint()
            self.snapshot()
        else:
            super().on_clean(draft)

    def checkpoint_state(self, *, interrupting: bool) -> CheckpointState:
        draft = self.draft
        starts = draft.section_starts
        first = self.sections_saved
        if interrupting and starts:  # the last finished section and PATH.partial again
            first = min(first, len(starts) - 1)
        sections: tuple[tuple[int, str], ...] = ()
        partial = None
        if len(starts) > first:
            text = draft.text()
            bounds = [0, *starts]
            # sections finished since the last checkpoint; 0000 is any preamble
            sections = tuple(
                (index, text[bounds[index] : bounds[index + 1]])
                for index in range(first, len(starts))
                if index > 0 or bounds[index + 1] > 0
            )
            partial = text[: starts[-1]]
        think = draft.think_text()
        return CheckpointState(
            Checkpoint(
                seq=0,
                generated=draft.generated[: draft.clean_count],
                words=draft.words,
                sections_done=len(starts),
                cut_words=draft.cut_words,
                rewinds=draft.rewinds,
            ),
            think=think if len(think) != self._think_saved else None,
            sections=sections,
            partial=partial,
        )

    def checkpoint_saved(self, state: CheckpointState) -> None:
        if state.think is not None:
            self._think_saved = len(state.think)
        self.sections_saved = state.checkpoint.sections_done

    def kv_sequence(self) -> list[int]:
        return self.prepared.prompt_tokens + self.draft.generated

    def words_so_far(self) -> int:
        return self.draft.words

    # -- the run --------------------------------------------------------------

    def write(self) -> WriteResult:
        prepared, draft = self.prepared, self.draft
        target = prepared.target_words
        cap = profile(prepared.prompt.protocol).single_cap
        limit = int(target * cap) if target else None
        continuing = Continuing(target or 0)
        while True:
            remaining = prepared.tokens.max_tokens - draft.model_tokens
            reason = draft.run(remaining, word_limit=limit) if remaining > 0 else "length"
            if reason == "cancelled":
                self.interrupted()
            if not target:
                break
            left = prepared.tokens.max_tokens - draft.model_tokens
            if not continuing.next(draft.words, reason, left):
                break
            self.continuations += 1
            self.emit(
                WarningEvent(
                    f"the model stopped at {draft.words} of {target} "
                    f"{word_unit(self.prepared.prompt.language)}; "
                    f"continuing ({continuing.count}/{CONTINUATIONS})"
                )
            )
            draft.continue_short(looped=reason == "repetition")
        if continuing.gave_up:
            self.emit(
                WarningEvent(
                    f"the document ends short at {draft.words} of {target} "
                    f"{word_unit(self.prepared.prompt.language)}: {continuing.gave_up}"
                )
            )
        draft.flush()
        text = draft.text().strip()
        think_text = draft.think_text()
        if not text:
            self._no_document(reason, think_text)
        text += "\n"
        self._warn(text, count_words(text), reason, draft.model_tokens)
        self.checkpoint(final=True)
        return self.finish(
            text,
            RunFigures(
                generated_tokens=draft.model_tokens,
                prompt_tokens_evaluated=draft.prompt_tokens_evaluated,
                decode_seconds=draft.decode_seconds,
                new_tokens=draft.new_tokens,
                prefill_seconds=draft.prefill_seconds,
                finish_reason=reason,
                repetition_rewinds=draft.rewinds,
                cut_words=draft.cut_words,
                continuations=self.continuations,
                think_chars=len(think_text),
            ),
            think=think_text,
        )

    def _no_document(self, reason: str, think_text: str) -> NoReturn:
        """The think text never becomes the document: fail clearly instead."""
        if self.journal is not None:
            self.checkpoint(final=True)
            self.journal.set_status(RunStatus.FAILED, words=0)
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
        if reason == "length":
            self.emit(
                WarningEvent(
                    f"stopped at the token limit ({tokens} tokens); the document "
                    "may end mid-sentence (raise --max-tokens or --ctx)"
                )
            )
        self.warn_if_short(words)
        if unclosed_fence(text):
            self.emit(WarningEvent("the document ends inside a code block"))
