"""Rebuild a prepared job from a run's journal, so it continues where it stopped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lwz_cli.config import default
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import UsageError
from lwz_cli.journal import SLOTS, Checkpoint, Journal, JournalCorrupt, model_fingerprint
from lwz_cli.models.gguf import read_gguf
from lwz_cli.models.identity import ModelIdentity
from lwz_cli.models.registry import ResolvedModel, resolve_model
from lwz_cli.output import DocumentOutput
from lwz_cli.runstate import UNFINISHED, RunStatus
from lwz_cli.strategy import Strategy
from lwz_cli.system import physical_cores
from lwz_cli.writing import budget, prompts
from lwz_cli.writing.backend import Backend, LocalBackend
from lwz_cli.writing.endpoint import resume_endpoint
from lwz_cli.writing.grounding import Grounding, Ledger, SourcesSpec
from lwz_cli.writing.outline_file import plan_from_record
from lwz_cli.writing.session import Prepared, WriteRequest, make_conversation, manifest_for

__all__ = ["UNFINISHED", "check_document", "find_run", "open_run", "prepare_resume"]


def find_run(target: str | Path) -> Journal:
    journal = Journal.find(target)
    if journal is None:
        raise UsageError(
            f"there is no lwz run for {target}",
            hint="`lwz runs` lists the runs that can be resumed",
        )
    check_document(journal, Path(target))
    return journal


def check_document(journal: Journal, target: Path) -> None:
    """A run writes the document its folder was named for (from the document's path,
    when the run began). A manifest naming another one was edited or copied: going
    on would write elsewhere and leave PATH.partial stale, so it is refused, whether
    the run was found by its document's path or by its id."""
    recorded = journal.output
    if recorded is None or journal.made_for(recorded):
        return
    by_path = journal.dir == Journal.path_for(target)
    run = f"the run for {target}" if by_path else f"the run {journal.dir.name}"
    again = f"-o {target} " if by_path else ""
    raise JournalCorrupt(
        f"{run} records another document, {recorded}, than its folder was made for "
        f"(its journal {journal.dir} was edited or copied)",
        hint=f"`lwz runs rm {journal.dir.name}` removes it; "
        f"`lwz write ... {again}--restart` starts the document again",
    )


def _check_progress(journal: Journal, output: Path | None) -> None:
    """A run with no checkpoint may start again only if it saved nothing: a run
    stopped before its first checkpoint. Saved sections or PATH.partial with no
    checkpoint are missing state, reported like damaged state, never dropped."""
    sections = journal.saved_sections()
    partial = DocumentOutput(output).partial if output is not None else None
    saved = []
    if sections:
        saved.append(f"{len(sections)} saved section{'s' if len(sections) > 1 else ''}")
    if partial is not None and partial.exists():
        saved.append(str(partial))
    if not saved and not journal.manifest.words:
        return
    what = " and ".join(saved) or f"{journal.manifest.words} words written"
    raise JournalCorrupt(
        f"the run in {journal.dir} has {what} but its checkpoint files "
        f"({' and '.join(SLOTS)}) are missing",
        hint="`lwz write ... --restart` starts the document again"
        + (f" (copy {journal.dir / 'sections'} first to keep them)" if sections else ""),
    )


def _model_for(journal: Journal, model: str | None, force: bool) -> ResolvedModel:
    recorded = journal.manifest.model
    if model is None:
        path = Path(recorded["path"])
        if not path.is_file():
            raise UsageError(
                f"the run's model {path} is gone",
                hint=f"download it again, or pass --model with another copy of {recorded['name']}",
            )
        resolved = ResolvedModel(
            path,
            recorded.get("spec") or str(path),
            recorded.get("alias"),
            recorded.get("repo_id"),
            path.name,
        )
    else:
        resolved = resolve_model(model)
    current = model_fingerprint(resolved.path)
    if current["fingerprint"] != recorded["fingerprint"] and not force:
        raise UsageError(
            f"{resolved.path} is not the model this run was written with "
            f"({recorded['name']}, {recorded['size']:,} bytes)",
            hint="pass the original model, or --force to continue with this one (the KV "
            "snapshot is then ignored and the text is re-read)",
        )
    return resolved


def prepare_resume(
    journal: Journal,
    *,
    model: str | None = None,
    force: bool = False,
    threads: int | None = None,
    gpu_layers: int | None = None,
    verbose: bool = False,
    kv_snapshot: bool = True,
    snapshot_budget_gb: float = default("snapshot_max_gb"),
    output: Path | None = None,
    endpoints=(),
    api_key: str | None = None,
    endpoint_model: str | None = None,
    allow_done: bool = False,
) -> tuple[Prepared, Checkpoint]:
    """The prepared job and checkpoint that continue `journal`'s run. A complete run
    is refused unless `allow_done` (`lwz chat` reopens one to go on editing it)."""
    manifest = journal.manifest
    status = manifest.status
    if status == RunStatus.DONE and not allow_done:
        where = manifest.output or journal.dir.name
        raise UsageError(
            f"the run for {where} is already complete",
            hint="`lwz write ... --restart` writes it again",
        )
    if not status.resumable and not (status == RunStatus.DONE and allow_done):
        raise UsageError(f"the run {journal.dir.name} cannot be resumed (status {status})")

    def local_model() -> ModelIdentity:
        resolved = _model_for(journal, model, force)
        return ModelIdentity.local(resolved, read_gguf(resolved.path))

    backend: Backend
    served: tuple[tuple[str, ...], str | None] | None = None  # an endpoint's urls and model
    if manifest.endpoint is not None or endpoints:  # written through an endpoint
        remote = resume_endpoint(
            manifest,
            local_model=local_model,
            endpoints=endpoints,
            api_key=api_key,
            endpoint_model=endpoint_model,
        )
        backend, served = remote, (remote.urls, remote.model)
    else:
        backend = LocalBackend(local_model())
    identity = backend.identity
    req, prompt_data, engine = manifest.request, manifest.prompt, manifest.engine
    sampling = Sampling(**manifest.sampling)
    out = output or (Path(manifest.output) if manifest.output else None)
    layers = engine.gpu_layers if gpu_layers is None else gpu_layers
    kv_type = engine.kv_type
    # --force with another file: the snapshot holds the other model's cache
    stale_snapshot = (
        force
        and backend.supports_snapshots
        and identity.path is not None
        and model_fingerprint(identity.path)["fingerprint"] != manifest.model["fingerprint"]
    )
    endpoint_urls, served_model = served if served is not None else ((), None)
    request = WriteRequest(
        prompt=req.prompt,
        model=identity.spec,
        output=out,
        words=req.words,
        max_tokens=req.max_tokens_flag,
        sampling=sampling,
        ctx=engine.n_ctx,
        threads=threads,
        gpu_layers=layers,
        kv_type=kv_type,
        verbose=verbose,
        kv_snapshot=kv_snapshot and not stale_snapshot,
        snapshot_budget_gb=snapshot_budget_gb,
        strategy=req.strategy_asked or req.strategy,
        endpoints=endpoint_urls,
        endpoint_model=served_model,
        api_key=api_key if served is not None else None,
        outline=None if req.outline is None else plan_from_record(req.outline, str(journal.dir)),
        brief=req.brief,
        style=req.style,
        memory=bool(req.memory),  # runs from before lwz kept a memory go on without one
        **_sources_fields(req.sources),
    )
    prompt = prompts.Prompt(
        text=prompt_data.text,
        stop=tuple(prompt_data.stop),
        protocol=prompt_data.protocol,
        language=prompt_data.language,
        add_bos=prompt_data.add_bos,
    )
    strategy = req.strategy
    conversation = None
    if strategy == Strategy.PLANNED:
        conversation = make_conversation(
            prompt.protocol,
            prompt.language,
            identity.chat_template,
            prompt_data.bos,
            prompt_data.eos,
        )
    token_budget = budget.TokenBudget(
        n_ctx=engine.n_ctx, max_tokens=req.max_tokens, needed_tokens=req.max_tokens
    )
    prepared = Prepared(
        request=request,
        backend=backend,
        prompt=prompt,
        prompt_tokens=list(prompt_data.tokens),
        target_words=req.target_words,
        stated_words=req.stated_words,
        tokens=token_budget,
        threads=threads or physical_cores(),
        strategy=strategy,
        strategy_reason=req.strategy_reason,
        conversation=conversation,
        bos_text=prompt_data.bos,
        eos_text=prompt_data.eos,
        gpu_layers=layers,
        kv_type=kv_type,
        flash_attn=kv_type != "f16" or layers != 0,
        memory=bool(req.memory) and strategy == Strategy.PLANNED,
        grounding=_grounding(req.sources),
    )
    checkpoint = journal.latest_checkpoint()
    if checkpoint is None:
        _check_progress(journal, out)
        checkpoint = Checkpoint(seq=0, generated=[])
    return prepared, checkpoint


def _sources_fields(record: dict | None) -> dict:
    """The WriteRequest fields of the run's --source record (none without one)."""
    if record is None:
        return {}
    spec = SourcesSpec.from_json(record)
    return {
        "sources": spec.specs,
        "sources_base": Path(spec.base) if spec.base else None,
        "citations": spec.citations,
        "excerpt_tokens": spec.excerpt_tokens,
    }


def _grounding(record: dict | None) -> Grounding | None:
    """The run's sources again, with the excerpts handed out when it was prepared
    (a checkpoint's later ledger replaces them in `restore`); the index opens on the
    next retrieval, with the files as they are now."""
    if record is None:
        return None
    grounding = Grounding(SourcesSpec.from_json(record), resumed=True)
    grounding.ledger = Ledger.from_json(record.get("excerpts") or {})
    return grounding


def _same_sources(recorded: dict | None, prepared: Prepared) -> bool:
    """The same --source specs (from the same folder) and --citations."""
    grounding = prepared.grounding
    if recorded is None or grounding is None:
        return recorded is None and grounding is None
    return SourcesSpec.from_json(recorded) == grounding.spec


def open_run(
    prepared: Prepared, *, restart: bool = False, confirm: Callable[[int], bool] | None = None
) -> tuple[Prepared, Journal, Checkpoint | None]:
    """The journal and checkpoint for a job: a fresh run, or the unfinished run for
    the same output path, resumed (when `confirm(words)` agrees, if given) unless
    `restart`. An unfinished run of a different request is refused, not lost."""

    request = prepared.request
    output = request.output
    existing = Journal.find(output) if output is not None else None
    if existing is not None and output is not None:
        check_document(existing, output)
    if existing is not None and existing.is_live():
        # neither resumed nor restarted under a writer: --restart would delete its journal
        raise UsageError(
            f"another lwz is writing {output} right now ({existing.dir.name})",
            hint="wait for it to finish, or stop it first",
        )
    if output is not None and existing is not None and existing.manifest.status.resumable:
        recorded = existing.manifest.request
        same = (
            recorded.prompt == request.prompt
            and recorded.words == request.words
            and (recorded.strategy_asked or request.strategy) == request.strategy
            and recorded.outline == (request.outline.to_json() if request.outline else None)
            # a new --brief or --style would otherwise be dropped silently by the resume
            and recorded.brief == request.brief
            and recorded.style == request.style
            and _same_sources(recorded.sources, prepared)
        )
        resume = not restart
        if resume and not same:
            raise UsageError(
                f"{request.output} has an unfinished run of a different request",
                hint=f"`lwz resume {request.output}` continues it; --restart discards it",
            )
        if resume and confirm is not None:
            resume = confirm(existing.manifest.words or 0)
        if resume:
            if prepared.grounding is not None:  # the run's own sources are opened instead
                prepared.grounding.close()
            resumed, checkpoint = prepare_resume(
                existing,
                model=request.model,
                threads=request.threads,
                gpu_layers=request.gpu_layers,
                verbose=request.verbose,
                kv_snapshot=request.kv_snapshot,
                snapshot_budget_gb=request.snapshot_budget_gb,
                endpoints=request.endpoints,
                api_key=request.api_key,
                endpoint_model=request.endpoint_model,
            )
            return resumed, existing, checkpoint
        DocumentOutput(output).discard()
    return prepared, Journal.create(manifest_for(prepared), request.output), None
