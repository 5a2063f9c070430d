"""Run a prepared job in one pass: engine stream -> parser -> events, with checkpoints.

Checkpoints hold the generated token ids up to a clean boundary (nothing held
back by the detokenizer or the stop matcher). Resuming replays those ids
through a fresh parser, which rebuilds the exact document, think text and
sections without running the model, then continues from the same token
sequence; a KV snapshot, when there is one, spares the re-prefill.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from lwz_cli.atomic import atomic_write_text
from lwz_cli.errors import Interrupted, LwzError
from lwz_cli.journal import Checkpoint, Journal, disk_error, partial_path
from lwz_cli.writing.length import count_words
from lwz_cli.writing.markdown import outline, unclosed_fence
from lwz_cli.writing.parser import ProtocolParser
from lwz_cli.writing.session import Prepared

Emit = Callable[[dict[str, Any]], None]
PROGRESS_INTERVAL = 0.25  # seconds between `progress` ticks to the views
CHECKPOINT_INTERVAL = 2.0  # seconds: the most work a crash can lose
SNAPSHOT_INTERVAL = 30.0  # seconds between KV snapshots at section ends


@dataclass
class WriteResult:
    document: str
    think: str
    done: dict[str, Any]


def resume_command(prepared: Prepared, journal: Journal | None) -> str:
    output = prepared.request.output
    if output is not None:
        return f"lwz resume {output}"
    return f"lwz resume {journal.dir.name}" if journal else "lwz write ... again"


class SinglePass:
    def __init__(self, prepared: Prepared, emit: Emit, *, engine, journal: Journal | None = None,
                 cancel: threading.Event | None = None, resumed: bool = False):
        self.prepared = prepared
        self.emit = emit
        self.engine = engine
        self.journal = journal
        self.cancel = cancel
        self.parser = ProtocolParser()
        self.document: list[str] = []
        self.doc_len = 0
        self.think: list[str] = []
        self.generated: list[int] = []
        self.clean_count = 0
        self.section_starts: list[int] = []  # document offsets of each heading
        self.finished_upto = 0  # document offset where the unfinished section begins
        self.sections_saved = 0
        self.resumed = resumed
        self.resumed_tokens = 0
        self.snapshot_tokens = 0
        self._pending_section = False
        self._think_dirty = False
        self._last_checkpoint = time.monotonic()
        self._last_snapshot = 0.0

    # -- state from events ----------------------------------------------------

    def _absorb(self, event: dict[str, Any], *, live: bool) -> None:
        kind = event["event"]
        if kind == "text":
            self.document.append(event["text"])
            self.doc_len += len(event["text"])
        elif kind == "think":
            self.think.append(event["text"])
            self._think_dirty = True
        elif kind == "section_start":
            self.section_starts.append(self.doc_len)
            self.finished_upto = self.doc_len
            self._pending_section = True
        if live or kind in ("section_start", "section_end"):
            self.emit(event)

    def replay(self, generated: list[int]) -> None:
        """Rebuild parser, document and sections from stored token ids, without the model."""
        detok = self.engine.detokenizer()
        for token in generated:
            text = detok.feed(token)
            if text:
                for event in self.parser.feed(text):
                    self._absorb(event, live=False)
        self.generated = list(generated)
        self.clean_count = len(generated)
        self.resumed_tokens = len(generated)
        self.sections_saved = len(self.section_starts)
        self._pending_section = False

    # -- checkpoints ----------------------------------------------------------

    def _text(self, end: int | None = None) -> str:
        text = "".join(self.document)
        self.document = [text]  # keep the join for the next call
        return text if end is None else text[:end]

    def checkpoint(self, *, final: bool = False) -> None:
        journal = self.journal
        if journal is None:
            return
        output = self.prepared.request.output
        try:
            if self._pending_section and self.section_starts:
                text = self._text()
                bounds = [0] + self.section_starts
                # sections finished since the last checkpoint; 0000 is any preamble
                for index in range(self.sections_saved, len(self.section_starts)):
                    start, end = bounds[index], bounds[index + 1]
                    if index > 0 or end > 0:
                        journal.write_section(index, text[start:end])
                self.sections_saved = len(self.section_starts)
            journal.checkpoint(
                Checkpoint(seq=0, generated=self.generated[: self.clean_count],
                           words=self.parser.words, sections_done=len(self.section_starts)),
                think="".join(self.think) if self._think_dirty else None)
            self._think_dirty = False
            if output is not None and self._pending_section and not final:
                # after the checkpoint: PATH.partial never runs ahead of the journal
                atomic_write_text(partial_path(output), self._text(self.finished_upto))
            self._pending_section = False
        except OSError as exc:
            raise disk_error(exc, journal.dir, resume_command(self.prepared, journal)) from exc
        self._last_checkpoint = time.monotonic()
        self.emit({"event": "checkpoint", "tokens": self.clean_count, "words": self.parser.words,
                   "sections": len(self.section_starts)})

    def snapshot(self, *, force: bool = False) -> None:
        request = self.prepared.request
        if self.journal is None or not request.kv_snapshot:
            return
        now = time.monotonic()
        if not force and now - self._last_snapshot < SNAPSHOT_INTERVAL:
            return
        self._last_snapshot = now
        size = self.engine.snapshot_size()
        if size > request.snapshot_budget_gb * (1 << 30):
            return
        tmp = self.journal.dir / f".kv.{os.getpid()}.tmp"
        sequence = self.prepared.prompt_tokens + self.generated
        try:
            n = self.engine.save_snapshot(str(tmp))
            self.journal.record_snapshot(tmp, n, sequence, self.snapshot_key())
            self.snapshot_tokens = n
        except OSError:
            tmp.unlink(missing_ok=True)  # a snapshot is an optimisation: never fatal
            self.journal.drop_snapshot()

    def snapshot_key(self) -> dict[str, Any]:
        manifest = self.journal.manifest if self.journal else {}
        return {"model": manifest.get("model", {}).get("fingerprint"),
                "n_ctx": self.prepared.tokens.n_ctx}

    # -- the run --------------------------------------------------------------

    def run(self) -> WriteResult:
        prepared, request, emit = self.prepared, self.prepared.request, self.emit
        started = time.monotonic()
        sequence = prepared.prompt_tokens + self.generated
        remaining = prepared.tokens.max_tokens - len(self.generated)
        last_tick = 0.0
        first_at = 0.0
        count = 0
        clock = time.monotonic
        stats = None
        if remaining > 0:
            for piece in self.engine.stream(sequence, max_tokens=remaining, stop=prepared.prompt.stop,
                                            sampling=request.sampling, cancel=self.cancel):
                count += 1
                if count == 1:
                    first_at = clock()
                if piece.token >= 0:
                    self.generated.append(piece.token)
                if piece.text:
                    for event in self.parser.feed(piece.text):
                        self._absorb(event, live=True)
                if piece.clean:
                    self.clean_count = len(self.generated)
                    now = clock()
                    if self._pending_section:
                        self.checkpoint()
                        self.snapshot()
                    elif now - self._last_checkpoint >= CHECKPOINT_INTERVAL:
                        self.checkpoint()
                now = clock()
                if now - last_tick >= PROGRESS_INTERVAL:
                    last_tick = now
                    emit({"event": "progress", "phase": self.parser.mode, "tokens": count,
                          "words": self.parser.words, "decode_seconds": now - first_at})
            stats = self.engine.last
            if stats.finish_reason == "cancelled":
                self._interrupted()
        for event in self.parser.finish():
            self._absorb(event, live=True)
        return self._finish(stats, started)

    def _interrupted(self) -> None:
        if self.journal is not None:
            self._pending_section = bool(self.section_starts)
            self.checkpoint()
            self.snapshot(force=True)
            self.journal.set_status("interrupted", words=self.parser.words)
        command = resume_command(self.prepared, self.journal)
        raise Interrupted(f"interrupted; {self.parser.words} words are saved",
                          hint=f"continue with: {command}")

    def _finish(self, stats, started: float) -> WriteResult:
        prepared, request, emit = self.prepared, self.prepared.request, self.emit
        text = self._text().strip()
        think_text = "".join(self.think)
        if not text and think_text.strip():
            emit({"event": "warning", "message": "the model never left <think>; its plan is "
                  "used as the document"})
            text = think_text.strip()
            emit({"event": "text", "text": text})
        if text:
            text += "\n"
        words = count_words(text)
        new_tokens = stats.generated_tokens if stats else 0
        reason = stats.finish_reason if stats else "length"
        self._warn(text, words, reason, len(self.generated))
        output = request.output
        try:
            if self.journal is not None:
                self.checkpoint(final=True)
            if output is not None:
                atomic_write_text(output, text)
                partial_path(output).unlink(missing_ok=True)
        except OSError as exc:
            raise disk_error(exc, output.parent if output else self.journal.dir,
                             resume_command(prepared, self.journal)) from exc
        decode = stats.decode_seconds if stats else 0.0
        done = {
            "event": "done", "output": str(output) if output else None,
            "words": words, "target_words": prepared.target_words,
            "generated_tokens": len(self.generated),
            "prompt_tokens_evaluated": stats.prompt_tokens_evaluated if stats else 0,
            "decode_seconds": round(decode, 3),
            "tokens_per_second": round(new_tokens / decode, 2) if decode > 0 else 0.0,
            "prefill_seconds": round(stats.prefill_seconds, 3) if stats else 0.0,
            "seconds": round(time.monotonic() - started, 3),
            "resumed": self.resumed,
            "resumed_tokens": self.resumed_tokens, "finish_reason": reason,
            "sections": len(outline(text)), "think_chars": len(think_text),
            "model": prepared.model_name, "strategy": prepared.strategy,
        }
        if self.journal is not None:
            try:
                self.journal.drop_snapshot()
                self.journal.set_status("done", words=words, finished=time.time())
            except OSError:
                pass  # the document itself is complete and written
        emit(done)
        return WriteResult(text, think_text, done)

    def _warn(self, text: str, words: int, reason: str, tokens: int) -> None:
        target = self.prepared.target_words
        if reason == "length":
            self.emit({"event": "warning", "message": f"stopped at the token limit ({tokens} "
                       "tokens); the document may end mid-sentence (raise --max-tokens or --ctx)"})
        if target and words < 0.5 * target:
            self.emit({"event": "warning", "message": f"the document is short: {words} of "
                       f"{target} words ({100 * words // target}%)"})
        if unclosed_fence(text):
            self.emit({"event": "warning", "message": "the document ends inside a code block"})


def start_event(prepared: Prepared, *, resumed_tokens: int = 0, resumed_words: int = 0,
                run_id: str | None = None) -> dict[str, Any]:
    request = prepared.request
    return {
        "event": "start", "model": prepared.model_name, "model_path": str(prepared.model.path),
        "protocol": prepared.prompt.protocol, "language": prepared.prompt.language,
        "strategy": prepared.strategy, "target_words": prepared.target_words,
        "prompt_tokens": len(prepared.prompt_tokens), "n_ctx": prepared.tokens.n_ctx,
        "max_tokens": prepared.tokens.max_tokens, "threads": prepared.threads,
        "gpu_layers": request.gpu_layers,
        "output": str(request.output) if request.output else None,
        "run": run_id, "resumed": resumed_tokens > 0 or resumed_words > 0,
        "resumed_tokens": resumed_tokens, "resumed_words": resumed_words,
    }


def write_document(prepared: Prepared, emit: Emit, *, engine=None,
                   cancel: threading.Event | None = None, journal: Journal | None = None,
                   checkpoint: Checkpoint | None = None) -> WriteResult:
    """Run a prepared job (fresh, or from `checkpoint`). Raises Interrupted when
    `cancel` is set mid-run, after saving a checkpoint."""
    from lwz_cli.writing.session import load_engine

    owns_engine = engine is None
    generated = checkpoint.generated if checkpoint else []
    start = start_event(prepared, resumed_tokens=len(generated),
                        resumed_words=checkpoint.words if checkpoint else 0,
                        run_id=journal.dir.name if journal else None)
    start["resumed"] = checkpoint is not None
    emit(start)
    if engine is None:
        emit({"event": "progress", "phase": "loading"})
        engine = load_engine(prepared)
    try:
        writer = SinglePass(prepared, emit, engine=engine, journal=journal, cancel=cancel,
                            resumed=checkpoint is not None)
        if journal is not None:
            for message in journal.warnings:
                emit({"event": "warning", "message": message})
            journal.warnings.clear()
        if generated:
            restore_kv(writer, journal, generated)
            writer.replay(generated)
            emit({"event": "progress", "phase": "resumed", "draft_tail": writer._text()[-4000:],
                  "think_tail": "".join(writer.think)[-2000:], "words": writer.parser.words,
                  "tokens": 0})
        try:
            return writer.run()
        except LwzError:
            raise
        except BaseException:
            # a crash or a second Ctrl-C: the last checkpoint stands; mark the run
            if journal is not None:
                try:
                    journal.set_status("interrupted", words=writer.parser.words)
                except OSError:
                    pass
            raise
    finally:
        if owns_engine:
            engine.close()


def restore_kv(writer: SinglePass, journal: Journal | None, generated: list[int]) -> None:
    if journal is None or not writer.prepared.request.kv_snapshot:
        return
    sequence = writer.prepared.prompt_tokens + generated
    found = journal.verified_snapshot(sequence, writer.snapshot_key())
    for message in journal.warnings:
        writer.emit({"event": "warning", "message": message})
    journal.warnings.clear()
    if found is None:
        return
    path, n = found
    restored = writer.engine.load_snapshot(str(path), sequence)
    if restored == 0:
        writer.emit({"event": "warning", "message": "llama.cpp refused the KV snapshot; "
                     "re-reading the text instead"})
    writer.snapshot_tokens = restored

