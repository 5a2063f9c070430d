"""Interactive drafting: one document, steered a step at a time.

`DraftingSession` is the library behind `lwz chat` (and usable from Python):
write a planned document, then redo, expand or continue sections, change the
target or the model, undo, save. The document is always a run in the journal,
checkpointed after every step, so `lwz resume` and `/open` pick it up later.

One engine stays loaded across steps and documents, so every step reuses the
KV cache: redoing or continuing the last section re-reads nothing before it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lwz_cli.config import default
from lwz_cli.engine.protocol import Engine, Sampling
from lwz_cli.engine_slot import Holder, SlotRequest
from lwz_cli.errors import Interrupted, UsageError
from lwz_cli.events import Emit, WarningEvent
from lwz_cli.journal import Journal
from lwz_cli.models.registry import resolve_model
from lwz_cli.output import DocumentOutput
from lwz_cli.profiles import profile
from lwz_cli.runstate import RunStatus
from lwz_cli.strategy import Strategy
from lwz_cli.tokens import TOKENS_PER_WORD
from lwz_cli.writing.engines import EngineCache
from lwz_cli.writing.grounding import Grounding, SourcesSpec
from lwz_cli.writing.length import count_words, parse_target
from lwz_cli.writing.outline_file import fit_outline
from lwz_cli.writing.plan import WORDS_PER_SECTION, Plan, Section, parse_plan
from lwz_cli.writing.planned import DocumentState, PlannedRun
from lwz_cli.writing.resume import find_run, prepare_resume
from lwz_cli.writing.run import follow_outline
from lwz_cli.writing.session import Prepared, WriteRequest, check_words, manifest_for, prepare

DEFAULT_WORDS = 1500  # a chat draft needs a target to plan against
UNDO_DEPTH = 50
CHAT_STRATEGY_REASON = "lwz chat drafts section by section"


@dataclass
class StepStats:
    """What the last step cost: shown by `/stats` and the toolbar."""

    action: str = ""
    prompt_tokens: int = 0  # the context the step's first generation started from
    prefilled: int = 0  # prompt tokens the engine had to read (the rest came from the KV cache)
    generated: int = 0
    decode_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def reused(self) -> int:
        return max(0, self.prompt_tokens - self.prefilled)

    @property
    def tokens_per_second(self) -> float:
        return self.generated / self.decode_seconds if self.decode_seconds > 0 else 0.0


@dataclass
class Settings:
    """What `lwz chat` was started with; applies to every document it writes."""

    model: str | None = None
    output: Path | None = None
    words: int | None = None
    sampling: Sampling = field(default_factory=Sampling)
    threads: int | None = None
    gpu_layers: int | None = None
    kv_type: str | None = None
    ctx: int | None = None
    verbose: bool = False
    wait: bool = True  # for the engine slot, while another lwz runs a model (else exit 1)
    brief: str | None = None  # /brief: the author's brief, as text
    style: str | None = None  # /style: the bounded excerpt of the author's prose
    memory: bool | None = default("memory")  # a memory across sections; None: when needed
    sources: list[str] = field(default_factory=list)  # /source add: files, folders, globs


class DraftingSession:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.run: PlannedRun | None = None  # the open document
        self.journal: Journal | None = None
        self.output: Path | None = settings.output
        self.undo_stack: list[tuple[str, DocumentState]] = []
        self.stats = StepStats()
        self.notes: str | None = None  # guidance waiting for the next generation
        self.cancel = threading.Event()
        # one model stays loaded across steps and documents, holding the engine slot
        me = Holder.me("chat", str(settings.output) if settings.output else None)
        self.engines = EngineCache(SlotRequest(me, wait=settings.wait, cancel=self.cancel))

    # -- what there is -------------------------------------------------------------

    @property
    def prepared(self) -> Prepared | None:
        """The open document's job (its run owns it: the target and model change it)."""
        return self.run.prepared if self.run is not None else None

    @property
    def has_draft(self) -> bool:
        return self.run is not None

    @property
    def has_plan(self) -> bool:
        return self.run is not None and self.run.plan is not None

    @property
    def model_name(self) -> str:
        if self.prepared is not None:
            return self.prepared.model_name
        return self.settings.model or default("model")

    @property
    def target(self) -> int | None:
        return self.prepared.target_words if self.prepared is not None else self.settings.words

    @property
    def words(self) -> int:
        return count_words(self.document()) if self.has_draft else 0

    @property
    def sections(self) -> list[Section]:
        run = self.run
        return run.plan.sections if run is not None and run.plan is not None else []

    @property
    def written(self) -> int:
        return len(self.run.done) if self.run is not None else 0

    def document(self) -> str:
        """Everything written, a section stopped mid-way included."""
        run = self.run
        if run is None or run.plan is None:
            return ""
        return run.document(partial=True)

    def section_text(self, number: int) -> str:
        index = self.written_index(number)
        return self.need_draft().done[index]["chunk"]

    def plan_text(self) -> str:
        """The outline as `/plan` shows it and `/plan edit` reads it back."""
        run = self._need_plan()
        plan = run.need_plan()
        lines = [f"Title: {plan.title}", ""] if plan.title else []
        for i, section in enumerate(plan.sections, 1):
            points = f" — {section.points}" if section.points else ""
            words = (
                f"{run.done[i - 1]['words']} of {section.budget} words written"
                if i <= self.written
                else f"{section.budget} words"
            )
            lines.append(f"{i}. {section.title}{points} ({words})")
        return "\n".join(lines) + "\n"

    # -- documents ---------------------------------------------------------------------

    def existing_draft(self) -> Journal | None:
        """The run that the chat's output file already has, if any."""
        if self.output is None:
            return None
        return Journal.find(self.output)

    def write(
        self,
        prompt: str,
        emit: Emit,
        *,
        words: int | None = None,
        replace_existing: bool = False,
        outline: Plan | None = None,
    ) -> None:
        """Start a new document. Without an output file each document is its own run
        (the previous one stays resumable with /open); with one, a draft already
        there is replaced only when `replace_existing` says so."""

        s = self.settings
        words = words or s.words
        if words is None and parse_target(prompt) is None and outline is None:
            words = DEFAULT_WORDS  # a chat draft needs a target to plan against
        request = WriteRequest(
            prompt=prompt,
            model=s.model,
            output=self.output,
            words=words,
            sampling=s.sampling,
            ctx=s.ctx,
            threads=s.threads,
            gpu_layers=s.gpu_layers,
            kv_type=s.kv_type,
            verbose=s.verbose,
            strategy=Strategy.PLANNED,
            kv_snapshot=False,
            outline=outline,
            brief=s.brief,
            style=s.style,
            memory=s.memory,
            sources=tuple(s.sources),
        )
        # the chat always drafts section by section: no --strategy flag was given
        prepared = replace(prepare(request), strategy_reason=CHAT_STRATEGY_REASON)
        existing = self.existing_draft()
        if (
            existing is not None
            and existing.is_live()
            and (self.journal is None or existing.dir != self.journal.dir)
        ):
            raise UsageError(
                f"{self.output} has a run open in another lwz", hint="close that one first"
            )
        if existing is not None and not replace_existing:
            raise UsageError(
                f"{self.output} already has a draft ({existing.manifest.words or 0} words)",
                hint=f"/open {self.output} goes on with it; /save it elsewhere first "
                "to keep it, then /write again to replace it",
            )
        self._engine_for(prepared, emit)  # any wait for the engine slot, before a file changes
        self.close_document()
        if existing is not None and self.output is not None:  # found at the output path
            existing.remove()
            DocumentOutput(self.output).discard()
        self.journal = Journal.create(manifest_for(prepared), self.output)
        self.journal.lock()
        self.run = PlannedRun(
            prepared,
            emit,
            engine=self._engine_for(prepared),
            journal=self.journal,
            cancel=self.cancel,
        )
        if prepared.grounding is not None:  # source files that could not be read
            for message in prepared.grounding.warnings:
                emit(WarningEvent(message))
            prepared.grounding.warnings.clear()
        if prepared.request.outline is not None:  # `/outline FILE`: no plan asked of the model
            follow_outline(self.run, prepared.request.outline, emit)
        self.undo_stack.clear()
        self._step("write", emit, self._write_on)

    def open(self, target: str, emit: Emit) -> None:
        """Open an existing run (by its output path or id) to go on drafting it."""

        journal = find_run(target)
        if self.journal is not None and journal.dir == self.journal.dir:
            return  # already open
        if journal.is_live():
            raise UsageError(
                f"the run for {target} is open in another lwz", hint="close that one first"
            )
        if journal.manifest.request.strategy != Strategy.PLANNED:
            finish = (
                "it is complete; /write starts a draft with sections"
                if journal.manifest.status == RunStatus.DONE
                else f"`lwz resume {target}` finishes it"
            )
            raise UsageError(
                f"{target} was written in one pass, without sections to edit", hint=finish
            )
        # a saved (done) draft opens too; its status changes only when a step changes it
        prepared, checkpoint = prepare_resume(
            journal,
            model=None,
            threads=self.settings.threads,
            gpu_layers=self.settings.gpu_layers,
            kv_snapshot=False,
            verbose=self.settings.verbose,
            allow_done=True,
        )
        self._engine_for(prepared, emit)  # any wait for the engine slot, before a file changes
        self.close_document()
        self.journal = journal
        self.output = prepared.request.output
        journal.lock()
        self.run = PlannedRun(
            prepared,
            emit,
            engine=self._engine_for(prepared),
            journal=journal,
            cancel=self.cancel,
            resumed=True,
        )
        self.run.restore(checkpoint)
        self.undo_stack.clear()

    def close_document(self) -> None:
        """Leave the open document as a resumable run."""
        if self.run is not None and self.run.prepared.grounding is not None:
            self.run.prepared.grounding.close()
        if self.journal is not None:
            try:
                if self.journal.manifest.status != RunStatus.DONE:
                    self.journal.set_status(RunStatus.INTERRUPTED, words=self.words)
            except OSError:
                pass
            self.journal.unlock()
        self.run = self.journal = None

    def close(self) -> None:
        self.close_document()
        self.engines.close()

    # -- steps ------------------------------------------------------------------------------

    def continue_(self, emit: Emit, *, words: int | None = None) -> None:
        """Write on: finish an interrupted section and the planned ones left; when
        all are written, add a section (`words` long) after the last."""
        run = self.need_draft()
        if run.all_written:
            budget = words or min(WORDS_PER_SECTION, max(200, (self.target or 0) // 4))
            title = "延伸" if run.language == "zh" else "Going Further"
            self._push("continue")
            run.add_section(title, budget)  # its plan event goes to the last step's view
            self._set_target((self.target or 0) + budget)
        else:
            self._push("continue")
        run.set_notes(self._take_notes())  # guidance for the next section written
        self._step("continue", emit, self._write_on)

    def redo(self, number: int, emit: Emit, *, notes: str | None = None) -> None:
        """Write section `number` (1-based) again; the others stay byte-identical."""
        self.need_draft()
        index = self.written_index(number)
        self._no_section_in_progress()
        notes = " ".join(n for n in (self._take_notes(), notes) if n) or None
        self._push(f"redo {number}")
        self._step(f"redo {number}", emit, lambda: self._rewrite(index, notes))

    def expand(self, number: int, words: int, emit: Emit) -> None:
        """Rewrite section `number` at about `words` words, keeping what it says."""
        run = self.need_draft()
        index = self.written_index(number)
        self._no_section_in_progress()
        current = run.done[index]
        if words <= current["words"]:
            raise UsageError(
                f"section {number} already has {current['words']} words",
                hint=f"give a larger length, e.g. /expand {number} {current['words'] * 2}",
            )
        if words > 20_000:
            raise UsageError(
                f"/expand {number} {words}: too long for one section",
                hint="add sections with /continue instead",
            )
        self._push(f"expand {number}")
        run.set_budget(index, words)
        body = current["chunk"].split("\n\n", 1)[-1].strip()
        if run.language == "zh":
            ask = f"把这一部分扩写到约{words}字，保留原有内容并加以深化。原文：\n{body}"
        else:
            ask = (
                f"Expand this section to about {words} words: keep what it says and go deeper "
                f"(examples, detail, reasoning). The current version:\n{body}"
            )
        notes = " ".join(n for n in (self._take_notes(), ask) if n)
        self._set_target(self.words - current["words"] + words + self._unwritten_budget())
        self._step(f"expand {number}", emit, lambda: self._rewrite(index, notes))

    def set_words(self, words: int) -> None:

        check_words(words, "/words")
        run = self._need_plan()
        self._push(f"words {words}")
        self._set_target(words)
        run.rebalance_unwritten()
        self._checkpoint()

    def set_guidance(self, *, brief: str | None, style: str | None) -> None:
        """Use this brief and style from now on: for the next /write and, in an open
        draft, for every later prompt (the draft's next section is prompted afresh, so
        it reads them) and in its journal (so `lwz resume` and /redo use them too)."""
        self.settings.brief, self.settings.style = brief, style
        if self.run is None:
            return
        self._no_section_in_progress()
        run = self.run
        run.prepared = replace(
            run.prepared, request=replace(run.prepared.request, brief=brief, style=style)
        )
        run.base = run.turn_base = None  # the conversation so far holds the old guidance
        if self.journal is not None:
            self.journal.manifest.request.brief = brief
            self.journal.manifest.request.style = style
            self.journal.save_manifest()

    def memory_text(self) -> str:
        """The memory as `/memory` shows it and `/memory edit` reads it back: one line
        per noted section, `N. Title: note` ("" when the draft keeps no memory)."""
        run = self._need_plan()
        if not run.memory_on:
            return ""
        noted = run.notes_of_memory()
        return "".join(f"{i}. {title}: {note}\n" for i, (title, note) in enumerate(noted, 1))

    def edit_memory(self, text: str) -> None:
        """Take the memory as edited (`memory_text`'s lines): a line's note replaces its
        section's, a section whose line is gone keeps no note; undo brings it back."""
        run = self._need_plan()
        self._no_section_in_progress()
        noted = run.notes_of_memory()
        notes = [""] * len(noted)
        for line in text.splitlines():
            number, dot, rest = line.strip().partition(".")
            if not dot or not number.isdigit() or not 1 <= int(number) <= len(noted):
                continue
            title = noted[int(number) - 1][0]
            rest = rest.strip()
            note = rest[len(title) + 1 :] if rest.startswith(f"{title}:") else rest
            notes[int(number) - 1] = " ".join(note.split())
        self._push("memory edit")
        run.set_memory(notes)
        self._checkpoint()

    def set_memory(self, on: bool) -> None:
        """Keep a memory for the open draft from its next section on (or stop)."""
        run = self._need_plan()
        self._no_section_in_progress()
        self.settings.memory = on
        run.memory_on = on
        if self.journal is not None:
            self.journal.manifest.request.memory = on
            self.journal.save_manifest()

    def set_sources(self, specs: list[str]) -> list[str]:
        """Write from these sources from now on: the next /write and, in an open draft,
        every section prompted from here (its journal keeps them for `lwz resume`). The
        numbers already handed out stay, so the draft's [n] keep their passages.
        Returns the warnings of files that could not be read."""
        run = self.run
        old = run.prepared.grounding if run is not None else None
        grounding = None
        if specs:
            citations = old.spec.citations if old is not None else default("citations")
            grounding = Grounding(SourcesSpec(tuple(specs), str(Path.cwd()), citations))
            grounding.index()  # a path that does not exist is refused now
            if old is not None:
                grounding.ledger = old.ledger
        warnings = list(grounding.warnings) if grounding is not None else []
        if grounding is not None:
            grounding.warnings.clear()
        self.settings.sources = list(specs)
        if run is None:
            if grounding is not None:
                grounding.close()
            return warnings
        if old is not None:
            old.close()
        run.prepared = replace(
            run.prepared,
            grounding=grounding,
            request=replace(run.prepared.request, sources=tuple(specs), sources_base=Path.cwd()),
        )
        if self.journal is not None:
            self.journal.manifest.request.sources = (
                {**grounding.spec.to_json(), "excerpts": grounding.ledger.to_json()}
                if grounding is not None
                else None
            )
            self.journal.save_manifest()
        return warnings

    def sources_summary(self) -> str | None:
        """ "N files, M passages" of the open draft's sources, if it has any."""
        grounding = self.run.prepared.grounding if self.run is not None else None
        if grounding is None:
            return None
        figures = grounding.figures()
        return f"{figures['files']} files, {figures['passages']} passages"

    def set_model(self, spec: str) -> str:
        """Use another model from now on (the open draft keeps its text and plan)."""

        resolved = resolve_model(spec)
        if self.has_draft:
            self._no_section_in_progress()
            self._reprepare(spec)
            self.undo_stack = [(label, state.without_tokens()) for label, state in self.undo_stack]
        self.settings.model = spec
        return resolved.alias or resolved.path.name

    def edit_plan(self, text: str) -> None:
        """Replace the outline with an edited one (as `plan_text` writes it). Written
        sections keep their text; a renamed one gets its new heading; sections cut
        from the end are dropped (undo brings them back)."""
        run = self._need_plan()
        self._no_section_in_progress()
        parsed = parse_plan(_strip_counts(text))
        if not parsed.sections:
            raise UsageError(
                "the edited outline has no numbered sections",
                hint="keep lines like '1. Title — points (300 words)'",
            )
        self._push("plan edit")
        old = run.need_plan()
        # parse_plan may drop junk or repeated lines, so the two lists can differ in length
        for section, line in zip(parsed.sections, _budgets(text), strict=False):
            if line:
                section.budget = line
        plan = Plan(parsed.title or old.title, parsed.sections, old.planned_count)
        run.replace_plan(plan, _match_written(run.done, [sec.title for sec in parsed.sections]))
        self._set_target(sum(s.budget for s in parsed.sections))
        self._checkpoint(all_sections=True)

    def use_outline(self, plan: Plan) -> None:
        """`/outline FILE` on an open draft: its outline becomes the file's (budgets as
        the file gives them, shared equally where it gives none). Written sections
        are kept by title, as for `/plan edit`."""
        run = self._need_plan()
        self._no_section_in_progress()
        fitted = fit_outline(plan, None if any(s.budget for s in plan.sections) else self.target)
        self._push("outline")
        old = run.need_plan()
        titles = [s.title for s in fitted.plan.sections]
        new = Plan(
            fitted.plan.title or old.title, fitted.plan.sections, len(titles), source="outline"
        )
        run.replace_plan(new, _match_written(run.done, titles))
        self._set_target(fitted.target)
        self._checkpoint(all_sections=True)

    def undo(self) -> str:
        """Put back the state before the last change; returns what was undone."""
        if not self.undo_stack:
            raise UsageError(
                "nothing to undo",
                hint="/undo reverts /redo, /expand, /continue, /words and /plan edit",
            )
        label, state = self.undo_stack.pop()
        self.need_draft().restore_state(state)
        self._set_target(state.target)  # the manifest's copy of it
        self._checkpoint(all_sections=True)
        return label

    def save(self, path: Path | None = None) -> Path:
        """Write the document (atomically) to `path`, or to the chat's output."""
        run = self._need_plan()
        target = path or self.output
        if target is None:
            raise UsageError("no file to save to", hint="/save PATH, e.g. /save guide.md")
        own = self.output is not None and target.resolve() == self.output.resolve()
        complete = run.all_written
        if own and not complete:  # PATH existing means "complete"; PATH.partial has the rest
            left = len(run.need_plan().sections) - self.written
            raise UsageError(
                f"the draft is not finished ({left} planned section(s) left); "
                f"{self.output} is written when it is",
                hint="/continue finishes it; /save OTHER.md saves a copy now",
            )
        if target.is_dir():
            raise UsageError(f"{target} is a directory", hint="/save a file path such as guide.md")
        if not target.parent.is_dir():
            raise UsageError(
                f"cannot save to {target}: folder {target.parent} does not exist",
                hint=f"create it first (mkdir -p {target.parent})",
            )
        text = self.document().strip() + "\n"
        grounding = run.prepared.grounding
        if grounding is not None:  # the saved document's citations, checked, with References
            text, _ = grounding.check(text, run.language)
        if own:
            DocumentOutput(target).finish(text)
            self._need_journal().set_status(RunStatus.DONE, words=self.words, finished=time.time())
        else:
            DocumentOutput(target).write(text)
        return target

    # -- checks (`lwz chat` runs them before a step, to fail before its view opens) -------------

    def need_draft(self) -> PlannedRun:
        """The open document's run; UsageError unless a document is open."""
        if self.run is None:
            raise UsageError(
                "there is no draft yet", hint="/write PROMPT starts one (or /open PATH)"
            )
        return self.run

    def _need_plan(self) -> PlannedRun:
        """The open document's run, once its outline is written; else a UsageError."""
        run = self.need_draft()
        if run.plan is None:
            raise UsageError(
                "the outline is not written yet (planning was stopped)", hint="/continue writes it"
            )
        return run

    def _need_journal(self) -> Journal:
        """The open document's journal: `write` and `open` set it with the run."""
        if self.journal is None:
            raise RuntimeError("the open draft has no journal")
        return self.journal

    def _no_section_in_progress(self) -> None:
        run = self.need_draft()
        if run.section_in_progress:
            raise UsageError(
                f"section {run.index + 1} was stopped mid-way",
                hint="/continue finishes it; /undo drops it",
            )

    def written_index(self, number: int) -> int:
        """The 0-based index of written section `number` (1-based), or a UsageError."""
        self._need_plan()
        if not 1 <= number <= self.written:
            have = (
                f"sections 1-{self.written} are written"
                if self.written
                else "no section is written yet"
            )
            raise UsageError(
                f"there is no written section {number}: {have}", hint="/plan lists them"
            )
        return number - 1

    # -- internals -----------------------------------------------------------------------------

    def _take_notes(self) -> str | None:
        notes, self.notes = self.notes, None
        return notes

    def _unwritten_budget(self) -> int:
        return sum(s.budget for s in self.need_draft().need_plan().sections[self.written :])

    def _push(self, label: str) -> None:
        run = self.need_draft()
        if run.plan is None:
            return  # nothing to go back to before the outline
        self.undo_stack.append((label, run.state()))
        del self.undo_stack[:-UNDO_DEPTH]

    def _set_target(self, words: int | None) -> None:
        self.need_draft().set_target(words)
        if self.journal is not None:
            self.journal.manifest.request.words = words
            self.journal.manifest.request.target_words = words
            self.journal.save_manifest()

    def _engine_for(self, prepared: Prepared, emit: Emit | None = None) -> Engine:
        run = self.journal.dir.name if self.journal is not None else None
        return self.engines.get(prepared.backend, prepared.engine_settings, emit=emit, run=run)

    def _reprepare(self, spec: str) -> None:
        """Move the open draft to another model: new prompts and engine, same text."""

        run, journal = self.need_draft(), self._need_journal()
        old = run.prepared
        request = replace(old.request, model=spec, words=old.target_words, ctx=self.settings.ctx)
        prepared = replace(prepare(request), target_words=old.target_words)
        if old.grounding is not None and prepared.grounding is not None:
            prepared.grounding.ledger = old.grounding.ledger  # the [n] written keep their passages
            old.grounding.close()
        run.move_to(prepared, self._engine_for(prepared))
        manifest = manifest_for(prepared)
        recorded = journal.manifest
        recorded.model, recorded.prompt = manifest.model, manifest.prompt
        recorded.engine = manifest.engine
        journal.save_manifest()

    def _write_on(self) -> str:
        self.need_draft().write_sections()
        return "done"

    def _rewrite(self, index: int, notes: str | None) -> str:
        reason = self.need_draft().rewrite_section(index, notes=notes)
        if reason == "cancelled":
            self.undo()  # back to before the step (an /expand's new budget too)
            raise Interrupted(
                f"stopped; section {index + 1} is unchanged (its half-written "
                "replacement was dropped)"
            )
        self._checkpoint(all_sections=False, section=index)
        return reason

    def _checkpoint(self, *, all_sections: bool = False, section: int | None = None) -> None:
        journal, run = self.journal, self.need_draft()
        if journal is None:
            return
        if all_sections:
            for i, entry in enumerate(run.done, 1):
                journal.write_section(i, entry["chunk"])
            for stale in sorted((journal.dir / "sections").glob("*.md"))[len(run.done) :]:
                stale.unlink(missing_ok=True)
        elif section is not None:
            journal.write_section(section + 1, run.done[section]["chunk"])
        run.checkpoint()
        if journal.manifest.status == RunStatus.DONE:  # changed after a save: unfinished again
            journal.set_status(RunStatus.RUNNING, words=self.words)
        if self.output is not None:
            DocumentOutput(self.output).write_partial(run.document())

    def _step(self, action: str, emit: Emit, work: Callable[[], str]) -> None:
        """Run one generating step with `emit` as the view; Ctrl-C (the cancel
        event) stops it with everything written so far checkpointed."""
        run = self.need_draft()
        run.set_emit(emit)
        before = replace(run.totals)  # a copy: the step adds to the run's own
        if self.journal is not None and self.journal.manifest.status == RunStatus.DONE:
            # being changed after a save: unfinished again
            self.journal.set_status(RunStatus.RUNNING)
        run.allow_tokens(self._step_allowance())
        started = time.monotonic()
        stats = StepStats(action=action)
        try:
            work()
        except Interrupted:
            if run.stopped_mid_way:  # keep the outline or section so far for /continue
                self._resync()
            raise
        finally:
            stats.prefilled = run.totals.evaluated - before.evaluated
            stats.generated = run.totals.new - before.new
            stats.decode_seconds = run.totals.decode - before.decode
            stats.seconds = time.monotonic() - started
            stats.prompt_tokens = run.totals.prompt - before.prompt
            self.stats = stats
        if action == "write" or action == "continue":
            self._checkpoint(all_sections=False)

    def _step_allowance(self) -> int:

        words = max(
            self._unwritten_budget() if self.has_plan else (self.target or DEFAULT_WORDS),
            max((s.budget for s in self.sections), default=0),
            WORDS_PER_SECTION,
        )
        run = self.need_draft()
        return profile(run.prepared.prompt.protocol).plan_tokens + int(
            words * TOKENS_PER_WORD[run.language] * 3
        )

    def _resync(self) -> None:
        """After a stop mid-section, rebuild the run from its checkpoint so the next
        /continue starts from exactly what was saved (the KV cache still holds it)."""

        run, journal = self.need_draft(), self._need_journal()
        checkpoint = journal.latest_checkpoint()
        if checkpoint is None:  # the stop saved none: go on from the run as it stands
            return
        fresh = PlannedRun(
            run.prepared,
            lambda event: None,
            engine=run.engine,
            journal=journal,
            cancel=self.cancel,
            resumed=True,
        )
        fresh.restore(checkpoint)
        self.run = fresh


def _match_written(done: list[dict[str, Any]], titles: list[str]) -> list[dict[str, Any]]:
    """The written sections an edited outline keeps, in its order: matched by title
    (so deleting or moving a line moves its text), else by position when the old
    title is gone (a rename: the text gets the new heading). Written sections stay a
    prefix of the outline, so the first line with no text ends the kept part."""

    def key(title: str) -> str:
        return " ".join(title.lower().split())

    by_title = {key(d["title"]): d for d in done}
    new_keys = {key(t) for t in titles}
    kept: list[dict[str, Any]] = []
    for i, title in enumerate(titles):
        entry = by_title.get(key(title))
        if entry is None and i < len(done) and key(done[i]["title"]) not in new_keys:
            body = done[i]["chunk"].split("\n\n", 1)[-1]
            chunk = f"## {title}\n\n{body}"
            entry = {"title": title, "chunk": chunk, "words": count_words(chunk)}
        if entry is None or any(e is entry for e in kept):
            break
        kept.append(entry)
    return kept


def _strip_counts(text: str) -> str:
    """Drop the '(N words)' / '(N of M words written)' suffixes `plan_text` adds."""
    import re

    return re.sub(r"\s*\((?:\d+ of )?\d[\d,]* words(?: written)?\)\s*$", "", text, flags=re.M)


def _budgets(text: str) -> list[int | None]:
    """The word budget each numbered line of an edited outline asks for."""
    import re

    found = []
    for line in text.splitlines():
        if re.match(r"\s*\d+[.)]\s", line):
            m = re.search(r"\((?:(\d+) of )?(\d[\d,]*) words(?: written)?\)\s*$", line)
            found.append(int(m.group(2).replace(",", "")) if m else None)
    return found
