"""Every event lwz emits, one frozen dataclass each.

Producers (the strategies, batch, the CLI) build these; views dispatch on the
type. `to_json()` is the `--json` contract (design.md): the same keys, in the
same order, with the same values as the hand-built dicts it replaced. A field
listed in a class's `OMIT_NONE` is left out of the JSON when it is None (that
key only appears for some producers); every other field is always written.

A new event is one class here plus its cases in the views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar


class Event:
    """Base of all events; `NAME` is the JSON `"event"` value."""

    __slots__ = ()
    NAME: ClassVar[str] = ""
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.NAME}
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            if value is None and f.name in self.OMIT_NONE:
                continue
            out[f.name] = value
        return out


Emit = Callable[[Event], None]


# -- one run: `lwz write`, `lwz resume`, each batch job, each chat step -------------------


@dataclass(frozen=True, slots=True)
class StartEvent(Event):
    NAME: ClassVar[str] = "start"
    model: str
    model_path: str
    protocol: str
    language: str
    strategy: str
    strategy_reason: str
    target_words: int | None
    prompt_tokens: int
    n_ctx: int
    max_tokens: int
    threads: int
    gpu_layers: int
    kv_type: str
    flash_attn: bool
    fit_reason: str
    temperature: float
    top_p: float
    seed: int | None
    kv_snapshot: bool
    output: str | None
    run: str | None
    resumed: bool
    resumed_tokens: int
    resumed_words: int
    endpoint: str | None


@dataclass(frozen=True, slots=True)
class ThinkEvent(Event):
    """Think text as it streams (never part of the document)."""

    NAME: ClassVar[str] = "think"
    text: str


@dataclass(frozen=True, slots=True)
class TextEvent(Event):
    """Document text, released once its sentence passed the repetition guard."""

    NAME: ClassVar[str] = "text"
    text: str


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One section of a `plan` event."""

    index: int
    title: str
    points: str
    budget: int

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "title": self.title,
            "points": self.points,
            "budget": self.budget,
        }


@dataclass(frozen=True, slots=True)
class PlanEvent(Event):
    NAME: ClassVar[str] = "plan"
    title: str | None  # None: the outline has no title (JSON null)
    sections: tuple[PlanEntry, ...]
    # "model": the model's outline; "resampled": its answer after junk ones (placeholder
    # or echoed headings) were rejected; "request": built from the request's own words;
    # "outline": an outline file the author gave (--outline), used as it is
    source: str = "model"
    scaled_from: int | None = None  # an outline file's own total, when scaled to the target

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "event": self.NAME,
            "title": self.title,
            "sections": [s.to_json() for s in self.sections],
            "source": self.source,
        }
        if self.scaled_from is not None:
            data["scaled_from"] = self.scaled_from
        return data


@dataclass(frozen=True, slots=True)
class SectionStartEvent(Event):
    """A heading: Markdown's own (single pass, no budget) or a planned section's."""

    NAME: ClassVar[str] = "section_start"
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"budget"})
    index: int
    title: str
    level: int
    budget: int | None = None


@dataclass(frozen=True, slots=True)
class SectionEndEvent(Event):
    NAME: ClassVar[str] = "section_end"
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({"budget"})
    index: int
    title: str
    words: int
    budget: int | None = None


@dataclass(frozen=True, slots=True)
class CheckpointEvent(Event):
    NAME: ClassVar[str] = "checkpoint"
    tokens: int
    words: int
    sections: int


@dataclass(frozen=True, slots=True)
class WarningEvent(Event):
    NAME: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True, slots=True)
class WaitingEvent(Event):
    """Another lwz holds the engine slot (`lwz_cli.engine_slot`): this run starts when
    it finishes. `pid` is 0 and `holder` empty when the holder could not be read."""

    NAME: ClassVar[str] = "waiting"
    message: str
    pid: int
    holder: str  # what it does: "writing guide.md", "chat", "batch tea.yaml"


@dataclass(frozen=True, slots=True)
class DoneEvent(Event):
    """The run's totals. `continuations` and `think_chars` come from the single
    pass, `planned_sections` from the planned strategy, `token_counts` from an
    endpoint ("server usage" or "counted pieces")."""

    NAME: ClassVar[str] = "done"
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset(
        {"continuations", "think_chars", "planned_sections", "token_counts", "citations", "sources"}
    )
    output: str | None
    words: int
    target_words: int | None
    generated_tokens: int
    prompt_tokens_evaluated: int
    decode_seconds: float
    tokens_per_second: float
    prefill_seconds: float
    seconds: float
    resumed: bool
    resumed_tokens: int
    finish_reason: str
    repetition_rewinds: int
    continuations: int | None
    sections: int
    think_chars: int | None
    planned_sections: int | None
    model: str
    strategy: str
    token_counts: str | None = None
    cut_words: int = 0  # words of repeated text dropped once the rewinds were spent
    memory_tokens: int = 0  # planned runs' memory: note tokens generated + prefilled
    citations: dict[str, int] | None = None  # --source: {total, kept, dropped, unsupported}
    sources: dict[str, int] | None = None  # --source: {files, passages} in the index


@dataclass(frozen=True, slots=True)
class ErrorEvent(Event):
    NAME: ClassVar[str] = "error"
    message: str
    exit_code: int


# -- progress: for the interactive views only (`--json` of lwz write drops them) ----------


@dataclass(frozen=True, slots=True)
class ProgressEvent(Event):
    """Base of the `progress` events; a view that only wants the contract drops
    this type."""

    NAME: ClassVar[str] = "progress"


@dataclass(frozen=True, slots=True)
class LoadingEvent(ProgressEvent):
    """The model is being loaded."""

    def to_json(self) -> dict[str, Any]:
        return {"event": self.NAME, "phase": "loading"}


@dataclass(frozen=True, slots=True)
class ResumedEvent(ProgressEvent):
    """A run was resumed: the tail of what it had written, for the live view.
    The single pass sends its think tail too, and has always listed the tails
    before the counts; the planned strategy sends none and lists words first."""

    words: int
    draft_tail: str
    think_tail: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.think_tail is None:
            return {
                "event": self.NAME,
                "phase": "resumed",
                "words": self.words,
                "draft_tail": self.draft_tail,
                "tokens": 0,
            }
        return {
            "event": self.NAME,
            "phase": "resumed",
            "draft_tail": self.draft_tail,
            "think_tail": self.think_tail,
            "words": self.words,
            "tokens": 0,
        }


@dataclass(frozen=True, slots=True)
class TickEvent(ProgressEvent):
    """A few times a second while generating: counts so far. `phase` is the
    parser's mode ("think", "answer", ...) or "planning" for an outline."""

    phase: str
    tokens: int
    words: int
    decode_seconds: float

    def offset(self, *, words: int = 0, tokens: int = 0, decode_seconds: float = 0.0) -> TickEvent:
        """This tick counted from the start of the document rather than of one draft."""
        return TickEvent(
            self.phase,
            self.tokens + tokens,
            self.words + words,
            self.decode_seconds + decode_seconds,
        )


# -- lwz batch --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobEvent(Event):
    """`lwz batch --dry-run --json`: what a job would do."""

    NAME: ClassVar[str] = "job"
    job: str
    output: str
    action: str
    reason: str
    words: int | None
    prompt: str
    model: str | None = None  # the model the job would load; None: its endpoint's


@dataclass(frozen=True, slots=True)
class JobStartEvent(Event):
    NAME: ClassVar[str] = "job_start"
    job: str
    output: str
    action: str
    reason: str


@dataclass(frozen=True, slots=True)
class JobEndEvent(Event):
    NAME: ClassVar[str] = "job_end"
    job: str
    output: str
    action: str
    status: str
    words: int
    target_words: int | None
    seconds: float
    message: str
    endpoint: str | None


@dataclass(frozen=True, slots=True)
class BatchEvent(Event):
    """The closing summary; `results` are the jobs' `job_end` bodies."""

    NAME: ClassVar[str] = "batch"
    jobs: int
    done: int
    skipped: int
    failed: int
    interrupted: bool
    results: tuple[JobEndEvent, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.NAME,
            "jobs": self.jobs,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "interrupted": self.interrupted,
            "results": [_body(r) for r in self.results],
        }


def _body(event: Event) -> dict[str, Any]:
    """An event's JSON without its `"event"` key."""
    out = event.to_json()
    del out["event"]
    return out


# -- lwz models pull --json -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadEvent(Event):
    NAME: ClassVar[str] = "download"
    file: str
    done: int
    total: int
    rate: float
    resumed_from: int
    offset: int


@dataclass(frozen=True, slots=True)
class PulledEvent(Event):
    """The pulled model is in place (`lwz models pull --json` ends with it)."""

    NAME: ClassVar[str] = "done"
    path: str
    size: int


# The `--json` contract of a run (design.md): what `JsonLinesView` writes. Progress
# ticks are for the interactive views only; a new run event that scripts should see
# is added here, next to its class.
CONTRACT: tuple[type[Event], ...] = (
    WaitingEvent,
    StartEvent,
    ThinkEvent,
    PlanEvent,
    SectionStartEvent,
    TextEvent,
    SectionEndEvent,
    CheckpointEvent,
    WarningEvent,
    DoneEvent,
    ErrorEvent,
)
# `lwz batch --json`: the same contract for every job (each event tagged with its job),
# plus the batch's own job events; never progress ticks.
BATCH_CONTRACT: tuple[type[Event], ...] = (*CONTRACT, JobStartEvent, JobEndEvent)
