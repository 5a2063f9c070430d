"""Preparing one `lwz write` job: every check that can fail on user input runs
here, before the model loads, and the context is sized to the request.

`lwz_cli.writing.run` runs the prepared job; `lwz_cli.writing.resume`
rebuilds a prepared job from a run's journal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from lwz_cli.config import default
from lwz_cli.engine.protocol import Engine, Sampling
from lwz_cli.errors import UsageError
from lwz_cli.models.identity import ModelIdentity
from lwz_cli.output import written_path
from lwz_cli.profiles import profile, profile_for
from lwz_cli.runstate import EngineRecord, Manifest, PromptRecord, RequestRecord
from lwz_cli.strategy import Strategy, check_strategy
from lwz_cli.system import physical_cores
from lwz_cli.writing import budget, plan, prompts
from lwz_cli.writing.backend import Backend, EngineSettings, LocalBackend, llama_gpu_layers
from lwz_cli.writing.brief import guidance_block as brief_block
from lwz_cli.writing.brief import with_guidance
from lwz_cli.writing.endpoint import open_endpoint
from lwz_cli.writing.grounding import (
    CITATION_MODES,
    DOCUMENT_KEY,
    PLAN_KEY,
    PLAN_SHARE,
    Grounding,
    SourcesSpec,
)
from lwz_cli.writing.length import MAX_TARGET_WORDS, parse_target
from lwz_cli.writing.memory import outgrows_window
from lwz_cli.writing.outline_file import fit_outline, outline_prompt


@dataclass(frozen=True)
class WriteRequest:
    prompt: str
    model: str | None = None
    output: Path | None = None
    words: int | None = None
    max_tokens: int | None = None
    sampling: Sampling = field(default_factory=Sampling)
    ctx: int | None = None
    threads: int | None = None
    gpu_layers: int | None = None  # None: the fit plan decides
    kv_type: str | None = None  # f16 | q8_0 | q4_0; None: the fit plan decides
    verbose: bool = False
    kv_snapshot: bool = True
    snapshot_budget_gb: float = default("snapshot_max_gb")
    strategy: str = default("strategy")  # a Strategy name
    endpoints: tuple[str, ...] = ()  # OpenAI-compatible servers; the first reachable is used
    endpoint_model: str | None = None  # the served model name (default: the first in /v1/models)
    api_key: str | None = field(default=None, repr=False)  # never stored
    outline: plan.Plan | None = None  # --outline: the sections to write, not the model's plan
    brief: str | None = None  # the author's brief, as text (`writing.brief.read_brief`)
    style: str | None = None  # the bounded excerpt of the author's prose (`read_style`)
    # planned runs: a memory of each section's facts for the later ones (writing.memory);
    # None: only when the document is expected to outgrow the context window
    memory: bool | None = default("memory")
    sources: tuple[str, ...] = ()  # --source: files, folders, globs
    sources_base: Path | None = None  # the folder relative --source paths are named from
    citations: str = default("citations")  # none | numeric | footnotes
    excerpt_tokens: int = default("excerpt_tokens")  # excerpts per prompt, in tokens

    @property
    def sources_spec(self) -> SourcesSpec | None:
        """The sources as the manifest records them; None without --source."""
        if not self.sources:
            return None
        base = self.sources_base if self.sources_base is not None else Path.cwd()
        return SourcesSpec(self.sources, str(base.resolve()), self.citations, self.excerpt_tokens)

    @property
    def guidance(self) -> str:
        """The brief and style block that every prompt's request text carries."""
        return brief_block(self.brief, self.style, prompts.language_of(self.prompt))

    @property
    def guided_prompt(self) -> str:
        """The request text a rebuilt prompt restates: the request and its guidance."""
        return with_guidance(self.prompt, self.brief, self.style, prompts.language_of(self.prompt))


@dataclass(frozen=True)
class Prepared:
    """A job ready to run; never changed after `prepare` (derive another with
    `dataclasses.replace`)."""

    request: WriteRequest
    backend: Backend  # what runs the model: identity, engine, manifest entries
    prompt: prompts.Prompt
    prompt_tokens: list[int]
    target_words: int | None
    stated_words: int | None
    tokens: budget.TokenBudget
    threads: int
    strategy: str = Strategy.SINGLE
    strategy_reason: str = ""
    conversation: prompts.Conversation | None = None
    bos_text: str = ""
    eos_text: str = ""
    gpu_layers: int = 0
    kv_type: str = "f16"
    flash_attn: bool = False
    fit_reason: str = ""
    outline_scaled_from: int | None = None  # the outline file's total, when scaled to the target
    memory: bool = False  # planned: sections carry a memory (`request.memory` resolved)
    grounding: Grounding | None = None  # --source: the index and the excerpts handed out

    @property
    def model(self) -> ModelIdentity:
        return self.backend.identity

    @property
    def model_name(self) -> str:
        return self.backend.identity.display_name

    @property
    def engine_settings(self) -> EngineSettings:
        return EngineSettings(
            n_ctx=self.tokens.n_ctx,
            threads=self.threads,
            gpu_layers=self.gpu_layers,
            kv_type=self.kv_type,
            flash_attn=self.flash_attn,
            seed=self.request.sampling.seed,
            verbose=self.request.verbose,
        )


def check_output(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"-o {path} is a directory", hint="give a file path such as guide.md")
    import os

    if path.exists() and not path.is_file():  # a FIFO or device: written through by name
        if not os.access(path, os.W_OK):
            raise UsageError(f"cannot write -o {path}: permission denied")
        return
    target = written_path(path)  # a symlink is written through: its target's folder matters
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(
            f"cannot write -o {path}: folder {parent} does not exist",
            hint=f"create it first (mkdir -p {parent})",
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        raise UsageError(
            f"cannot write -o {path}: permission denied", hint="choose a folder you can write to"
        )


def check_words(words: int | None, source: str) -> None:
    if words is None:
        return
    if words <= 0:
        raise UsageError(
            f"{source} must be a positive number of words, not {words}",
            hint="for example --words 2000",
        )
    if words > MAX_TARGET_WORDS:
        raise UsageError(
            f"{source} asks for {words:,} words, more than lwz writes "
            f"({MAX_TARGET_WORDS:,} at most)",
            hint="ask for fewer words",
        )


def prepare(request: WriteRequest) -> Prepared:
    """Validate everything and size the job; nothing heavy is loaded here."""
    scaled_from = None
    if request.outline is not None:
        request, scaled_from = _follow_outline(request, request.outline)
    text = request.prompt.strip()
    if not text:
        raise UsageError(
            "the prompt is empty",
            hint='say what to write, e.g. lwz write "a 2000-word guide to tea"',
        )
    check_words(request.words, "--words")
    stated = parse_target(text)
    if request.words is None:
        check_words(stated, "the request")
    target = request.words if request.words is not None else stated
    if request.max_tokens is not None and request.max_tokens <= 0:
        raise UsageError("--max-tokens must be positive", hint="for example --max-tokens 4096")
    if request.ctx is not None and request.ctx <= 0:
        raise UsageError("--ctx must be positive", hint="for example --ctx 16384")
    if request.threads is not None and request.threads <= 0:
        raise UsageError(
            "--threads must be positive", hint="leave it out to use the physical cores"
        )
    check_output(request.output)
    check_sources(request)

    check_strategy(request.strategy)
    if request.strategy == Strategy.PLANNED:
        planned_target(target)  # refused before the model loads

    backend = open_backend(request)
    grounding = open_grounding(request)
    try:
        prepared = _prepare(request, backend, grounding, text, target, stated)
    except BaseException:
        if grounding is not None:
            grounding.close()
        raise
    return replace(prepared, outline_scaled_from=scaled_from)


def _prepare(
    request: WriteRequest,
    backend: Backend,
    grounding: Grounding | None,
    text: str,
    target: int | None,
    stated: int | None,
) -> Prepared:
    model = backend.identity
    vocab = backend.vocab(verbose=request.verbose)
    count = vocab.count_tokens  # model tokens in a list of the vocab's ids
    try:
        lwz = prompts.is_longwriter_zero(model.name, model.file_name, model.repo_id)
        bos, eos = vocab.token_text(vocab.bos_token), vocab.token_text(vocab.eos_token)
        name = model.display_name
        n_ctx_train = backend.n_ctx_train
        single_error = None
        if request.strategy != Strategy.PLANNED:
            guidance = with_excerpts(request, grounding)
            if lwz:
                prompt = prompts.longwriter_zero_prompt(text, target, stated, guidance)
            else:
                prompt = prompts.chat_prompt(
                    text,
                    target,
                    stated,
                    template=model.chat_template,
                    bos_token=bos,
                    eos_token=eos,
                    guidance=guidance,
                )
            tokens = vocab.tokenize(prompt.text, add_bos=prompt.add_bos)
            try:
                token_budget = budget.plan_tokens(
                    prompt_tokens=count(tokens),
                    target_words=target,
                    language=prompt.language,
                    protocol=prompt.protocol,
                    n_ctx_train=n_ctx_train,
                    ctx_override=request.ctx,
                    max_tokens_override=request.max_tokens,
                    model_name=name,
                )
            except UsageError as exc:
                if request.strategy == Strategy.SINGLE:
                    raise UsageError(
                        exc.message,
                        hint=(exc.hint or "")
                        + "; or use --strategy planned to write it section by section",
                    ) from exc
                single_error = exc
        strategy, reason = choose_strategy(request.strategy, target, lwz, single_error)
        if request.outline is not None:
            reason = "following the outline given with --outline"
        if strategy == Strategy.SINGLE and single_error is not None:
            raise single_error
        conversation = None
        if strategy == Strategy.PLANNED:
            # auto picks planned only for a target; --strategy planned was checked above
            target = planned_target(target)
            language = prompts.language_of(text)
            protocol = prompts.LWZ if lwz else prompts.CHAT
            conversation = make_conversation(protocol, language, model.chat_template, bos, eos)
            guided = with_plan_excerpts(
                with_guidance(text, request.brief, request.style, language), request, grounding
            )
            plan_text = conversation.first(plan.plan_request(guided, target, language))
            prompt = prompts.Prompt(
                text=plan_text,
                stop=conversation.stop,
                protocol=protocol,
                language=language,
                add_bos=not (bos and plan_text.startswith(bos)),
            )
            tokens = vocab.tokenize(prompt.text, add_bos=prompt.add_bos)
            token_budget = budget.plan_planned(
                prompt_tokens=count(tokens),
                target_words=target,
                language=language,
                protocol=protocol,
                n_ctx_train=n_ctx_train,
                ctx_override=request.ctx,
                max_tokens_override=request.max_tokens,
                model_name=name,
            )
    except UsageError as exc:
        raise with_excerpts_named(with_guidance_named(exc, request), request) from exc
    finally:
        vocab.close()
    # the fit plan (or the flags) places the model; a job that cannot fit is
    # refused here, before the model loads
    fit = backend.fit(
        n_ctx=token_budget.n_ctx, gpu_layers=request.gpu_layers, kv_type=request.kv_type
    )
    memory = strategy == Strategy.PLANNED and wants_memory(
        request, count(tokens), target, prompt, token_budget.n_ctx
    )
    return Prepared(
        request,
        backend,
        prompt,
        tokens,
        target,
        stated,
        token_budget,
        request.threads or physical_cores(),
        strategy,
        reason,
        conversation,
        bos,
        eos,
        gpu_layers=fit.gpu_layers,
        kv_type=fit.kv_type,
        flash_attn=fit.flash_attn,
        fit_reason=fit.reason,
        memory=memory,
        grounding=grounding,
    )


def wants_memory(
    request: WriteRequest,
    prompt_tokens: int,
    target: int | None,
    prompt: prompts.Prompt,
    n_ctx: int,
) -> bool:
    """`--memory`/`--no-memory` as given; by default, only for a document expected to
    outgrow its window: while the whole document fits, every section reads all the
    earlier text itself and a memory would be prefill for nothing."""
    if request.memory is not None:
        return request.memory
    target = target or 0
    sections = (
        len(request.outline.sections) if request.outline else target // plan.WORDS_PER_SECTION + 1
    )
    return outgrows_window(
        prompt_tokens=prompt_tokens,
        plan_tokens=profile(prompt.protocol).plan_tokens,
        target_words=target,
        sections=sections,
        language=prompt.language,
        n_ctx=n_ctx,
    )


def check_sources(request: WriteRequest) -> None:
    """--citations and the excerpt budget, checked before anything is read."""
    if request.citations not in CITATION_MODES:
        raise UsageError(
            f"--citations {request.citations} is not one of {', '.join(CITATION_MODES)}",
            hint="numeric numbers them [1], [2] with References at the end",
        )
    if request.excerpt_tokens < 100:
        raise UsageError(
            f"--excerpt-tokens {request.excerpt_tokens} is too small to hold an excerpt",
            hint="use 100 or more (default 900)",
        )


def open_grounding(request: WriteRequest) -> Grounding | None:
    """The request's sources, indexed now: a path that does not exist is refused
    before the model loads, and unreadable files are warnings kept for the run."""
    spec = request.sources_spec
    if spec is None:
        return None
    grounding = Grounding(spec)
    grounding.index()
    return grounding


def with_plan_excerpts(guided: str, request: WriteRequest, grounding: Grounding | None) -> str:
    """The plan prompt's request: a short set of excerpts after it, so the outline
    covers what the sources hold (not cited: the outline has no sentences to cite)."""
    if grounding is None:
        return guided
    language = prompts.language_of(request.prompt)
    query = " ".join(part for part in (request.prompt, request.brief) if part)
    block = grounding.excerpts(PLAN_KEY, query, language, share=PLAN_SHARE, cite=False)
    return f"{guided}\n\n{block}" if block else guided


def with_excerpts(request: WriteRequest, grounding: Grounding | None) -> str:
    """The single pass's guidance block: the brief and style, then one budgeted set
    of excerpts for the whole request."""
    guidance = request.guidance
    if grounding is None:
        return guidance
    language = prompts.language_of(request.prompt)
    query = " ".join(part for part in (request.prompt, request.brief) if part)
    block = grounding.excerpts(DOCUMENT_KEY, query, language)
    return f"{guidance}\n\n{block}" if guidance and block else guidance or block or ""


def _follow_outline(request: WriteRequest, given: plan.Plan) -> tuple[WriteRequest, int | None]:
    """A job that writes the author's outline: planned, sized by --words or by the
    outline's own budgets (scaled to --words when they differ), and asking for the
    outlined document when no PROMPT is given."""
    if request.strategy == Strategy.SINGLE:
        raise UsageError(
            "--outline writes section by section: it cannot be --strategy single",
            hint="drop --strategy single",
        )
    check_words(request.words, "--words")
    words = request.words
    if words is None and not any(s.budget for s in given.sections):
        words = parse_target(request.prompt)  # no budgets: the request's length, if it says one
    fitted = fit_outline(given, words)
    check_words(fitted.target, "the outline")
    prompt = request.prompt if request.prompt.strip() else outline_prompt(given)
    return replace(
        request, prompt=prompt, words=fitted.target, strategy=Strategy.PLANNED, outline=fitted.plan
    ), fitted.scaled_from


def with_guidance_named(error: UsageError, request: WriteRequest) -> UsageError:
    """A prompt too long for the context says so of the brief and style too, when
    they are part of it: they are the likelier thing to shorten."""
    if not request.guidance or not error.message.startswith("the request is"):
        return error
    return UsageError(
        error.message.replace("the request is", "the request with its brief and style is", 1),
        hint=(error.hint or "shorten the request") + " (shorten --brief or --style)",
    )


def with_excerpts_named(error: UsageError, request: WriteRequest) -> UsageError:
    """A prompt too long for the context with --source excerpts in it says how to
    make them fewer."""
    if not request.sources or not error.message.startswith("the request"):
        return error
    return UsageError(
        error.message,
        hint=(error.hint or "") + f" (or lower --excerpt-tokens, now {request.excerpt_tokens})",
    )


def open_backend(request: WriteRequest) -> Backend:
    """What runs the request's model: an endpoint when --endpoint is given (its
    "tokens" are code points), else the local GGUF."""
    if request.endpoints:
        return open_endpoint(
            request.endpoints,
            api_key=request.api_key,
            model_spec=request.model,
            endpoint_model=request.endpoint_model,
            ctx=request.ctx,
        )
    return LocalBackend.resolve(request.model)


def make_conversation(
    protocol: str, language: str, template: str | None, bos: str, eos: str
) -> prompts.Conversation:
    return prompts.Conversation(
        protocol,
        language,
        template=template,
        bos_token=bos,
        eos_token=eos,
        system=None if protocol == prompts.LWZ else prompts.PLANNED_SYSTEM[language],
    )


def planned_target(target: int | None) -> int:
    """The length a planned job is sized by: there is no outline without one."""
    if target is None:
        raise UsageError(
            "--strategy planned needs a target length",
            hint='say it in the request ("a 3000-word ...") or pass --words',
        )
    return target


def choose_strategy(
    asked: str, target: int | None, lwz: bool, single_error: UsageError | None
) -> tuple[Strategy, str]:
    reach = profile_for(lwz).single_pass_reach
    if asked == Strategy.SINGLE:
        return Strategy.SINGLE, "asked for with --strategy single"
    if asked == Strategy.PLANNED:
        return Strategy.PLANNED, "asked for with --strategy planned"
    if target is None:
        return Strategy.SINGLE, "no target length: one pass"
    if single_error is not None:
        return Strategy.PLANNED, f"{target:,} words do not fit one pass of the model's context"
    if target <= reach:
        return (
            Strategy.SINGLE,
            f"{target:,} words is within the model's one-pass reach (~{reach:,})",
        )
    return Strategy.PLANNED, f"{target:,} words is beyond the model's one-pass reach (~{reach:,})"


def engine_gpu_layers(prepared: Prepared) -> int:
    """llama.cpp's n_gpu_layers for the job's plan (see `llama_gpu_layers`)."""
    return llama_gpu_layers(prepared.model.info, prepared.gpu_layers)


def load_engine(prepared: Prepared) -> Engine:
    return prepared.backend.load_engine(prepared.engine_settings)


def manifest_for(prepared: Prepared) -> Manifest:
    """What a run's journal records so `lwz resume` can rebuild the exact job."""

    request = prepared.request
    return Manifest(
        output=str(request.output.resolve()) if request.output else None,
        request=RequestRecord(
            prompt=request.prompt,
            words=request.words,
            target_words=prepared.target_words,
            stated_words=prepared.stated_words,
            strategy=Strategy(prepared.strategy),
            strategy_asked=Strategy(request.strategy),
            strategy_reason=prepared.strategy_reason,
            max_tokens=prepared.tokens.max_tokens,
            max_tokens_flag=request.max_tokens,
            outline=request.outline.to_json() if request.outline is not None else None,
            brief=request.brief,
            style=request.style,
            memory=prepared.memory if prepared.strategy == Strategy.PLANNED else None,
            sources=sources_record(prepared),
        ),
        prompt=PromptRecord(
            text=prepared.prompt.text,
            stop=list(prepared.prompt.stop),
            protocol=prepared.prompt.protocol,
            language=prepared.prompt.language,
            add_bos=prepared.prompt.add_bos,
            tokens=prepared.prompt_tokens,
            bos=prepared.bos_text,
            eos=prepared.eos_text,
        ),
        sampling=asdict(request.sampling),
        engine=EngineRecord(
            n_ctx=prepared.tokens.n_ctx,
            gpu_layers=prepared.gpu_layers,
            kv_type=prepared.kv_type,
            threads=prepared.threads,
        ),
        model=prepared.backend.manifest_model(),
        endpoint=prepared.backend.manifest_endpoint(),
    )


def sources_record(prepared: Prepared) -> dict | None:
    """The manifest's `request.sources`: the specs, and the excerpts already handed
    out when the job was prepared (the single pass's set is in its prompt)."""
    grounding = prepared.grounding
    if grounding is None:
        return None
    return {**grounding.spec.to_json(), "excerpts": grounding.ledger.to_json()}
