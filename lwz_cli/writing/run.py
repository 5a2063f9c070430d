"""Run a prepared job with the strategy it was given: `write_document` is the one
entry point for `lwz write`, `lwz resume`, batch and bench scripts."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Callable

from lwz_cli.engine.http import EndpointError
from lwz_cli.engine.protocol import Engine
from lwz_cli.errors import Interrupted, LwzError
from lwz_cli.events import Emit, LoadingEvent, ResumedEvent, StartEvent, WarningEvent
from lwz_cli.journal import Checkpoint, Journal
from lwz_cli.strategy import Strategy
from lwz_cli.writing.result import WriteResult, resume_command
from lwz_cli.writing.session import Prepared
from lwz_cli.writing.single import SinglePass


def start_event(prepared: Prepared, *, resumed_tokens: int = 0, resumed_words: int = 0,
                run_id: str | None = None) -> StartEvent:
    request = prepared.request
    return StartEvent(
        model=prepared.model_name, model_path=prepared.model.location,
        protocol=prepared.prompt.protocol, language=prepared.prompt.language,
        strategy=prepared.strategy, strategy_reason=prepared.strategy_reason,
        target_words=prepared.target_words,
        prompt_tokens=prepared.backend.count_tokens(prepared.prompt_tokens),
        n_ctx=prepared.tokens.n_ctx,
        max_tokens=prepared.tokens.max_tokens, threads=prepared.threads,
        gpu_layers=prepared.gpu_layers, kv_type=prepared.kv_type,
        flash_attn=prepared.flash_attn, fit_reason=prepared.fit_reason,
        temperature=request.sampling.temperature, top_p=request.sampling.top_p,
        seed=request.sampling.seed,
        kv_snapshot=request.kv_snapshot and prepared.backend.supports_snapshots,
        output=str(request.output) if request.output else None,
        run=run_id, resumed=resumed_tokens > 0 or resumed_words > 0,
        resumed_tokens=resumed_tokens, resumed_words=resumed_words,
        endpoint=prepared.backend.endpoint_url,
    )


def write_document(prepared: Prepared, emit: Emit, *, engine: Engine | None = None,
                   cancel: threading.Event | None = None, journal: Journal | None = None,
                   checkpoint: Checkpoint | None = None) -> WriteResult:
    """Run a prepared job (fresh, or from `checkpoint`). Raises Interrupted when
    `cancel` is set mid-run, after saving a checkpoint."""
    owns_engine = engine is None
    generated = checkpoint.generated if checkpoint else []
    resumed_tokens = prepared.backend.count_tokens(generated)
    start = start_event(prepared, resumed_tokens=resumed_tokens,
                        resumed_words=checkpoint.words if checkpoint else 0,
                        run_id=journal.dir.name if journal else None)
    emit(replace(start, resumed=checkpoint is not None))
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
        if prepared.strategy == Strategy.PLANNED:
            return _run_planned(prepared, emit, engine, journal, cancel, checkpoint)
        writer = SinglePass(prepared, emit, engine=engine, journal=journal, cancel=cancel,
                            resumed=checkpoint is not None)
        if generated:
            writer.snapshots.restore(prepared.prompt_tokens + generated)
            writer.replay(generated)
            emit(ResumedEvent(writer.draft.words, writer.draft.text()[-4000:],
                              think_tail=writer.draft.think_text()[-2000:]))
        try:
            return writer.run()
        except EndpointError as exc:  # saved like a Ctrl-C, then exit 1 naming `lwz resume`
            raise endpoint_failed(exc, prepared, journal, writer._interrupted) from None
        except LwzError:
            raise
        except BaseException:
            # a crash or a second Ctrl-C: the last checkpoint stands; mark the run
            if journal is not None:
                try:
                    journal.set_status("interrupted", words=writer.draft.words)
                except OSError:
                    pass
            raise
    finally:
        if owns_engine:
            engine.close()


def _run_planned(prepared: Prepared, emit: Emit, engine: Engine, journal: Journal | None,
                 cancel: threading.Event | None, checkpoint: Checkpoint | None) -> WriteResult:
    from lwz_cli.writing.planned import PlannedRun

    run = PlannedRun(prepared, emit, engine=engine, journal=journal, cancel=cancel,
                     resumed=checkpoint is not None)
    started = time.monotonic()
    if checkpoint is not None:
        run.restore(checkpoint)
    try:
        run.run()
    except EndpointError as exc:  # saved like a Ctrl-C, then exit 1 naming `lwz resume`
        raise endpoint_failed(exc, prepared, journal,
                              lambda: run._check_cancel("cancelled")) from None
    return run.finish(started)


def endpoint_failed(exc: EndpointError, prepared: Prepared, journal: Journal | None,
                    save: Callable[[], object]) -> EndpointError:
    """After the engine gave up: save what was written (`save` takes the checkpoint
    and marks the run interrupted), and say how to continue."""
    if journal is not None:
        try:
            save()
        except Interrupted:
            pass
        except OSError:
            pass
    exc.hint = f"{exc.hint or 'check the server'}; then continue with: " \
               f"{resume_command(prepared, journal)}"
    return exc
