"""Resume speed: time to the first new token from a KV snapshot vs a re-prefill.

Writes a ~8,000-token document with the tiny model through lwz's own journal,
interrupts it (which saves a checkpoint and a KV snapshot), then resumes it
twice with the model already loaded: once from the snapshot, once re-reading
the whole text. Prints both times, their ratio and the snapshot's size. EOS and
the stop strings are ignored, the repetition guard is off (a small model loops
once its answer is done) and the sampling is seeded, so any model writes to the
length asked for, the same way each time.

    python bench/resume.py [--model tiny] [--tokens 8000]

Target (issue 3): with a snapshot <= 10% of the re-prefill time.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import tempfile
import threading
import time
from pathlib import Path

from lwz_cli.writing.repetition import RepetitionGuard


class NoRepetitionGuard(RepetitionGuard):
    """A guard that never finds a repeat: the bench times resume, not text quality."""

    def is_repeat(self, sentence: str) -> bool:
        return False


def write_to_length(stream, engine, prompt_tokens, *, stop=(), ignore_eos=False, **kwargs):
    """The engine's stream with EOS and the stop strings ignored: only the
    length or the cancel ends it."""
    return stream(engine, prompt_tokens, stop=(), ignore_eos=True, **kwargs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--tokens", type=int, default=8000)
    ap.add_argument("--ctx", type=int, default=8192)
    args = ap.parse_args()

    home = tempfile.mkdtemp(prefix="lwz-bench-")
    os.environ["LWZ_HOME"] = home

    import lwz_cli.writing.draft
    from lwz_cli.engine.llama import LlamaEngine
    from lwz_cli.engine.protocol import Sampling
    from lwz_cli.errors import Interrupted
    from lwz_cli.events import TextEvent, ThinkEvent
    from lwz_cli.journal import Journal
    from lwz_cli.writing.resume import prepare_resume
    from lwz_cli.writing.run import write_document
    from lwz_cli.writing.session import WriteRequest, load_engine, manifest_for, prepare

    output = Path(home) / "doc.md"
    request = WriteRequest(
        prompt="Write a very long history of lighthouses, with many sections.",
        model=args.model,
        output=output,
        max_tokens=args.tokens + 100,
        ctx=args.ctx,
        sampling=Sampling(seed=1),
    )
    prepared = prepare(request)
    # past its answer a small model loops; the guard would end the run there
    lwz_cli.writing.draft.RepetitionGuard = NoRepetitionGuard  # type: ignore[misc]
    engine = load_engine(prepared)
    assert isinstance(engine, LlamaEngine), "the bench times the in-process engine"
    # A small model ends its answer long before the interrupt point; the bench
    # measures resume speed at a given length, so no stream may end early.
    engine.stream = functools.partial(  # type: ignore[method-assign]  # this engine only
        write_to_length, LlamaEngine.stream, engine
    )
    journal = Journal.create(manifest_for(prepared), output)
    cancel = threading.Event()

    def stop_at_length(event):
        if engine.llm.n_tokens >= len(prepared.prompt_tokens) + args.tokens:
            cancel.set()

    began = time.monotonic()
    try:
        result = write_document(
            prepared, stop_at_length, engine=engine, journal=journal, cancel=cancel
        )
        raise SystemExit(
            f"the run ended ({result.done.finish_reason}, {result.done.generated_tokens} "
            "tokens) before the interrupt"
        )
    except Interrupted:
        pass
    written = time.monotonic() - began
    snapshot = journal.kv_path
    size = snapshot.stat().st_size if snapshot.exists() else 0
    checkpoint_tokens = len(journal.latest_checkpoint().generated)
    print(
        f"document: {checkpoint_tokens} generated tokens + {len(prepared.prompt_tokens)} prompt "
        f"tokens, written in {written:.1f}s; KV snapshot {size / 1e6:.1f} MB"
    )

    def time_to_first_token(use_snapshot: bool) -> tuple[float, int]:
        found = Journal.find(output)
        resumed, checkpoint = prepare_resume(found, kv_snapshot=use_snapshot)
        stamp: list[float] = []
        cancel_resume = threading.Event()

        def on_event(event):  # the first new text ends the measurement
            if isinstance(event, (TextEvent, ThinkEvent)) and not stamp:
                stamp.append(time.monotonic())
                cancel_resume.set()

        engine.llm.reset()
        engine.llm._ctx.kv_cache_clear()
        start = time.monotonic()
        with contextlib.suppress(Interrupted):
            write_document(
                resumed,
                on_event,
                engine=engine,
                journal=found,
                checkpoint=checkpoint,
                cancel=cancel_resume,
            )
        evaluated = engine.last.prompt_tokens_evaluated
        return (stamp[0] if stamp else time.monotonic()) - start, evaluated

    with_snapshot, evaluated_snap = time_to_first_token(True)
    size_after = snapshot.stat().st_size if snapshot.exists() else size
    prefill, evaluated_full = time_to_first_token(False)
    print(
        f"resume from KV snapshot: {with_snapshot:.2f}s to the first new token "
        f"({evaluated_snap} tokens prefilled)"
    )
    print(
        f"resume by re-prefill:    {prefill:.2f}s to the first new token "
        f"({evaluated_full} tokens prefilled)"
    )
    print(
        f"snapshot / re-prefill:   {with_snapshot / prefill:.3f} (target <= 0.10); "
        f"snapshot size {max(size, size_after) / 1e6:.1f} MB "
        f"({max(size, size_after) / max(checkpoint_tokens, 1) / 1e3:.1f} kB per token)"
    )
    engine.close()


if __name__ == "__main__":
    main()
