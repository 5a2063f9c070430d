"""Decode speed: lwz's engine path vs a plain generate() loop vs create_completion(stream=True).

Same model, same threads, same context, same sampling, one process, EOS
ignored so every way generates exactly N tokens. Prints tok/s over the whole
run and over the first and last 1,000 tokens, and the ratios.

    python bench/decode.py [--model tiny] [--tokens 2048] [--threads N] [--rounds 2] [--full]

The default takes a few minutes on two cores; `--full` generates 4,096 tokens per
way, the setting the targets below were set for.

Targets (issue 2): lwz >= 0.98x the plain loop over the whole run, and lwz's
last-1k slowdown no worse than the plain loop's (that part is attention, not
Python). create_completion is shown for contrast: it re-detokenizes the whole
completion every token, so it slows down with length.
"""

from __future__ import annotations

import argparse
import codecs
import statistics
import time

from lwz_cli.engine.llama import LlamaEngine
from lwz_cli.engine.protocol import Sampling
from lwz_cli.models.registry import resolve_model
from lwz_cli.system import physical_cores
from lwz_cli.writing.parser import ProtocolParser

PROMPT = (
    "<|im_start|>user\nWrite a very long, detailed history of lighthouses, "
    "with many sections.<|im_end|>\n<|im_start|>assistant\n"
)
WINDOW = 1000
SAMPLING = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "temp": 0.6, "repeat_penalty": 1.0}


def lwz_engine(engine, prompt, n):
    stamps = []
    clock = time.perf_counter
    for _ in engine.stream(
        prompt,
        max_tokens=n,
        stop=("</answer>", "<|user|>"),
        sampling=Sampling(seed=1),
        ignore_eos=True,
    ):
        stamps.append(clock())
    return stamps


def lwz_full(engine, prompt, n):
    """The engine plus the parser and word counter, as `lwz write` runs them."""
    stamps = []
    clock = time.perf_counter
    parser = ProtocolParser()
    for piece in engine.stream(
        prompt,
        max_tokens=n,
        stop=("</answer>", "<|user|>"),
        sampling=Sampling(seed=1),
        ignore_eos=True,
    ):
        if piece.text:
            parser.feed(piece.text)
        stamps.append(clock())
    return stamps


def plain_generate(engine, prompt, n):
    llm = engine.llm
    llm.set_seed(1)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out = []
    stamps = []
    clock = time.perf_counter
    for token in llm.generate(prompt, **SAMPLING):
        out.append(decoder.decode(llm.detokenize([token])))
        stamps.append(clock())
        if len(stamps) >= n:
            break
    return stamps


def create_completion(engine, prompt, n):
    import llama_cpp.llama as llama_module

    llm = engine.llm
    llm.set_seed(1)
    native = llama_module.llama_cpp.llama_vocab_is_eog
    llama_module.llama_cpp.llama_vocab_is_eog = lambda vocab, token: False  # ignore EOS
    stamps = []
    clock = time.perf_counter
    try:
        for _ in llm.create_completion(
            prompt,
            max_tokens=n,
            stream=True,
            seed=1,
            temperature=0.6,
            top_p=0.95,
            top_k=40,
            min_p=0.05,
        ):
            stamps.append(clock())
    finally:
        llama_module.llama_cpp.llama_vocab_is_eog = native
    return stamps


WAYS = {
    "lwz engine": lwz_engine,
    "lwz engine+parser": lwz_full,
    "plain generate()": plain_generate,
    "create_completion": create_completion,
}


def rates(stamps):
    """(whole, first 1k, last 1k) tok/s, from the first token on (prefill excluded)."""

    def rate(a, b):
        return (b - a) / (stamps[b] - stamps[a]) if stamps[b] > stamps[a] else 0.0

    last = len(stamps) - 1
    window = min(WINDOW, last // 2)
    return rate(0, last), rate(0, window), rate(last - window, last)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--rounds", type=int, default=2, help="runs per way; the best is kept")
    ap.add_argument("--gpu-layers", type=int, default=0)
    ap.add_argument("--full", action="store_true", help="4,096 tokens per way (overrides --tokens)")
    args = ap.parse_args()
    if args.full:
        args.tokens = 4096

    path = resolve_model(args.model).path
    engine = LlamaEngine(
        str(path),
        n_ctx=((args.tokens + 512) // 256 + 1) * 256,
        n_threads=args.threads,
        n_gpu_layers=args.gpu_layers,
        seed=1,
    )
    prompt = engine.tokenize(PROMPT, add_bos=False)
    print(
        f"model {path.name}, {args.tokens} tokens, {args.threads} threads, "
        f"n_ctx {engine.n_ctx}, {args.rounds} round(s), best kept"
    )
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in WAYS}
    for _ in range(args.rounds):
        for name, way in WAYS.items():  # interleaved so drift hits every way alike
            engine.llm.reset()
            stamps = way(engine, prompt, args.tokens)
            assert len(stamps) >= args.tokens - 1, (name, len(stamps))
            results[name].append(rates(stamps))
    best = {name: max(runs) for name, runs in results.items()}
    print(f"{'way':<20}{'tok/s':>9}{'first 1k':>10}{'last 1k':>9}{'last/first':>12}{'spread':>8}")
    for name, (whole, first, last) in best.items():
        spread = (statistics.pstdev([r[0] for r in results[name]]) / whole * 100) if whole else 0
        print(
            f"{name:<20}{whole:>9.1f}{first:>10.1f}{last:>9.1f}{last / first:>12.3f}{spread:>7.1f}%"
        )
    plain = best["plain generate()"]
    lwz = best["lwz engine"]
    print()
    print(f"lwz engine / plain generate(), whole run: {lwz[0] / plain[0]:.3f}x (target >= 0.98)")
    print(
        f"last-1k slowdown, lwz engine: {lwz[2] / lwz[1]:.3f}, plain: {plain[2] / plain[1]:.3f} "
        f"(target: lwz's no worse)"
    )
    full = best["lwz engine+parser"]
    print(f"lwz engine+parser / plain generate(): {full[0] / plain[0]:.3f}x")
    cc = best["create_completion"]
    print(
        f"create_completion / plain generate(): {cc[0] / plain[0]:.3f}x, last-1k slowdown "
        f"{cc[2] / cc[1]:.3f}"
    )
    engine.close()


if __name__ == "__main__":
    main()
