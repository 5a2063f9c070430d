"""The planned strategy: an outline with word budgets, then one generation per section.

The conversation only ever grows: plan request, the model's outline, "write
section 1", section 1, "write section 2", ... Each section prompt is the last
one plus the model's own tokens plus the next user turn, so llama.cpp's KV
cache keeps everything already read and the prefill stays near the document's
own size. When the context window fills, the prompt is rebuilt from the
request, the outline and the most recent text (documents may be longer than
the model's context), and writing goes on.

Each section stops near its budget on a sentence boundary, is continued (as
the model's own text, then in a new turn asking for more) when it ends short,
and passes its shortfall or excess on to the sections left.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, replace
from typing import Any

from lwz_cli.engine.protocol import Engine
from lwz_cli.errors import RuntimeFailure
from lwz_cli.events import (
    Emit,
    Event,
    PlanEntry,
    PlanEvent,
    ResumedEvent,
    SectionEndEvent,
    SectionStartEvent,
    TextEvent,
    ThinkEvent,
    TickEvent,
    WarningEvent,
)
from lwz_cli.journal import Journal
from lwz_cli.profiles import profile
from lwz_cli.runstate import Checkpoint, PlannedState, RunTotals, WrittenSection
from lwz_cli.tokens import TOKENS_PER_WORD
from lwz_cli.writing.brief import reminder as brief_reminder
from lwz_cli.writing.continuing import ASKS, CONTINUATIONS, ROOM_TOKENS, Continuing, more_request
from lwz_cli.writing.draft import RESEED_STEP, Draft
from lwz_cli.writing.grounding import section_key, section_query
from lwz_cli.writing.length import count_words, word_unit
from lwz_cli.writing.lifecycle import CheckpointState, RunFigures, RunLifecycle
from lwz_cli.writing.memory import NOTE_TOKENS, clean_note, memory_block, note_request
from lwz_cli.writing.plan import (
    WORDS_PER_SECTION,
    Plan,
    Section,
    normalise_plan,
    parse_plan,
    rebalance,
)
from lwz_cli.writing.plan_check import judge
from lwz_cli.writing.prompts import Conversation
from lwz_cli.writing.result import WriteResult
from lwz_cli.writing.session import Prepared

RECENT_CHARS = 1500  # text carried into a rebuilt prompt
# an added section goes deeper into a planned one; each title is new
DEEPER = {
    "en": (": A Closer Look", ": In Practice", ": Further Questions"),
    "zh": ("：深入", "：实践", "：延伸"),
}
SUBHEADING_LEVEL = 3  # a heading the model writes inside a section: `###` at most
PLAN_TRIES = 3  # answers to the plan prompt before the outline is built from the request


@dataclass(frozen=True)
class DocumentState:
    """What an interactive edit can change in a planned run, held by value (for
    undo): the outline, the written sections, where writing goes on, the tokens
    the conversation continues from, and the target."""

    plan: Plan
    done: tuple[dict[str, Any], ...]  # {title, chunk, words} per written section
    index: int
    base: tuple[int, ...] | None
    turn_base: tuple[int, ...] | None
    target: int | None
    memory: tuple[str, ...] = ()  # one note per written section (writing.memory)

    def without_tokens(self) -> DocumentState:
        """The same state for another model: token ids of this one mean nothing there."""
        return replace(self, base=None, turn_base=None)


def section_request(
    plan: Plan,
    index: int,
    *,
    language: str,
    first: bool,
    request: str | None = None,
    recent: str | None = None,
    notes: str | None = None,
    memory: str | None = None,
    excerpts: str | None = None,
) -> str:
    """The user turn asking for section `index`; `memory` (`writing.memory.memory_block`,
    and the brief's reminder) comes before the instruction; `excerpts` (numbered
    passages of the author's sources, `writing.grounding`) follow the ask; `notes`
    (the author's guidance, from `lwz chat`) go last, so a redo shares every earlier
    token with the first try."""
    text = _section_request(
        plan, index, language=language, first=first, request=request, recent=recent, memory=memory
    )
    text = with_section_excerpts(text, excerpts)
    if notes:
        text += (
            "\n\n作者的要求：" if language == "zh" else "\n\nThe author's notes: "
        ) + notes.strip()
    return text


def _memory_text(memory: str | None) -> str:
    """The memory block as a paragraph of the section turn ("" without one)."""
    return f"{memory.strip()}\n\n" if memory and memory.strip() else ""


def with_section_excerpts(text: str, excerpts: str | None) -> str:
    """The section's ask, then its excerpts (the header says how to cite them)."""
    return f"{text}\n\n{excerpts}" if excerpts else text


def _section_request(
    plan: Plan,
    index: int,
    *,
    language: str,
    first: bool,
    request: str | None,
    recent: str | None,
    memory: str | None = None,
) -> str:
    section = plan.sections[index]
    n = len(plan.sections)
    last = index == n - 1
    if language == "zh":
        head = ""
        if request is not None:
            head = f"写作任务：{request}\n\n"
        if first:
            head += f"大纲：\n{plan.outline_text('zh')}\n\n"
        if recent:
            head += f"目前的文章结尾如下：\n……{recent}\n\n"
        head += _memory_text(memory)
        points = f"（{section.points}）" if section.points else ""
        end = (
            "这是最后一部分，请为全文收尾。"
            if last
            else "只写这一部分，不要重复前文，不要提前总结全文。"
        )
        return (
            f"{head}现在写第{index + 1}/{n}部分：“{section.title}”{points}。写约{section.budget}字，"
            f"直接写正文，不要写部分标题。{end}"
        )
    head = ""
    if request is not None:
        head = f"Request: {request}\n\n"
    if first:
        head += f"Here is the outline:\n{plan.outline_text()}\n\n"
    if recent:
        head += f'The document so far ends with:\n"...{recent}"\n\n'
    head += _memory_text(memory)
    points = f" ({section.points})" if section.points else ""
    end = (
        "This is the last section: bring the whole document to a close."
        if last
        else "Write this section only: do not repeat earlier text and do not conclude the document."
    )
    return (
        f'{head}Now write section {index + 1} of {n}: "{section.title}"{points}. Write about '
        f"{section.budget} words of flowing Markdown prose (sub-headings allowed), starting "
        f"directly with the text, without the section title. {end}"
    )


class PlannedRun(RunLifecycle):
    """An outline, then its sections one by one; a checkpoint holds the run's state
    (`PlannedState`) and the clean token ids of the outline or section being written."""

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
        self.conversation = prepared.conversation
        self.language = prepared.prompt.language
        self.plan: Plan | None = None
        self.done: list[dict[str, Any]] = []  # {title, chunk, words}
        self.index = 0
        # tokens before the next user turn; None: start a fresh conversation
        self.base: list[int] | None = list(prepared.prompt_tokens)
        # the base the last section's user turn was appended to (None: its prompt was
        # rebuilt), kept so a redo of that section reuses the KV cache up to its turn
        self.turn_base: list[int] | None = None
        self.notes: str | None = None  # the author's guidance for the next new section
        self.draft: Draft | None = None
        self.phase = "plan"
        self.heading_chunk = ""
        self.continuations = 0
        self.totals = RunTotals()
        self.memory: list[str] = []  # one cleaned note per written section
        self.memory_on = prepared.memory
        self._section_unsaved = False  # the last of `done` is not in the journal yet

    # -- events ---------------------------------------------------------------

    def _words_before(self) -> int:
        return sum(d["words"] for d in self.done) + count_words(self.heading_chunk)

    def _plan_emit(self, event: Event) -> None:
        if isinstance(event, ThinkEvent):  # the outline itself arrives as the `plan` event
            self.emit(event)
        elif isinstance(event, TickEvent):
            self.emit(replace(event, phase="planning"))

    def _section_emit(self, event: Event) -> None:
        if isinstance(event, (SectionStartEvent, SectionEndEvent)):
            return  # sub-headings inside a section are text; the plan's sections are ours
        if isinstance(event, TickEvent):  # counted from the document's start
            event = event.offset(
                words=self._words_before(),
                tokens=self.totals.new,
                decode_seconds=self.totals.decode,
            )
        self.emit(event)

    def _add_totals(self, draft: Draft) -> None:
        totals = self.totals
        totals.evaluated += draft.prompt_tokens_evaluated
        totals.decode += draft.decode_seconds
        totals.prefill += draft.prefill_seconds
        totals.new += draft.new_tokens
        totals.rewinds += draft.rewinds
        totals.cut += draft.cut_words
        totals.generated += draft.model_tokens

    # -- checkpoints ----------------------------------------------------------

    def _state(self) -> PlannedState:
        draft = self.draft
        return PlannedState(
            phase=self.phase,
            plan=self.plan,
            done=[WrittenSection.from_json(d) for d in self.done],
            index=self.index,
            base=self.base,
            context=draft.context if draft else None,
            heading=self.heading_chunk,
            continuations=self.continuations,
            totals=copy.deepcopy(self.totals),
            memory=list(self.memory),
        )

    def checkpoint_state(self, *, interrupting: bool) -> CheckpointState:
        draft = self.draft
        finished = self._section_unsaved
        return CheckpointState(
            Checkpoint(
                seq=0,
                generated=draft.generated[: draft.clean_count] if draft else [],
                words=self._document_words(),
                sections_done=len(self.done),
                planned=self._state(),
            ),
            think=draft.think_text() if draft and self.phase == "plan" else None,
            sections=((len(self.done), self.done[-1]["chunk"]),) if finished else (),
            partial=self.document() if finished else None,
        )

    def checkpoint_saved(self, state: CheckpointState) -> None:
        self._section_unsaved = False

    def kv_sequence(self) -> list[int] | None:
        return self.draft.context + self.draft.generated if self.draft is not None else None

    def words_so_far(self) -> int:
        return self._document_words()

    # -- document ---------------------------------------------------------------

    def document(self, upto: int | None = None, *, partial: bool = False) -> str:
        """The document so far (or its sections before `upto`); `partial` adds the
        section stopped mid-way, if any."""
        title = f"# {self.plan.title}\n\n" if self.plan and self.plan.title else ""
        text = title + "".join(d["chunk"] for d in self.done[:upto])
        if partial and self.draft is not None and self.phase == "sections":  # section_in_progress
            text += self.heading_chunk + self.draft.text()
        return text

    def _document_words(self) -> int:
        return self._words_before() + (
            self.draft.words if self.draft and self.phase == "sections" else 0
        )

    # -- resume -------------------------------------------------------------------

    def restore(self, checkpoint: Checkpoint) -> None:
        self.restore_excerpts(checkpoint)
        state = checkpoint.planned
        if state is None:
            return
        self.phase = state.phase
        self.plan = state.plan
        self.done = [d.to_json() for d in state.done]
        self.index = state.index
        self.base = state.base
        self.heading_chunk = state.heading
        self.continuations = state.continuations
        self.totals = copy.deepcopy(state.totals)
        self.memory = list(state.memory)
        self.resumed_tokens = self.totals.generated + self.engine.count_tokens(checkpoint.generated)
        context = state.context
        if self.plan is not None:
            self.emit(self._plan_event())
            for i, entry in enumerate(self.done, 1):
                self.emit(SectionStartEvent(i, entry["title"], 2, self.plan.sections[i - 1].budget))
                self.emit(
                    SectionEndEvent(
                        i, entry["title"], entry["words"], self.plan.sections[i - 1].budget
                    )
                )
        if context is not None:
            self.draft = self._new_draft(list(context), planning=self.phase == "plan")
            self.snapshots.restore(self.draft.context + list(checkpoint.generated))
            self.draft.replay(list(checkpoint.generated))
        self.emit(
            ResumedEvent(
                self._document_words(),
                (
                    self.document()
                    + self.heading_chunk
                    + (self.draft.text() if self.draft and self.phase == "sections" else "")
                )[-4000:],
            )
        )

    # -- the run ------------------------------------------------------------------

    def _new_draft(self, context: list[int], *, planning: bool) -> Draft:
        self.totals.prompt += len(context)  # for KV-reuse stats
        return Draft(
            self.engine,
            self._plan_emit if planning else self._section_emit,
            context=context,
            stop=self._conversation().stop,
            sampling=self.prepared.request.sampling,
            cancel=self.cancel,
            on_clean=self.on_clean,
            **({} if planning else self._section_guarding(len(self.done))),
        )

    def _section_guarding(self, index: int) -> dict[str, Any]:
        """How a section's draft treats what the model writes: its own `#`/`##`
        headings become sub-headings (only the plan's headings are sections, and the
        budget ends a section), and the text before it counts for the repetition
        guard (a sentence or heading from an earlier section is a repeat)."""
        return {
            "min_heading": SUBHEADING_LEVEL,
            "history": self.document(upto=index),
            "title": self.need_plan().sections[index].title,
        }

    def _remaining_tokens(self) -> int:
        used = self.totals.generated + (self.draft.model_tokens if self.draft else 0)
        return self.prepared.tokens.max_tokens - used

    def _plan_event(self) -> PlanEvent:
        plan = self.need_plan()
        return PlanEvent(
            plan.title,
            tuple(
                PlanEntry(i, s.title, s.points, s.budget) for i, s in enumerate(plan.sections, 1)
            ),
            plan.source,
        )

    def make_plan(self) -> None:
        """Ask for the outline; an answer of junk headings (see `plan_check`) is asked
        for again with another seed, up to PLAN_TRIES in all, and after that the
        outline is built from the request's own words."""
        target = self.target_words()
        request = self.prepared.request.prompt
        verdict = parsed = None
        for attempt in range(PLAN_TRIES):
            draft = self._plan_attempt(attempt)
            parsed = parse_plan(draft.text())
            verdict = judge(parsed, request, self.language)
            if verdict.rejected:
                shown = ", ".join(f'"{t}"' for t in verdict.rejected[:3])
                more = f" and {len(verdict.rejected) - 3} more" if len(verdict.rejected) > 3 else ""
                again = "; asking again" if not verdict.usable and attempt + 1 < PLAN_TRIES else ""
                self.emit(WarningEvent(f"outline headings rejected: {shown}{more}{again}"))
            if verdict.usable or attempt + 1 == PLAN_TRIES:
                break
            self.draft = None  # the next attempt starts a fresh answer
        assert verdict is not None and parsed is not None and self.draft is not None
        draft = self.draft
        chosen = verdict.plan if verdict.usable else replace(verdict.plan, sections=[])
        chosen.source = "model" if attempt == 0 else "resampled"
        plan = normalise_plan(chosen, target, request, self.language)
        plan.planned_count = len(plan.sections)  # extensions are counted against it
        self.plan = plan
        if plan.sections != parsed.sections:
            reason = "" if parsed.sections else " (no outline found in the model's answer)"
            if plan.source == "request":
                reason = " (built from the request: the model's outline was not usable)"
            self.emit(
                WarningEvent(
                    f"the model's outline was adjusted to {len(plan.sections)} "
                    f"sections summing to {target:,} {word_unit(self.language)}{reason}"
                )
            )
        # an outline the model could not write is not worth keeping in its context
        usable = plan.sections == parsed.sections
        self.base = draft.context + draft.generated[: draft.clean_count] if usable else None
        self.draft = None
        self.phase = "sections"
        self.emit(self._plan_event())
        if plan.title:
            self.emit(TextEvent(f"# {plan.title}\n\n"))
        self.checkpoint()

    def _plan_attempt(self, attempt: int) -> Draft:
        """One answer to the plan prompt (the draft resumed, if one was stopped mid-way);
        a retry samples with another seed."""
        if self.draft is None:
            self.draft = self._new_draft(list(self.prepared.prompt_tokens), planning=True)
            if attempt:
                sampling = self.draft.sampling
                seed = (
                    sampling.seed if sampling.seed is not None else 1234
                ) + RESEED_STEP * attempt
                self.draft.sampling = replace(sampling, seed=seed)
        draft = self.draft
        budget = min(profile(self.prepared.prompt.protocol).plan_tokens, self._remaining_tokens())
        reason = draft.run(max(0, budget - draft.model_tokens))
        if reason == "cancelled":
            self.interrupted()
        draft.flush()
        self._add_totals(draft)
        return draft

    def _next_context(
        self, index: int, *, base: list[int] | None = None, notes: str | None = None
    ) -> list[int]:
        """Append-only when the window allows; otherwise rebuild from the request,
        the outline and the text before the section."""
        conv, plan = self._conversation(), self.need_plan()
        section = plan.sections[index]
        room = int(section.budget * TOKENS_PER_WORD[self.language] * 1.6) + 64
        first = (index == 0 or not self.done) and profile(conv.protocol).restate_outline
        memory = self._recall(index)
        excerpts = self._excerpts(section)
        turn = conv.next_turn(
            section_request(
                plan,
                index,
                language=self.language,
                first=first,
                notes=notes,
                memory=memory,
                excerpts=excerpts,
            )
        )
        self.turn_base = None
        if turn is not None and base is not None:
            context = base + self.engine.tokenize(turn, add_bos=False)
            if self.engine.count_tokens(context) + room <= self.prepared.tokens.n_ctx:
                self.turn_base = base
                return context
        before = self.document(upto=index)
        recent = before[-RECENT_CHARS:] if index > 0 and before else None
        user = section_request(
            plan,
            index,
            language=self.language,
            first=True,
            request=self.prepared.request.guided_prompt,
            recent=recent,
            notes=notes,
            memory=memory,
            excerpts=excerpts,
        )
        text = conv.first(user) + conv.assistant_prefix
        context = self.engine.tokenize(text, add_bos=self.prepared.prompt.add_bos)
        if self.engine.count_tokens(context) + min(room, 256) > self.prepared.tokens.n_ctx:
            raise RuntimeFailure(
                f"section {index + 1} does not fit the {self.prepared.tokens.n_ctx}-token context",
                hint="raise --ctx or ask for fewer words",
            )
        return context

    def _excerpts(self, section: Section) -> str | None:
        """The section's numbered excerpts of the author's sources (None without any):
        retrieved by its heading, notes and the brief, or the journaled set again."""
        grounding = self.prepared.grounding
        if grounding is None:
            return None
        request = self.prepared.request
        query = section_query(section.title, section.points, request.brief or request.prompt)
        return grounding.excerpts(section_key(section.title), query, self.language)

    def write_section(self, index: int) -> None:
        plan = self.need_plan()
        section = plan.sections[index]
        if self.draft is None:  # a new section (not one being resumed)
            self._take_notes()  # of the sections before it, for its memory
            self.continuations = 0
            self.heading_chunk = f"## {section.title}\n\n"
            self.emit(SectionStartEvent(index + 1, section.title, 2, section.budget))
            self.emit(TextEvent(self.heading_chunk))
            notes, self.notes = self.notes, None
            self.draft = self._new_draft(
                self._next_context(index, base=self.base, notes=notes), planning=False
            )
            if self.prepared.grounding is not None:
                self.checkpoint()  # its excerpts are journaled before a token is written
        reason, draft, self.heading_chunk = self._fill(self.draft, section, self.heading_chunk)
        if reason == "cancelled":
            self.interrupted()
        chunk = self._close_section(draft, index, self.heading_chunk)
        self.done.append({"title": section.title, "chunk": chunk, "words": count_words(chunk)})
        self._add_totals(draft)
        self.base = draft.context + draft.generated[: draft.clean_count]
        self.draft = None
        self.heading_chunk = ""
        self.index = index + 1
        written = count_words(self.document())
        rebalance(written, self.target_words(), plan.sections[self.index :])
        self._section_unsaved = True
        self.checkpoint()
        self.snapshot()

    def _fill(
        self, draft: Draft, section: Section, heading: str, *, budgeted: bool = True
    ) -> tuple[str, Draft, str]:
        """Generate a section's body up to its budget, continuing it (as the model's
        own text, see `continuing`) when it ends short. When those continuations give
        up, the section is asked for again in a new user turn (`_ask_more`, at most
        ASKS times): the text so far joins `heading` (the section's text before the
        draft) and a new draft goes on after it. Returns the last finish reason, the
        draft and heading text the section ends with. A section given up on short
        says so; `rebalance` then passes what it lacks on to the sections left."""
        earlier = count_words(heading) - count_words(f"## {section.title}")  # resumed parts
        # a resumed section goes on counting the continuations it had
        continuing = Continuing(section.budget, count=self.continuations)
        asks = 0
        while True:
            budget = section.budget - earlier
            limit_tokens = int(budget * TOKENS_PER_WORD[self.language] * 2) + 64
            left = self._remaining_tokens() if budgeted else limit_tokens
            allowed = min(limit_tokens - draft.model_tokens, left)
            reason = draft.run(max(0, allowed), word_limit=max(1, budget))
            if reason == "cancelled":
                return reason, draft, heading
            left = min(
                limit_tokens - draft.model_tokens,
                self._remaining_tokens() if budgeted else limit_tokens,
            )
            words = earlier + draft.words
            if continuing.next(words, reason, left):
                self.continuations = continuing.count
                draft.continue_short(looped=reason == "repetition")
                continue
            turn = self._ask_more(draft, section, words) if continuing.gave_up else None
            room = self._remaining_tokens() if budgeted else limit_tokens
            if turn is None or asks >= ASKS or room <= 4 * ROOM_TOKENS:
                break
            asks += 1
            self._add_totals(draft)  # the next part is a draft of its own
            draft.flush()
            text = draft.text()  # then a paragraph break, shown as it is kept
            gap = "" if text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
            if gap:
                draft.emit(TextEvent(gap))
            heading += text + gap
            earlier = count_words(heading) - count_words(f"## {section.title}")
            draft = draft.successor(turn)
            self.totals.prompt += len(turn)
            # a new turn is a fresh start: it gets half the continuations again
            continuing = Continuing(section.budget, count=min(continuing.count, CONTINUATIONS // 2))
            if budgeted:  # checkpoints save the new part, its text before it in `heading`
                self.draft, self.heading_chunk = draft, heading
        if continuing.gave_up:
            unit = word_unit(self.language)
            self.emit(
                WarningEvent(
                    f'section "{section.title}" ends short at {words} of '
                    f"{section.budget} {unit}: {continuing.gave_up}"
                )
            )
        return reason, draft, heading

    def _ask_more(self, draft: Draft, section: Section, words: int) -> list[int] | None:
        """The tokens of a new turn asking for the rest of a section, after the draft's
        text; None when the template cannot append a turn or the window is too full."""
        ending = self._conversation().next_turn(
            more_request(
                section.title,
                section.budget - words,
                self.language,
                last=section is self.need_plan().sections[-1],
            )
        )
        if ending is None:
            return None
        context = (
            draft.context
            + draft.generated[: draft.clean_count]
            + self.engine.tokenize(ending, add_bos=False)
        )
        room = int((section.budget - words) * TOKENS_PER_WORD[self.language] * 1.6) + 64
        if self.engine.count_tokens(context) + room > self.prepared.tokens.n_ctx:
            return None
        return context

    def _close_section(self, draft: Draft, index: int, heading: str) -> str:
        """The finished section's text (heading + body, ending in a blank line)."""
        section = self.need_plan().sections[index]
        draft.flush()
        body = draft.text()
        tail = "" if body.endswith("\n\n") else ("\n" if body.endswith("\n") else "\n\n")
        if tail:
            self.emit(TextEvent(tail))
        chunk = heading + body + tail
        self.emit(SectionEndEvent(index + 1, section.title, count_words(chunk), section.budget))
        return chunk

    def rewrite_section(self, index: int, *, notes: str | None = None) -> str:
        """Write section `index` (0-based, already written) again, in place; every
        other section stays byte-identical. Its prompt is the one that first wrote
        it plus the author's notes, so for the last section the KV cache covers all
        before the notes. No checkpoint is taken mid-way, and a cancel keeps the old
        text: it stands until the new one is whole. Returns the finish reason
        ("cancelled" when stopped)."""
        section = self.need_plan().sections[index]
        last = index == len(self.done) - 1
        # the last section's turn went onto `turn_base`; others are re-prompted from the text
        base = self.turn_base if last else None
        heading = f"## {section.title}\n\n"
        self.emit(SectionStartEvent(index + 1, section.title, 2, section.budget))
        self.emit(TextEvent(heading))
        context = self._next_context(index, base=base, notes=notes)
        self.totals.prompt += len(context)
        sampling = self.prepared.request.sampling
        if sampling.seed is not None:  # a redo should differ from the text it replaces
            self.totals.rewritten += 1
            sampling = replace(sampling, seed=sampling.seed + RESEED_STEP * self.totals.rewritten)
        draft = Draft(
            self.engine,
            self._section_emit_at(index),
            context=context,
            stop=self._conversation().stop,
            sampling=sampling,
            cancel=self.cancel,
            **self._section_guarding(index),
        )
        self.continuations = 0
        reason, draft, heading = self._fill(draft, section, heading, budgeted=False)
        chunk = self._close_section(draft, index, heading)
        self._add_totals(draft)
        if reason == "cancelled":  # a half-written replacement is worse than the original
            return reason
        self.done[index] = {"title": section.title, "chunk": chunk, "words": count_words(chunk)}
        if self.memory_on and index < len(self.memory):  # the old note is of the old text
            note = self._note(index, draft.context + draft.generated[: draft.clean_count])
            self.memory[index] = note or ""
        if last:
            self.base = draft.context + draft.generated[: draft.clean_count]
        else:  # the conversation still holds the old text: later sections re-read the document
            self.base = None
            self.turn_base = None
        return reason

    # -- the memory across sections (writing.memory) ----------------------------------

    def _recall(self, index: int) -> str | None:
        """What section `index`'s turn recalls before its instruction: the memory, and a
        one-line reminder of the brief and style when the job has them."""
        request = self.prepared.request
        reminder = brief_reminder(request.brief, request.style, self.language)
        parts = [p for p in (self._memory_for(index), reminder) if p]
        return "\n\n".join(parts) or None

    def _memory_for(self, index: int) -> str | None:
        """The memory block section `index`'s turn carries (None: no memory, or nothing
        noted yet); its tokens count in `totals.memory`, prefilled with the turn."""
        if not self.memory_on:
            return None
        noted = [
            (d["title"], note)
            for d, note in zip(self.done[:index], self.memory[:index], strict=False)
        ]
        block = memory_block(noted, self.language)
        if block:
            self.totals.memory += self.engine.count_tokens(
                self.engine.tokenize(block, add_bos=False)
            )
        return block

    def _take_notes(self) -> None:
        """Note every written section not noted yet (normally the one just written),
        then checkpoint, so a resume goes on with the same memory."""
        if not self.memory_on or len(self.memory) >= len(self.done):
            return
        while len(self.memory) < len(self.done):
            i = len(self.memory)
            note = self._note(i, self.base if i == len(self.done) - 1 else None)
            if note is None:
                self.interrupted()  # the note is asked for again on resume
            self.memory.append(note)
        self.checkpoint()

    def notes_of_memory(self) -> list[tuple[str, str]]:
        """(section title, note) per noted section, for `/memory`."""
        return [(d["title"], note) for d, note in zip(self.done, self.memory, strict=False)]

    def set_memory(self, notes: list[str]) -> None:
        """Take the notes as edited by the author, one per written section at most."""
        self.memory = list(notes[: len(self.done)])

    def _note(self, index: int, base: list[int] | None) -> str | None:
        """What section `index` established, as a cleaned note ("" for junk; None when
        cancelled). Asked in a short turn after the conversation `base` ends with the
        section, so the KV cache holds everything but that turn; the conversation goes
        on from `base` without it. Without `base`, or when the turn does not fit the
        window, a fresh prompt quotes the section instead."""
        conv, engine = self._conversation(), self.engine
        n_ctx = self.prepared.tokens.n_ctx
        context = None
        turn = conv.next_turn(note_request(self.language))
        if turn is not None and base is not None:
            context = base + engine.tokenize(turn, add_bos=False)
            if engine.count_tokens(context) + NOTE_TOKENS > n_ctx:
                context = None
        if context is None:
            quoted = note_request(self.language, self.done[index]["chunk"])
            context = engine.tokenize(
                conv.first(quoted) + conv.assistant_prefix, add_bos=self.prepared.prompt.add_bos
            )
            if engine.count_tokens(context) + NOTE_TOKENS > n_ctx:
                return ""  # a window too small for a note: the memory goes without it
        self.totals.prompt += len(context)
        text = ""
        pieces = engine.stream(
            context,
            max_tokens=NOTE_TOKENS,
            stop=conv.stop,
            sampling=self.prepared.request.sampling,
            cancel=self.cancel,
        )
        try:
            for piece in pieces:
                text += piece.text
        finally:
            pieces.close()
        stats = engine.last
        self.totals.evaluated += stats.prompt_tokens_evaluated
        self.totals.prefill += stats.prefill_seconds
        self.totals.memory += stats.prompt_tokens_evaluated + stats.generated_tokens
        if stats.finish_reason == "cancelled":
            return None
        return clean_note(text, self.language, complete=stats.finish_reason != "length")

    def _section_emit_at(self, index: int) -> Emit:
        """Progress of a rewritten section, counting the words around it."""
        others = sum(d["words"] for i, d in enumerate(self.done) if i != index)

        def emit(event: Event) -> None:
            if isinstance(event, (SectionStartEvent, SectionEndEvent)):
                return
            if isinstance(event, TickEvent):
                event = event.offset(words=others)
            self.emit(event)

        return emit

    # -- interactive drafting (`lwz chat`, lwz_cli.writing.drafting) ----------------

    @property
    def target(self) -> int | None:
        return self.prepared.target_words

    def need_plan(self) -> Plan:
        """The outline; only `make_plan` (or a restored checkpoint past it) sets it, and
        every caller runs after that."""
        if self.plan is None:
            raise RuntimeError("the planned run has no outline yet")
        return self.plan

    def target_words(self) -> int:
        """The document's target length: `prepare` refuses a planned job without one."""
        target = self.prepared.target_words
        if target is None:
            raise RuntimeError("a planned run needs a target length")
        return target

    def _conversation(self) -> Conversation:
        """The growing conversation: `prepare` builds one for every planned job."""
        if self.conversation is None:
            raise RuntimeError("a planned run needs the job's conversation")
        return self.conversation

    @property
    def stopped_mid_way(self) -> bool:
        """The outline or a section was stopped before its end; `write_sections()` goes
        on with it."""
        return self.draft is not None

    @property
    def section_in_progress(self) -> bool:
        """A section was stopped mid-way: its text is in the draft, not yet in `done`."""
        return self.draft is not None and self.phase == "sections"

    @property
    def all_written(self) -> bool:
        """The outline exists and every section of it is written."""
        return (
            self.plan is not None and self.index >= len(self.plan.sections) and self.draft is None
        )

    def set_emit(self, emit: Emit) -> None:
        """Send the next events to `emit` (each chat step has its own view)."""
        self.emit = emit

    def set_notes(self, notes: str | None) -> None:
        """The author's guidance for the next new section."""
        self.notes = notes

    def set_target(self, words: int | None) -> None:
        self.prepared = replace(self.prepared, target_words=words)

    def allow_tokens(self, tokens: int) -> None:
        """Let the run generate `tokens` more from here: a chat draft is redone without
        end, so its token budget is per step rather than per document."""
        budget = replace(self.prepared.tokens, max_tokens=self.totals.generated + tokens)
        self.prepared = replace(self.prepared, tokens=budget)

    def set_budget(self, index: int, words: int) -> None:
        """Section `index` (0-based) is to be about `words` long."""
        self.need_plan().sections[index].budget = words

    def rebalance_unwritten(self) -> None:
        """Share what the target leaves after the text so far among the sections
        not yet written."""
        written = count_words(self.document(partial=True))
        rebalance(written, self.target_words(), self.need_plan().sections[len(self.done) :])

    def add_section(self, title: str, budget: int) -> None:
        """Plan one more section after the last; the next `write_sections()` writes it."""
        self.need_plan().sections.append(Section(title, "", budget))
        self.emit(self._plan_event())

    def replace_plan(self, plan: Plan, written: list[dict[str, Any]]) -> None:
        """Take an edited outline and the written sections it keeps ({title, chunk,
        words}, the first of its sections, in order). Writing goes on after them,
        prompted from the request and the text: the conversation no longer matches."""
        if len(written) > len(plan.sections):
            raise ValueError(
                f"{len(written)} written sections for an outline of {len(plan.sections)}"
            )
        # a kept section keeps its note (found by its text below the heading, which a
        # rename changes); from the first without one, the notes are taken again
        noted = {
            d["chunk"].partition("\n")[2]: note
            for d, note in zip(self.done, self.memory, strict=False)
        }
        self.plan = plan
        self.done = list(written)
        self.memory = []
        for entry in self.done:
            note = noted.get(entry["chunk"].partition("\n")[2])
            if note is None:
                break
            self.memory.append(note)
        self.index = len(self.done)
        self.draft = None
        self.base = self.turn_base = None

    def state(self) -> DocumentState:
        """A copy of what an edit can change; `restore_state` puts it back."""
        if self.plan is None:
            raise ValueError("a planned run has no document state before its outline")
        return DocumentState(
            plan=copy.deepcopy(self.plan),
            done=tuple(copy.deepcopy(self.done)),
            index=self.index,
            base=tuple(self.base) if self.base is not None else None,
            turn_base=tuple(self.turn_base) if self.turn_base is not None else None,
            target=self.target,
            memory=tuple(self.memory),
        )

    def restore_state(self, state: DocumentState) -> None:
        """Back to `state`, a section stopped mid-way dropped; the state stays usable."""
        self.phase = "sections"
        self.plan = copy.deepcopy(state.plan)
        self.done = copy.deepcopy(list(state.done))
        self.index = state.index
        self.base = list(state.base) if state.base is not None else None
        self.turn_base = list(state.turn_base) if state.turn_base is not None else None
        self.memory = list(state.memory)
        self.draft = None
        self.set_target(state.target)

    def move_to(self, prepared: Prepared, engine: Engine) -> None:
        """Go on with another model: its prompts and engine, the same text and plan.
        The conversation's tokens are the old model's, so the next section is
        prompted afresh."""
        self.use(prepared, engine)
        self.conversation = prepared.conversation
        self.language = prepared.prompt.language
        self.base = self.turn_base = None

    def extend(self) -> None:
        """Before the closing section: if the sections so far fell short (weak models
        do), add a section that goes deeper into a planned one, so the document
        still reaches its length. Bounded: at most as many as were planned."""
        plan, target = self.need_plan(), self.target_words()
        if self.prepared.request.outline is not None:
            return  # the author's outline is written as it is: no section is added
        planned = plan.planned_count or len(plan.sections)
        if len(plan.sections) >= 2 * planned or planned < 2:
            return
        closing = plan.sections[-1]
        closing_budget = min(closing.budget, WORDS_PER_SECTION)
        missing = target - count_words(self.document()) - closing_budget
        if missing < WORDS_PER_SECTION // 2:
            # a closing section is asked for a section's worth at most: the shortfall of
            # the sections before it is no conclusion's to make up (a weak model loops)
            closing.budget = closing_budget
            return
        extra = len(plan.sections) - planned
        source = plan.sections[extra % (planned - 1)]
        taken = {s.title for s in plan.sections}
        variants = DEEPER["zh" if self.language == "zh" else "en"]
        titles = [source.title + more for more in variants]
        titles += [f"{titles[0]} ({n})" for n in range(2, len(plan.sections) + 2)]
        title = next(t for t in titles if t not in taken)  # never a heading twice
        plan.sections.insert(
            self.index, Section(title, source.points, min(missing, WORDS_PER_SECTION))
        )
        closing.budget = closing_budget
        self.emit(
            WarningEvent(
                f"{target - missing - closing_budget:,} of {target:,} {word_unit(self.language)} before "
                f"the closing section; adding section {self.index + 1}"
            )
        )
        self.emit(self._plan_event())

    def write_sections(self) -> None:
        """Plan (unless resumed past it), then write every section not yet written."""
        if self.phase == "plan":
            self.make_plan()
        plan = self.need_plan()
        while self.index < len(plan.sections):  # `extend` may add sections to it
            if self._remaining_tokens() <= 64:
                self.emit(WarningEvent("stopped at the token limit (raise --max-tokens)"))
                break
            if self.index == len(plan.sections) - 1 and self.draft is None:
                self.extend()
            self.write_section(self.index)

    def write(self) -> WriteResult:
        self.write_sections()
        text = self.document().strip()
        if not text or not self.done:
            raise RuntimeFailure(
                "the model wrote no document", hint="try again with another --seed"
            )
        text += "\n"
        self.warn_if_short(count_words(text))
        t = self.totals
        return self.finish(
            text,
            RunFigures(
                generated_tokens=t.generated,
                prompt_tokens_evaluated=t.evaluated,
                decode_seconds=t.decode,
                new_tokens=t.new,
                prefill_seconds=t.prefill,
                finish_reason="plan",
                repetition_rewinds=t.rewinds,
                cut_words=t.cut,
                planned_sections=len(self.need_plan().sections),
                memory_tokens=t.memory,
            ),
        )
