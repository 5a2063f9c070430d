"""Preparing one `lwz write` job: every check that can fail on user input runs
here, before the model loads, and the context is sized to the request.

`lwz_cli.writing.single` runs the prepared job; `lwz_cli.writing.resume`
rebuilds a prepared job from a run's journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import UsageError
from lwz_cli.models.gguf import GGUFInfo, read_gguf
from lwz_cli.models.registry import ResolvedModel, resolve_model
from lwz_cli.system import physical_cores
from lwz_cli.writing import budget, prompts
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
    gpu_layers: int = 0
    verbose: bool = False
    kv_snapshot: bool = True
    snapshot_budget_gb: float = 4.0


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
    strategy: str = "single"

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

    model = resolve_model(request.model)
    info = read_gguf(model.path)
    from lwz_cli.engine.llama import VocabTokenizer

    vocab = VocabTokenizer(str(model.path), verbose=request.verbose)
    try:
        if prompts.is_longwriter_zero(info.name, model.path.name, model.repo_id):
            prompt = prompts.longwriter_zero_prompt(text, target, stated)
        else:
            prompt = prompts.chat_prompt(
                text, target, stated, template=info.chat_template,
                bos_token=vocab.token_text(vocab.bos_token),
                eos_token=vocab.token_text(vocab.eos_token),
            )
        tokens = vocab.tokenize(prompt.text, add_bos=prompt.add_bos)
    finally:
        vocab.close()
    n_ctx_train = info.context_length or 0
    token_budget = budget.plan_tokens(
        prompt_tokens=len(tokens), target_words=target, language=prompt.language,
        protocol=prompt.protocol, n_ctx_train=n_ctx_train, ctx_override=request.ctx,
        max_tokens_override=request.max_tokens, model_name=model.alias or info.name,
    )
    return Prepared(request, model, info, prompt, tokens, target, stated, token_budget,
                    request.threads or physical_cores())


def load_engine(prepared: Prepared):
    from lwz_cli.engine.llama import LlamaEngine

    request = prepared.request
    return LlamaEngine(
        str(prepared.model.path), n_ctx=prepared.tokens.n_ctx, n_threads=prepared.threads,
        n_gpu_layers=request.gpu_layers, seed=request.sampling.seed, verbose=request.verbose,
    )


def manifest_for(prepared: Prepared) -> dict:
    """What a run's journal records so `lwz resume` can rebuild the exact job."""
    from dataclasses import asdict

    from lwz_cli.journal import model_fingerprint

    request = prepared.request
    return {
        "output": str(request.output.resolve()) if request.output else None,
        "request": {"prompt": request.prompt, "words": request.words,
                    "target_words": prepared.target_words, "stated_words": prepared.stated_words,
                    "strategy": prepared.strategy, "max_tokens": prepared.tokens.max_tokens,
                    "max_tokens_flag": request.max_tokens},
        "prompt": {"text": prepared.prompt.text, "stop": list(prepared.prompt.stop),
                   "protocol": prepared.prompt.protocol, "language": prepared.prompt.language,
                   "tokens": prepared.prompt_tokens},
        "sampling": asdict(request.sampling),
        "engine": {"n_ctx": prepared.tokens.n_ctx, "gpu_layers": request.gpu_layers,
                   "threads": prepared.threads},
        "model": {"spec": prepared.model.spec, "name": prepared.model_name,
                  "alias": prepared.model.alias, "repo_id": prepared.model.repo_id,
                  **model_fingerprint(prepared.model.path)},
    }


