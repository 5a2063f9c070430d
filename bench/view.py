"""The views' cost per event: live (Rich), plain and JSON, on a 10,000-word planned run.

No model: the event stream is synthesised from a fixed seed in the shape a real
planned run produces (start, loading, the outline's think text with `planning`
ticks, plan, then per section section_start / heading / body text released a
sentence at a time / section_end, checkpoints every 2 s and at section ends,
progress ticks every 0.25 s, done). Time in the stream is simulated at the
decode rate, and the views run on that clock, so the live view redraws as often
as it would at that rate; the Rich console writes to a file with a terminal's
size (`force_terminal`). Each view runs `--rounds` times and each event's fastest
time counts. For each view it prints the time per event, its share of the decode
time (the stream's tokens, ~1.3 per word plus the outline's thinking, at the
rate), and the time per event over the first and the last 1,000 words (a ratio
near 1 is flat: the view costs the same at word 10,000 as at word 10).

    python bench/view.py [--words 10000] [--rate 80] [--tokens-per-word 1.3]
                         [--width 120] [--height 40] [--seed 7] [--rounds 3]

Goal (issue 12): the live view under 2% of the decode time and flat. The
defaults run in well under a minute.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console

from lwz_cli import events as ev
from lwz_cli.view import View
from lwz_cli.view.json_lines import JsonLinesView
from lwz_cli.view.live import LiveView
from lwz_cli.view.plain import PlainView

WINDOW = 1000  # words, for the first / last comparison
TICK = 0.25  # seconds between progress ticks (lwz_cli.writing.draft.PROGRESS_INTERVAL)
CHECKPOINT = 2.0  # seconds between checkpoints (lwz_cli.journal.CHECKPOINT_INTERVAL)
SECTION_WORDS = 450  # lwz_cli.writing.plan.WORDS_PER_SECTION
PLAN_TOKENS = 1200  # think tokens before the outline
VOCAB = [
    "tea",
    "leaf",
    "water",
    "light",
    "harbour",
    "keeper",
    "lamp",
    "storm",
    "coast",
    "ship",
    "night",
    "signal",
    "stone",
    "tower",
    "lens",
    "oil",
    "wick",
    "glass",
    "beacon",
    "rock",
    "tide",
    "wind",
    "fog",
    "mile",
    "island",
    "river",
    "garden",
    "soil",
    "root",
    "season",
    "harvest",
    "market",
    "village",
    "history",
    "century",
    "family",
    "craft",
    "method",
    "careful",
    "steady",
    "bright",
    "quiet",
    "narrow",
    "ancient",
    "modern",
    "simple",
    "useful",
]


@dataclass
class Timed:
    event: ev.Event
    at: float  # simulated seconds since the start
    words: int  # document words when it is emitted


class Stream:
    """Builds the event list; tokens advance the simulated clock at `rate`."""

    def __init__(self, rate: float, tokens_per_word: float, seed: int):
        self.rng = random.Random(seed)
        self.rate = rate
        self.tokens_per_word = tokens_per_word
        self.out: list[Timed] = []
        self.now = 0.0
        self.words = 0
        self.tokens = 0
        self.next_tick = TICK
        self.next_checkpoint = CHECKPOINT

    def emit(self, event: ev.Event) -> None:
        self.out.append(Timed(event, self.now, self.words))

    def token(self, phase: str, words_before: int) -> None:
        """One generated token: time passes, and a tick goes out when one is due."""
        self.tokens += 1
        self.now += 1.0 / self.rate
        if self.now >= self.next_tick:
            self.next_tick += TICK
            self.emit(ev.TickEvent(phase, self.tokens, words_before, self.now))

    def pieces(self, words: list[str]) -> list[str]:
        """Token-sized pieces of text: `tokens_per_word` pieces per word on average."""
        out = []
        split = self.tokens_per_word - 1.0
        for word in words:
            if self.rng.random() < split and len(word) > 3:
                cut = self.rng.randint(1, len(word) - 1)
                out += [" " + word[:cut], word[cut:]]
            else:
                out.append(" " + word)
        return out

    def sentence(self, n: int) -> list[str]:
        words = [self.rng.choice(VOCAB) for _ in range(n)]
        words[0] = words[0].capitalize()
        words[-1] += "."
        return words

    def think(self, tokens: int) -> None:
        while tokens > 0:
            words = self.sentence(self.rng.randint(6, 18))
            for piece in self.pieces(words):
                self.token("planning", 0)
                self.emit(ev.ThinkEvent(piece))
                tokens -= 1

    def body(self, budget: int) -> int:
        """A section's body: text released a sentence at a time (as the repetition
        guard releases it), paragraphs every few sentences; returns its words."""
        written = 0
        start = self.words
        while written < budget:
            n = min(budget - written, self.rng.randint(8, 26))
            pieces = self.pieces(self.sentence(n))
            for _ in pieces:
                self.token("answer", self.words)
            if self.rng.random() < 0.25:
                pieces[-1] += "\n\n"
            written += n
            self.words = start + written
            for piece in pieces:  # the checked sentence goes out at once
                self.emit(ev.TextEvent(piece))
            if self.now >= self.next_checkpoint:
                self.next_checkpoint = self.now + CHECKPOINT
                self.emit(ev.CheckpointEvent(self.tokens, self.words, 0))
        return written


def planned_run(words: int, rate: float, tokens_per_word: float, seed: int) -> list[Timed]:
    s = Stream(rate, tokens_per_word, seed)
    count = max(2, round(words / SECTION_WORDS))
    budgets = [words // count + (1 if i < words % count else 0) for i in range(count)]
    titles = [" ".join(s.rng.choice(VOCAB) for _ in range(3)).title() for _ in budgets]
    s.emit(
        ev.StartEvent(
            model="longwriter-zero-32b",
            model_path="/models/LongWriter-Zero-32B.Q4_K_M.gguf",
            protocol="longwriter-zero",
            language="en",
            strategy="planned",
            strategy_reason=f"{words:,} words is beyond one pass",
            target_words=words,
            prompt_tokens=120,
            n_ctx=32768,
            max_tokens=int(words * tokens_per_word * 1.5),
            threads=16,
            gpu_layers=-1,
            kv_type="q8_0",
            flash_attn=True,
            fit_reason="fits the GPU",
            temperature=0.6,
            top_p=0.95,
            seed=seed,
            kv_snapshot=True,
            output="lighthouses.md",
            run="bench",
            resumed=False,
            resumed_tokens=0,
            resumed_words=0,
            endpoint=None,
        )
    )
    s.emit(ev.LoadingEvent())
    s.think(PLAN_TOKENS)
    s.emit(
        ev.PlanEvent(
            "A History of Lighthouses",
            tuple(
                ev.PlanEntry(i, t, "", b)
                for i, (t, b) in enumerate(zip(titles, budgets, strict=True), 1)
            ),
        )
    )
    s.emit(ev.CheckpointEvent(s.tokens, 0, 0))
    s.emit(ev.TextEvent("# A History of Lighthouses\n\n"))
    for i, (title, budget) in enumerate(zip(titles, budgets, strict=True), 1):
        s.emit(ev.SectionStartEvent(i, title, 2, budget))
        s.emit(ev.TextEvent(f"## {title}\n\n"))
        written = s.body(budget)
        s.emit(ev.TextEvent("\n\n"))
        s.emit(ev.SectionEndEvent(i, title, written + len(title.split()), budget))
        s.next_checkpoint = s.now + CHECKPOINT
        s.emit(ev.CheckpointEvent(s.tokens, s.words, i))
    decode = s.tokens / rate
    s.emit(
        ev.DoneEvent(
            output="lighthouses.md",
            words=s.words,
            target_words=words,
            generated_tokens=s.tokens,
            prompt_tokens_evaluated=s.tokens + 120,
            decode_seconds=round(decode, 3),
            tokens_per_second=rate,
            prefill_seconds=0.5,
            seconds=round(s.now, 3),
            resumed=False,
            resumed_tokens=0,
            finish_reason="plan",
            repetition_rewinds=0,
            continuations=None,
            sections=count + 1,
            think_chars=None,
            planned_sections=count,
            model="longwriter-zero-32b",
            strategy="planned",
        )
    )
    return s.out


class SimClock:
    """The stream's time, read by the views instead of the wall clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def measure(
    make: Callable[[SimClock, TextIO], View], stream: list[Timed], path: str
) -> list[float]:
    """Seconds spent in the view for each event (its output goes to the file `path`)."""
    clock = SimClock()
    spent = []
    counter = time.perf_counter
    with open(path, "w", encoding="utf-8") as file:
        view = make(clock, file)
        for timed in stream:
            clock.now = timed.at
            began = counter()
            view(timed.event)
            spent.append(counter() - began)
        view.close()
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=80.0, help="decode tok/s")
    ap.add_argument("--tokens-per-word", type=float, default=1.3)
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--height", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--rounds", type=int, default=3, help="runs per view; each event's fastest is kept"
    )
    args = ap.parse_args()

    stream = planned_run(args.words, args.rate, args.tokens_per_word, args.seed)
    tokens = stream[-1].event.generated_tokens  # type: ignore[attr-defined]
    decode = tokens / args.rate
    words = stream[-1].words
    first = [
        i
        for i, t in enumerate(stream)
        if 0 < t.words <= WINDOW and not isinstance(t.event, ev.DoneEvent)
    ]
    last = [
        i
        for i, t in enumerate(stream)
        if t.words > words - WINDOW and not isinstance(t.event, ev.DoneEvent)
    ]
    kinds: dict[str, int] = {}
    for t in stream:
        kinds[t.event.NAME] = kinds.get(t.event.NAME, 0) + 1
    print(
        f"stream: {len(stream):,} events for {words:,} words, {tokens:,} tokens "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))}); "
        f"decode at {args.rate:g} tok/s: {decode:.1f} s"
    )

    scratch = tempfile.TemporaryDirectory(prefix="lwz-bench-view-")

    def live(clock: SimClock, file: TextIO) -> View:
        console = Console(
            file=file,
            force_terminal=True,
            width=args.width,
            height=args.height,
            color_system="truecolor",
        )
        return LiveView(console, clock=clock)

    def plain(clock: SimClock, file: TextIO) -> View:
        return PlainView(file, clock=clock)

    def json_lines(clock: SimClock, file: TextIO) -> View:
        return JsonLinesView(file)

    print(
        f"{'view':<6} {'µs/event':>9} {'share':>7} {'first 1k':>9} {'last 1k':>9} "
        f"{'last/first':>10} {'max ms':>7}"
    )
    for name, make in (("live", live), ("plain", plain), ("json", json_lines)):
        rounds = [measure(make, stream, f"{scratch.name}/{name}.out") for _ in range(args.rounds)]
        # the views run on the simulated clock, so every round draws the same frames:
        # each event's fastest round is its cost without the machine's noise
        best = [min(times) for times in zip(*rounds, strict=True)]
        total = sum(best)
        per = total / len(best) * 1e6
        head = sum(best[i] for i in first) / len(first) * 1e6
        tail = sum(best[i] for i in last) / len(last) * 1e6
        print(
            f"{name:<6} {per:>9.1f} {100 * total / decode:>6.2f}% {head:>9.1f} {tail:>9.1f} "
            f"{tail / head:>10.2f} {max(best) * 1e3:>7.2f}"
        )
    scratch.cleanup()
    print("goal: live < 2% of decode time, last/first near 1")


if __name__ == "__main__":
    main()
