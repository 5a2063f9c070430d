"""Preparing one `lwz write` job: every check that can fail on user input runs
here, before the model loads, and the context is sized to the request.

`lwz_cli.writing.run` runs the prepared job; `lwz_cli.writing.resume`
rebuilds a prepared job from a run's journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lwz_cli.config import default
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import UsageError
from lwz_cli.models.gguf import GGUFInfo, read_gguf
from lwz_cli.models.registry import ResolvedModel, resolve_model
from lwz_cli.profiles import profile_for
from lwz_cli.strategy import Strategy, check_strategy
from lwz_cli.system import physical_cores
from lwz_cli.writing import budget, plan, prompts
from lwz_cli.writing.length import MAX_TARGET_WORDS, parse_target

@dataclass
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


@dataclass
class Prepared:
    request: WriteRequest
    model: ResolvedModel
    info: GGUFInfo
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
    endpoint: dict | None = None  # set when an endpoint runs the job (lwz_cli.writing.endpoint)

    @property
    def model_name(self) -> str:
        return self.model.alias or self.info.name


def check_output(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"-o {path} is a directory", hint="give a file path such as guide.md")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write -o {path}: folder {parent} does not exist",
                         hint=f"create it first (mkdir -p {parent})")
    import os

    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write -o {path}: permission denied",
                         hint="choose a folder you can write to")


def check_words(words: int | None, source: str) -> None:
    if words is None:
        return
    if words <= 0:
        raise UsageError(f"{source} must be a positive number of words, not {words}",
                         hint="for example --words 2000")
    if words > MAX_TARGET_WORDS:
        raise UsageError(f"{source} asks for {words:,} words, more than lwz writes "
                         f"({MAX_TARGET_WORDS:,} at most)", hint="ask for fewer words")


def prepare(request: WriteRequest) -> Prepared:
    """Validate everything and size the job; nothing heavy is loaded here."""
    text = request.prompt.strip()
    if not text:
        raise UsageError("the prompt is empty", hint='say what to write, e.g. lwz write "a 2000-word guide to tea"')
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
        raise UsageError("--threads must be positive", hint="leave it out to use the physical cores")
    check_output(request.output)

    check_strategy(request.strategy)
    if request.strategy == Strategy.PLANNED and target is None:
        raise UsageError("--strategy planned needs a target length",
                         hint="say it in the request (\"a 3000-word ...\") or pass --words")

    endpoint = None
    if request.endpoints:  # an endpoint runs the model; "tokens" are code points
        from lwz_cli.writing.endpoint import open_identity

        model, info, vocab, endpoint = open_identity(request)
    else:
        model = resolve_model(request.model)
        info = read_gguf(model.path)
        from lwz_cli.engine.llama import VocabTokenizer

        vocab = VocabTokenizer(str(model.path), verbose=request.verbose)
    count = getattr(vocab, "count_tokens", len)  # model tokens in a list of the vocab's ids
    try:
        lwz = prompts.is_longwriter_zero(info.name, model.path.name, model.repo_id)
        bos, eos = vocab.token_text(vocab.bos_token), vocab.token_text(vocab.eos_token)
        name = model.alias or info.name
        n_ctx_train = getattr(vocab, "server_ctx", None) or info.context_length or 0
        single_error = None
        if request.strategy != Strategy.PLANNED:
            if lwz:
                prompt = prompts.longwriter_zero_prompt(text, target, stated)
            else:
                prompt = prompts.chat_prompt(text, target, stated, template=info.chat_template,
                                             bos_token=bos, eos_token=eos)
            tokens = vocab.tokenize(prompt.text, add_bos=prompt.add_bos)
            try:
                token_budget = budget.plan_tokens(
                    prompt_tokens=count(tokens), target_words=target, language=prompt.language,
                    protocol=prompt.protocol, n_ctx_train=n_ctx_train, ctx_override=request.ctx,
                    max_tokens_override=request.max_tokens, model_name=name)
            except UsageError as exc:
                if request.strategy == Strategy.SINGLE:
                    raise UsageError(exc.message, hint=(exc.hint or "") +
                                     "; or use --strategy planned to write it section by section")
                single_error = exc
        strategy, reason = choose_strategy(request.strategy, target, lwz, single_error)
        if strategy == Strategy.SINGLE and single_error is not None:
            raise single_error
        conversation = None
        if strategy == Strategy.PLANNED:
            language = prompts.language_of(text)
            protocol = prompts.LWZ if lwz else prompts.CHAT
            conversation = make_conversation(protocol, language, info.chat_template, bos, eos)
            plan_text = conversation.first(plan.plan_request(text, target, language))
            prompt = prompts.Prompt(text=plan_text, stop=conversation.stop, protocol=protocol,
                                    language=language,
                                    add_bos=not (bos and plan_text.startswith(bos)))
            tokens = vocab.tokenize(prompt.text, add_bos=prompt.add_bos)
            token_budget = budget.plan_planned(
                prompt_tokens=count(tokens), target_words=target, language=language,
                protocol=protocol, n_ctx_train=n_ctx_train, ctx_override=request.ctx,
                max_tokens_override=request.max_tokens, model_name=name)
    finally:
        vocab.close()
    prepared = Prepared(request, model, info, prompt, tokens, target, stated, token_budget,
                        request.threads or physical_cores(), strategy, reason, conversation, bos, eos)
    if endpoint is not None:
        prepared.endpoint = endpoint
        prepared.fit_reason = f"the endpoint {endpoint['url']} runs the model"
    else:
        apply_fit(prepared)
    return prepared


def apply_fit(prepared: Prepared) -> None:
    """GPU layers, KV type and flash attention from the fit plan, unless flags set
    them; a job that cannot fit is refused here, before the model loads."""
    from lwz_cli.models.catalog import architecture_of
    from lwz_cli.models.fit import plan as fit_plan
    from lwz_cli.models.hardware import probe

    request = prepared.request
    arch = architecture_of(prepared.info.metadata)
    if arch is None:
        prepared.gpu_layers = request.gpu_layers or 0
        prepared.kv_type = request.kv_type or "f16"
        prepared.flash_attn = prepared.kv_type != "f16"
        return
    machine = probe()
    chosen = fit_plan(machine, arch=arch, weights=prepared.model.path.stat().st_size,
                      quant=prepared.model.path.name, ctx=prepared.tokens.n_ctx)
    if not chosen.fits and request.gpu_layers is None:
        raise UsageError(f"{prepared.model_name} {chosen.reason}",
                         hint=(f"nearest plan that would fit: {chosen.nearest}; " if chosen.nearest
                               else "") + "`lwz fit` shows the arithmetic; --gpu-layers forces a plan")
    prepared.gpu_layers = chosen.gpu_layers if request.gpu_layers is None else (
        arch.layers if request.gpu_layers < 0 else request.gpu_layers)
    prepared.kv_type = request.kv_type or (chosen.kv_type if request.gpu_layers is None else "f16")
    prepared.flash_attn = prepared.kv_type != "f16" or (chosen.flash_attn and prepared.gpu_layers > 0)
    prepared.fit_reason = chosen.reason if request.gpu_layers is None else "set by --gpu-layers"


def make_conversation(protocol: str, language: str, template: str | None, bos: str,
                      eos: str) -> prompts.Conversation:
    return prompts.Conversation(
        protocol, language, template=template, bos_token=bos, eos_token=eos,
        system=None if protocol == prompts.LWZ else prompts.PLANNED_SYSTEM[language])


def choose_strategy(asked: str, target: int | None, lwz: bool,
                    single_error: UsageError | None) -> tuple[Strategy, str]:
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
        return Strategy.SINGLE, f"{target:,} words is within the model's one-pass reach (~{reach:,})"
    return Strategy.PLANNED, f"{target:,} words is beyond the model's one-pass reach (~{reach:,})"


def engine_gpu_layers(prepared: Prepared) -> int:
    """llama.cpp's n_gpu_layers for the plan: it counts the output layer as one more
    than the model's blocks, so "all N blocks" must be -1 or layer 0 stays on the
    CPU (seen on an H100: "offloaded 30/31 layers" for a 30-block model)."""
    from lwz_cli.models.catalog import architecture_of

    arch = architecture_of(prepared.info.metadata)
    if prepared.gpu_layers < 0 or (arch is not None and prepared.gpu_layers >= arch.layers):
        return -1
    return prepared.gpu_layers


def load_engine(prepared: Prepared):
    if prepared.endpoint:
        from lwz_cli.writing.endpoint import load_engine as load_endpoint_engine

        return load_endpoint_engine(prepared)
    from lwz_cli.engine.llama import LlamaEngine

    request = prepared.request
    from lwz_cli.models.fit import GGML_TYPE

    type_kv = GGML_TYPE[prepared.kv_type] if prepared.kv_type != "f16" else None
    return LlamaEngine(
        str(prepared.model.path), n_ctx=prepared.tokens.n_ctx, n_threads=prepared.threads,
        n_gpu_layers=engine_gpu_layers(prepared), flash_attn=prepared.flash_attn, type_k=type_kv,
        type_v=type_kv, seed=request.sampling.seed, verbose=request.verbose,
    )


def manifest_for(prepared: Prepared) -> dict:
    """What a run's journal records so `lwz resume` can rebuild the exact job."""
    from dataclasses import asdict

    from lwz_cli.writing.endpoint import manifest_endpoint, manifest_model

    request = prepared.request
    manifest = {
        "output": str(request.output.resolve()) if request.output else None,
        "request": {"prompt": request.prompt, "words": request.words,
                    "target_words": prepared.target_words, "stated_words": prepared.stated_words,
                    "strategy": prepared.strategy, "strategy_asked": request.strategy,
                    "strategy_reason": prepared.strategy_reason,
                    "max_tokens": prepared.tokens.max_tokens,
                    "max_tokens_flag": request.max_tokens},
        "prompt": {"text": prepared.prompt.text, "stop": list(prepared.prompt.stop),
                   "protocol": prepared.prompt.protocol, "language": prepared.prompt.language,
                   "add_bos": prepared.prompt.add_bos, "tokens": prepared.prompt_tokens,
                   "bos": prepared.bos_text, "eos": prepared.eos_text},
        "sampling": asdict(request.sampling),
        "engine": {"n_ctx": prepared.tokens.n_ctx, "gpu_layers": prepared.gpu_layers,
                   "kv_type": prepared.kv_type, "threads": prepared.threads},
        "model": manifest_model(prepared),
    }
    if prepared.endpoint:
        manifest["endpoint"] = manifest_endpoint(prepared)
    return manifest


