"""Run a prepared job with the strategy it was given: `write_document` is the one
entry point for `lwz write`, `lwz resume`, batch and bench scripts."""

from __future__ import annotations

import copy
import threading
from dataclasses import replace

from lwz_cli.engine.protocol import Engine
from lwz_cli.events import (
    Emit,
    LoadingEvent,
    PlanEntry,
    PlanEvent,
    StartEvent,
    TextEvent,
    WarningEvent,
)
from lwz_cli.journal import Journal
from lwz_cli.runstate import Checkpoint
from lwz_cli.strategy import Strategy
from lwz_cli.writing.lifecycle import RunLifecycle
from lwz_cli.writing.plan import Plan
from lwz_cli.writing.planned import DocumentState, PlannedRun
from lwz_cli.writing.result import WriteResult
from lwz_cli.writing.session import Prepared
from lwz_cli.writing.single import SinglePass

# how each strategy produces its text; `RunLifecycle` does the rest
STRATEGIES: dict[Strategy, type[RunLifecycle]] = {
    Strategy.SINGLE: SinglePass,
    Strategy.PLANNED: PlannedRun,
}


def start_event(
    prepared: Prepared,
    *,
    resumed_tokens: int = 0,
    resumed_words: int = 0,
    run_id: str | None = None,
) -> StartEvent:
    request = prepared.request
    return StartEvent(
        model=prepared.model_name,
        model_path=prepared.model.location,
        protocol=prepared.prompt.protocol,
        language=prepared.prompt.language,
        strategy=prepared.strategy,
        strategy_reason=prepared.strategy_reason,
        target_words=prepared.target_words,
        prompt_tokens=prepared.backend.count_tokens(prepared.prompt_tokens),
        n_ctx=prepared.tokens.n_ctx,
        max_tokens=prepared.tokens.max_tokens,
        threads=prepared.threads,
        gpu_layers=prepared.gpu_layers,
        kv_type=prepared.kv_type,
        flash_attn=prepared.flash_attn,
        fit_reason=prepared.fit_reason,
        temperature=request.sampling.temperature,
        top_p=request.sampling.top_p,
        seed=request.sampling.seed,
        kv_snapshot=request.kv_snapshot and prepared.backend.supports_snapshots,
        output=str(request.output) if request.output else None,
        run=run_id,
        resumed=resumed_tokens > 0 or resumed_words > 0,
        resumed_tokens=resumed_tokens,
        resumed_words=resumed_words,
        endpoint=prepared.backend.endpoint_url,
    )


def follow_outline(
    writer: PlannedRun, outline: Plan, emit: Emit, *, scaled_from: int | None = None
) -> None:
    """Start a planned run at its sections with the author's outline (`--outline`)
    instead of asking the model for one; the first checkpoint journals it."""
    plan = copy.deepcopy(outline)
    writer.restore_state(DocumentState(plan, (), 0, None, None, writer.target))
    entries = tuple(
        PlanEntry(i, s.title, s.points, s.budget) for i, s in enumerate(plan.sections, 1)
    )
    emit(PlanEvent(plan.title, entries, source=plan.source, scaled_from=scaled_from))
    if plan.title:
        emit(TextEvent(f"# {plan.title}\n\n"))
    writer.checkpoint()


def write_document(
    prepared: Prepared,
    emit: Emit,
    *,
    engine: Engine | None = None,
    cancel: threading.Event | None = None,
    journal: Journal | None = None,
    checkpoint: Checkpoint | None = None,
) -> WriteResult:
    """Run a prepared job (fresh, or from `checkpoint`). Raises Interrupted when
    `cancel` is set mid-run, after saving a checkpoint."""
    owns_engine = engine is None
    generated = checkpoint.generated if checkpoint else []
    resumed_tokens = prepared.backend.count_tokens(generated)
    start = start_event(
        prepared,
        resumed_tokens=resumed_tokens,
        resumed_words=checkpoint.words if checkpoint else 0,
        run_id=journal.dir.name if journal else None,
    )
    emit(replace(start, resumed=checkpoint is not None))
    if prepared.grounding is not None:  # source files that could not be read
        prepared.grounding.index()  # a resumed job's index opens here, with its warnings
        for message in prepared.grounding.warnings:
            emit(WarningEvent(message))
        prepared.grounding.warnings.clear()
    if engine is None:
        emit(LoadingEvent())
        engine = prepared.backend.load_engine(prepared.engine_settings)
    for message in prepared.backend.warnings:  # endpoints skipped when it was opened
        emit(WarningEvent(message))
    # endpoints retried or dropped mid-run
    engine.on_warning = lambda message: emit(WarningEvent(message))
    try:
        if journal is not None:
            for message in journal.warnings:
                emit(WarningEvent(message))
            journal.warnings.clear()
        writer = STRATEGIES[Strategy(prepared.strategy)](
            prepared,
            emit,
            engine=engine,
            journal=journal,
            cancel=cancel,
            resumed=checkpoint is not None,
        )
        if checkpoint is not None:
            writer.restore(checkpoint)
        outline = prepared.request.outline
        not_planned_yet = checkpoint is None or checkpoint.planned is None
        if outline is not None and isinstance(writer, PlannedRun) and not_planned_yet:
            follow_outline(writer, outline, emit, scaled_from=prepared.outline_scaled_from)
        return writer.run()
    finally:
        if owns_engine:
            engine.close()
        if prepared.grounding is not None:
            prepared.grounding.close()
