"""One `lwz write` job: request -> prompt -> engine stream -> parser -> events.

`prepare()` does every check that can fail on user input before the model
loads; `write_document()` runs the job and reports through an `emit`
callback (the views, the JSON stream, later the journal).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lwz_cli.atomic import atomic_write_text
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import Interrupted, UsageError
from lwz_cli.models.gguf import GGUFInfo, read_gguf
from lwz_cli.models.registry import ResolvedModel, resolve_model
from lwz_cli.system import physical_cores
from lwz_cli.writing import budget, prompts
from lwz_cli.writing.length import MAX_TARGET_WORDS, parse_target
from lwz_cli.writing.markdown import outline
from lwz_cli.writing.parser import ProtocolParser

Emit = Callable[[dict[str, Any]], None]
PROGRESS_INTERVAL = 0.25  # seconds between `progress` ticks to the views


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


@dataclass
class WriteResult:
    document: str
    think: str
    done: dict[str, Any]


def write_document(
    prepared: Prepared,
    emit: Emit,
    *,
    engine=None,
    cancel: threading.Event | None = None,
) -> WriteResult:
    """Run a prepared job. Raises Interrupted if `cancel` is set mid-run."""
    started = time.monotonic()
    request = prepared.request
    emit({
        "event": "start", "model": prepared.model_name, "model_path": str(prepared.model.path),
        "protocol": prepared.prompt.protocol, "language": prepared.prompt.language,
        "strategy": "single", "target_words": prepared.target_words,
        "prompt_tokens": len(prepared.prompt_tokens), "n_ctx": prepared.tokens.n_ctx,
        "max_tokens": prepared.tokens.max_tokens, "threads": prepared.threads,
        "gpu_layers": request.gpu_layers, "output": str(request.output) if request.output else None,
    })
    owns_engine = engine is None
    if engine is None:
        emit({"event": "progress", "phase": "loading"})
        engine = load_engine(prepared)
    parser = ProtocolParser()
    document: list[str] = []
    think: list[str] = []
    tokens = 0
    last_tick = 0.0
    clock = time.monotonic
    first_token_at = 0.0
    try:
        for piece in engine.stream(
            prepared.prompt_tokens, max_tokens=prepared.tokens.max_tokens,
            stop=prepared.prompt.stop, sampling=request.sampling, cancel=cancel,
        ):
            tokens += 1
            if tokens == 1:
                first_token_at = clock()
            if piece.text:
                for event in parser.feed(piece.text):
                    kind = event["event"]
                    if kind == "text":
                        document.append(event["text"])
                    elif kind == "think":
                        think.append(event["text"])
                    emit(event)
            now = clock()
            if now - last_tick >= PROGRESS_INTERVAL:
                last_tick = now
                emit({"event": "progress", "phase": parser.mode, "tokens": tokens,
                      "words": parser.words, "decode_seconds": now - first_token_at})
        for event in parser.finish():
            if event["event"] == "text":
                document.append(event["text"])
            emit(event)
        stats = engine.last
    finally:
        if owns_engine:
            engine.close()
    if stats.finish_reason == "cancelled":
        raise Interrupted("interrupted; nothing was written")

    text = "".join(document).strip()
    think_text = "".join(think)
    if not text and think_text.strip():
        emit({"event": "warning", "message": "the model never left <think>; its plan is "
              "used as the document"})
        text = think_text.strip()
        emit({"event": "text", "text": text})
    if text:
        text += "\n"
    words = _finish_warnings(prepared, text, stats, emit)
    if request.output is not None:
        atomic_write_text(request.output, text)
    elapsed = clock() - started
    done = {
        "event": "done", "output": str(request.output) if request.output else None,
        "words": words, "target_words": prepared.target_words,
        "generated_tokens": stats.generated_tokens,
        "prompt_tokens_evaluated": stats.prompt_tokens_evaluated,
        "decode_seconds": round(stats.decode_seconds, 3),
        "tokens_per_second": round(stats.generated_tokens / stats.decode_seconds, 2)
        if stats.decode_seconds > 0 else 0.0,
        "prefill_seconds": round(stats.prefill_seconds, 3),
        "seconds": round(elapsed, 3), "resumed": False,
        "finish_reason": stats.finish_reason, "sections": len(outline(text)),
        "think_chars": len(think_text), "model": prepared.model_name, "strategy": "single",
    }
    emit(done)
    return WriteResult(text, think_text, done)


def _finish_warnings(prepared: Prepared, text: str, stats, emit: Emit) -> int:
    from lwz_cli.writing.length import count_words
    from lwz_cli.writing.markdown import unclosed_fence

    words = count_words(text)
    target = prepared.target_words
    if stats.finish_reason == "length":
        emit({"event": "warning", "message": f"stopped at the token limit "
              f"({stats.generated_tokens} tokens); the document may end mid-sentence "
              "(raise --max-tokens or --ctx)"})
    if target and words < 0.5 * target:
        emit({"event": "warning", "message": f"the document is short: {words} of "
              f"{target} words ({100 * words // target}%)"})
    if unclosed_fence(text):
        emit({"event": "warning", "message": "the document ends inside a code block"})
    return words
