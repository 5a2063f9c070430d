"""Typed run state: what a run's journal records, as dataclasses with their JSON.

The JSON is the on-disk contract, journal format 1: `to_json` writes the keys
lwz has always written, `from_json` reads every journal format 1 ever held.
Keys this version does not know (outside a record's JSON_KEYS: written by a newer
minor version, or by a tool of its own) are kept in `unknown` and written back, so
a load/save round trip loses nothing. A journal of a newer format is refused by
`Journal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from lwz_cli import __version__
from lwz_cli.shapes import checked
from lwz_cli.strategy import Strategy
from lwz_cli.writing.plan import Plan

FORMAT = 1


class RunStatus(str, Enum):
    """A run's status as `manifest.json` and `lwz runs` spell it."""

    RUNNING = "running"
    INTERRUPTED = "interrupted"
    DONE = "done"
    FAILED = "failed"
    DAMAGED = "damaged"  # never written: a manifest that cannot be read

    def __str__(self) -> str:  # messages and tables show the plain word
        return self.value

    @property
    def resumable(self) -> bool:
        return self in UNFINISHED


UNFINISHED = (RunStatus.RUNNING, RunStatus.INTERRUPTED, RunStatus.FAILED)


class StateError(ValueError):
    """A journal record lacks a field or has one of the wrong kind."""


def _rest(data: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in known}


def _require(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise StateError(f"{what} is missing or not an object")
    return data


# -- the manifest ---------------------------------------------------------------


@dataclass
class RequestRecord:
    """The request as the user made it, and what lwz decided from it."""

    prompt: str = ""
    words: int | None = None  # --words (or a chat's current target)
    target_words: int | None = None
    stated_words: int | None = None  # the length the prompt itself asks for
    strategy: Strategy = Strategy.SINGLE  # the strategy used
    # what was asked for (auto too); None in runs from before lwz recorded it
    strategy_asked: Strategy | None = None
    strategy_reason: str = ""
    max_tokens: int = 0
    max_tokens_flag: int | None = None  # --max-tokens, when given
    outline: dict[str, Any] | None = None  # --outline's plan (Plan.to_json), fitted to the target
    brief: str | None = None  # --brief's text; None in runs from before lwz took one
    style: str | None = None  # the --style excerpt used
    # planned runs: whether sections carry a memory (writing.memory); None in older runs
    memory: bool | None = None
    # --source: specs, base, citations, excerpt_tokens and the excerpts handed out when
    # the job was prepared (`writing.grounding`); None without sources
    sources: dict[str, Any] | None = None
    unknown: dict[str, Any] = field(default_factory=dict)

    JSON_KEYS: ClassVar[tuple[str, ...]] = (
        "prompt",
        "words",
        "target_words",
        "stated_words",
        "strategy",
        "strategy_asked",
        "strategy_reason",
        "max_tokens",
        "max_tokens_flag",
        "outline",
        "brief",
        "style",
        "memory",
        "sources",
    )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestRecord:
        asked = data.get("strategy_asked")
        return cls(
            prompt=data["prompt"],
            words=data.get("words"),
            target_words=data.get("target_words"),
            stated_words=data.get("stated_words"),
            strategy=Strategy(data.get("strategy", Strategy.SINGLE.value)),
            strategy_asked=Strategy(asked) if asked is not None else None,
            strategy_reason=data.get("strategy_reason", ""),
            max_tokens=data["max_tokens"],  # always written: a manifest without it is damaged
            max_tokens_flag=data.get("max_tokens_flag"),
            outline=data.get("outline"),
            brief=data.get("brief"),
            style=data.get("style"),
            memory=data.get("memory"),
            sources=data.get("sources"),
            unknown=_rest(data, cls.JSON_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        data = {
            **self.unknown,
            "prompt": self.prompt,
            "words": self.words,
            "target_words": self.target_words,
            "stated_words": self.stated_words,
            "strategy": self.strategy.value,
            "strategy_reason": self.strategy_reason,
            "max_tokens": self.max_tokens,
            "max_tokens_flag": self.max_tokens_flag,
        }
        if self.strategy_asked is not None:
            data["strategy_asked"] = self.strategy_asked.value
        if self.outline is not None:
            data["outline"] = self.outline
        if self.sources is not None:
            data["sources"] = self.sources
        for key, value in (("brief", self.brief), ("style", self.style)):
            if value is not None:  # absent, not null: older lwz versions read the record too
                data[key] = value
        if self.memory is not None:
            data["memory"] = self.memory
        return data


@dataclass
class PromptRecord:
    """The exact prompt the model read, so a resume rebuilds the same tokens."""

    text: str = ""
    stop: list[str] = field(default_factory=list)
    protocol: str = "chat"
    language: str = "en"
    add_bos: bool = True
    tokens: list[int] = field(default_factory=list)
    bos: str = ""
    eos: str = ""
    unknown: dict[str, Any] = field(default_factory=dict)

    JSON_KEYS: ClassVar[tuple[str, ...]] = (
        "text",
        "stop",
        "protocol",
        "language",
        "add_bos",
        "tokens",
        "bos",
        "eos",
    )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromptRecord:
        return cls(
            text=data["text"],
            stop=list(data["stop"]),
            protocol=data["protocol"],
            language=data["language"],
            add_bos=data.get("add_bos", True),
            tokens=list(data["tokens"]),
            bos=data.get("bos", ""),
            eos=data.get("eos", ""),
            unknown=_rest(data, cls.JSON_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.unknown,
            "text": self.text,
            "stop": list(self.stop),
            "protocol": self.protocol,
            "language": self.language,
            "add_bos": self.add_bos,
            "tokens": self.tokens,
            "bos": self.bos,
            "eos": self.eos,
        }


@dataclass
class EngineRecord:
    """The engine settings the KV cache and the token ids depend on."""

    n_ctx: int = 0
    gpu_layers: int = 0
    kv_type: str = "f16"
    threads: int | None = None
    unknown: dict[str, Any] = field(default_factory=dict)

    JSON_KEYS: ClassVar[tuple[str, ...]] = ("n_ctx", "gpu_layers", "kv_type", "threads")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EngineRecord:
        return cls(
            n_ctx=data["n_ctx"],
            gpu_layers=data.get("gpu_layers", 0),
            kv_type=data.get("kv_type", "f16"),
            threads=data.get("threads"),
            unknown=_rest(data, cls.JSON_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.unknown,
            "n_ctx": self.n_ctx,
            "gpu_layers": self.gpu_layers,
            "kv_type": self.kv_type,
            "threads": self.threads,
        }


@dataclass
class BatchRecord:
    """Which recipe job made the run, and the fingerprint of its inputs."""

    fingerprint: str
    recipe: str
    job: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchRecord:
        return cls(fingerprint=data["fingerprint"], recipe=data["recipe"], job=data["job"])

    def to_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "recipe": self.recipe, "job": self.job}


@dataclass
class Manifest:
    """`manifest.json`: the request, model identity and settings, and the status.

    `model` and `endpoint` keep the shapes their producers give them (the model's
    fingerprint entry, the endpoint's URLs); the journal only stores them."""

    request: RequestRecord = field(default_factory=RequestRecord)
    prompt: PromptRecord = field(default_factory=PromptRecord)
    sampling: dict[str, Any] = field(default_factory=dict)  # engine.protocol.Sampling's fields
    engine: EngineRecord = field(default_factory=EngineRecord)
    model: dict[str, Any] = field(default_factory=dict)
    output: str | None = None  # absolute path of the document; None: stdout
    endpoint: dict[str, Any] | None = None  # present only for runs through an endpoint
    batch: BatchRecord | None = None  # present only for runs `lwz batch` made
    status: RunStatus = RunStatus.RUNNING
    words: int | None = None  # words written, recorded with each status change
    finished: float | None = None
    id: str = ""
    created: float = 0.0
    updated: float = 0.0
    format: int = FORMAT
    lwz_version: str = __version__
    error: str | None = None  # why a DAMAGED manifest could not be read; never written
    unknown: dict[str, Any] = field(default_factory=dict)

    JSON_KEYS: ClassVar[tuple[str, ...]] = (
        "request",
        "prompt",
        "sampling",
        "engine",
        "model",
        "output",
        "endpoint",
        "batch",
        "status",
        "words",
        "finished",
        "id",
        "created",
        "updated",
        "format",
        "lwz_version",
    )

    @classmethod
    def damaged(cls, run_id: str, error: str) -> Manifest:
        return cls(id=run_id, status=RunStatus.DAMAGED, error=error)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Raises StateError when a field lwz always writes is missing or malformed."""
        try:
            batch = data.get("batch")
            manifest = cls(
                request=RequestRecord.from_json(_require(data.get("request"), "request")),
                prompt=PromptRecord.from_json(_require(data.get("prompt"), "prompt")),
                sampling=dict(_require(data.get("sampling"), "sampling")),
                engine=EngineRecord.from_json(_require(data.get("engine"), "engine")),
                model=dict(_require(data.get("model"), "model")),
                output=data.get("output"),
                endpoint=data.get("endpoint"),
                batch=BatchRecord.from_json(batch) if batch is not None else None,
                status=RunStatus(data.get("status", RunStatus.RUNNING.value)),
                words=data.get("words"),
                finished=data.get("finished"),
                id=data.get("id", ""),
                created=data.get("created", 0.0),
                updated=data.get("updated", 0.0),
                format=int(data.get("format", FORMAT)),
                lwz_version=data.get("lwz_version", ""),
                unknown=_rest(data, cls.JSON_KEYS),
            )
            return checked(manifest)  # a sealed file may still hold a wrong kind of value
        except KeyError as exc:
            raise StateError(f"the field {exc.args[0]} is missing") from None
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(Infinity)
            raise StateError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            **self.unknown,
            "format": self.format,
            "lwz_version": self.lwz_version,
            "id": self.id,
            "created": self.created,
            "updated": self.updated,
            "status": self.status.value,
            "output": self.output,
            "request": self.request.to_json(),
            "prompt": self.prompt.to_json(),
            "sampling": self.sampling,
            "engine": self.engine.to_json(),
            "model": self.model,
        }
        # keys that appear only once they mean something, as they always have
        if self.endpoint is not None:
            data["endpoint"] = self.endpoint
        if self.batch is not None:
            data["batch"] = self.batch.to_json()
        if self.words is not None:
            data["words"] = self.words
        if self.finished is not None:
            data["finished"] = self.finished
        return data


# -- checkpoints ------------------------------------------------------------------


@dataclass
class WrittenSection:
    """A finished section of a planned run: its text begins with its `##` heading."""

    title: str
    chunk: str
    words: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WrittenSection:
        return cls(title=data["title"], chunk=data["chunk"], words=data["words"])

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "chunk": self.chunk, "words": self.words}


@dataclass
class RunTotals:
    """What a planned run's generations cost so far, across every section."""

    evaluated: int = 0  # prompt tokens the engine prefilled
    decode: float = 0.0  # seconds
    prefill: float = 0.0  # seconds
    new: int = 0  # tokens decoded (not replayed)
    rewinds: int = 0  # repetition rewinds
    generated: int = 0  # model tokens of finished generations
    prompt: int = 0  # prompt tokens of every generation (for KV-reuse figures)
    rewritten: int = 0  # sections rewritten by `lwz chat` (seeds each redo anew)
    cut: int = 0  # words of repeated text dropped when the rewinds ran out
    memory: int = 0  # tokens the memory cost: notes generated and prefilled, memory in turns
    unknown: dict[str, Any] = field(default_factory=dict)

    JSON_KEYS: ClassVar[tuple[str, ...]] = (
        "evaluated",
        "decode",
        "prefill",
        "new",
        "rewinds",
        "generated",
        "prompt",
        "rewritten",
        "cut",
        "memory",
    )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunTotals:
        return cls(
            evaluated=data.get("evaluated", 0),
            decode=data.get("decode", 0.0),
            prefill=data.get("prefill", 0.0),
            new=data.get("new", 0),
            rewinds=data.get("rewinds", 0),
            generated=data.get("generated", 0),
            prompt=data.get("prompt", 0),
            rewritten=data.get("rewritten", 0),
            cut=data.get("cut", 0),
            memory=data.get("memory", 0),
            unknown=_rest(data, cls.JSON_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            **self.unknown,
            "evaluated": self.evaluated,
            "decode": self.decode,
            "prefill": self.prefill,
            "new": self.new,
            "rewinds": self.rewinds,
            "generated": self.generated,
            "prompt": self.prompt,
        }
        if self.rewritten:  # only chat redos count it
            data["rewritten"] = self.rewritten
        if self.cut:  # journals of older versions lack it
            data["cut"] = self.cut
        if self.memory:  # likewise
            data["memory"] = self.memory
        return data


@dataclass
class PlannedState:
    """Where a planned run stands: its outline, the sections written, and the
    conversation to continue from. Stored flat in the checkpoint, beside the
    common fields, with `"strategy": "planned"`."""

    phase: str  # "plan": the outline is being written; "sections": the sections are
    plan: Plan | None
    done: list[WrittenSection]
    index: int  # the next section to write (0-based)
    base: list[int] | None  # tokens before the next user turn; None: rebuild the prompt
    context: list[int] | None  # the prompt of the generation in progress, if any
    heading: str  # the heading of the section in progress ("" between sections)
    continuations: int  # nudges spent on the section in progress
    totals: RunTotals
    # one cleaned note per written section ("" for a note dropped as junk); a section
    # written but not noted yet gets its note before the next section
    memory: list[str] = field(default_factory=list)

    JSON_KEYS: ClassVar[tuple[str, ...]] = (
        "strategy",
        "phase",
        "plan",
        "done",
        "index",
        "base",
        "context",
        "heading",
        "continuations",
        "totals",
        "memory",
    )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlannedState:
        plan, base, context = data.get("plan"), data.get("base"), data.get("context")
        return cls(
            phase=data["phase"],
            plan=Plan.from_json(plan) if plan else None,
            done=[WrittenSection.from_json(d) for d in data.get("done", [])],
            index=data.get("index", 0),
            base=list(base) if base is not None else None,
            context=list(context) if context is not None else None,
            heading=data.get("heading", ""),
            continuations=data.get("continuations", 0),
            totals=RunTotals.from_json(data.get("totals", {})),
            memory=list(data.get("memory", [])),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": "planned",
            "phase": self.phase,
            "plan": self.plan.to_json() if self.plan else None,
            "done": [d.to_json() for d in self.done],
            "index": self.index,
            "base": self.base,
            "context": self.context,
            "heading": self.heading,
            "continuations": self.continuations,
            "totals": self.totals.to_json(),
            **({"memory": self.memory} if self.memory else {}),  # absent before lwz had one
        }


@dataclass
class Checkpoint:
    """One checkpoint slot: the generated token ids up to a clean boundary, the
    progress, and (planned runs) the run's own state."""

    seq: int
    generated: list[int]  # token ids after the prompt, up to a clean boundary
    words: int = 0
    sections_done: int = 0
    time: float = 0.0
    planned: PlannedState | None = None
    # a single pass's guard so far (a planned run keeps its own in `planned.totals`):
    # words cut from loops and rewinds, for `done` after a resume; absent when 0
    cut_words: int = 0
    rewinds: int = 0
    # --source: every passage handed out, by number, and each prompt's numbers
    # (`writing.grounding.Ledger`); None in runs without sources or from older versions
    excerpts: dict[str, Any] | None = None
    unknown: dict[str, Any] = field(default_factory=dict)

    JSON_KEYS: ClassVar[tuple[str, ...]] = (
        "seq",
        "generated",
        "words",
        "sections_done",
        "time",
        "cut_words",
        "rewinds",
        "excerpts",
    )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        """Raises StateError when a field is missing or malformed."""
        try:
            planned = PlannedState.from_json(data) if data.get("strategy") == "planned" else None
            known = cls.JSON_KEYS + (PlannedState.JSON_KEYS if planned is not None else ())
            checkpoint = cls(
                seq=int(data["seq"]),
                generated=list(data["generated"]),
                words=data.get("words", 0),
                sections_done=data.get("sections_done", 0),
                time=data.get("time", 0.0),
                planned=planned,
                cut_words=data.get("cut_words", 0),
                rewinds=data.get("rewinds", 0),
                excerpts=data.get("excerpts"),
                unknown=_rest(data, known),
            )
            return checked(checkpoint)
        except KeyError as exc:
            raise StateError(f"the field {exc.args[0]} is missing") from None
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise StateError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.unknown,
            "seq": self.seq,
            "generated": self.generated,
            "words": self.words,
            "sections_done": self.sections_done,
            "time": self.time,
            **({"cut_words": self.cut_words} if self.cut_words else {}),
            **({"rewinds": self.rewinds} if self.rewinds else {}),
            **(self.planned.to_json() if self.planned is not None else {}),
            **({"excerpts": self.excerpts} if self.excerpts is not None else {}),
        }
