"""Two `lwz write --model tiny` at once vs one after the other: the engine slot at work.

Before the slot, two writes started together on two cores each ran at a quarter of
the speed (llama.cpp's worker threads spin, so oversubscribed cores collapse): the
pair took 2.7x as long as running them one after the other. With the slot the
second waits, says so, and starts when the first is done. This bench runs, in one
go and on the same request and seed: the two writes one after the other, the two
started together, and (with --before) the two together with a slot each (a
separate LWZ_HOME per process: what lwz did before the slot), then prints each
wall time, the ratios and the line the waiting write printed.

    python bench/slot.py [--model tiny] [--tokens 150] [--threads N] [--before]

The default takes under a minute on two idle cores (four writes of the tiny model).

Target (issue 14): together <= 1.2x one after the other.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lwz_cli.system import physical_cores

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Write a short guide to brewing green tea."
DONE = re.compile(r"done: .* ([\d,]+) tokens at ([\d.]+) tok/s")


@dataclass
class Write:
    name: str
    seconds: float
    tokens: int
    rate: float
    waited: str | None  # the line it printed while it waited for the slot


def command(args: argparse.Namespace, output: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lwz_cli",
        "write",
        PROMPT,
        "--model",
        args.model,
        "-o",
        output,
        "--max-tokens",
        str(args.tokens),
        "--seed",
        "1",
        "--strategy",
        "single",
        "--threads",
        str(args.threads),
        "--force",
    ]


def start(args: argparse.Namespace, output: str, home: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "LWZ_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        command(args, output),
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(name: str, proc: subprocess.Popen, began: float) -> Write:
    _, err = proc.communicate(timeout=600)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}):\n{err}")
    found = DONE.search(err)
    tokens, rate = (int(found[1].replace(",", "")), float(found[2])) if found else (0, 0.0)
    waited = next((line for line in err.splitlines() if "waiting for" in line), None)
    return Write(name, seconds, tokens, rate, waited)


def together(args, homes: tuple[Path, Path], cwd: Path) -> tuple[float, list[Write]]:
    began = time.perf_counter()
    procs = [
        start(args, name, home, cwd) for name, home in zip(("a.md", "b.md"), homes, strict=True)
    ]
    writes = [finish(name, p, began) for name, p in zip(("a.md", "b.md"), procs, strict=True)]
    return time.perf_counter() - began, writes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--tokens", type=int, default=150, help="--max-tokens of each write")
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument(
        "--before", action="store_true", help="also the pair with a slot each (no waiting)"
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="lwz-bench-slot-") as tmp:
        cwd = Path(tmp)
        home = cwd / "home"
        began = time.perf_counter()
        sequential = []
        for name in ("a.md", "b.md"):
            sequential.append(finish(name, start(args, name, home, cwd), time.perf_counter()))
        seq_seconds = time.perf_counter() - began
        pair_seconds, pair = together(args, (home, home), cwd)
        unslotted = None
        if args.before:
            unslotted = together(args, (cwd / "home-a", cwd / "home-b"), cwd)

    print(f"model {args.model}, {args.threads} threads, up to {args.tokens} tokens per write")
    print(f"{'run':<34}{'wall s':>8}{'tokens':>9}{'tok/s each':>13}")
    rows = [
        ("one after the other", seq_seconds, sequential),
        ("together, one slot", pair_seconds, pair),
    ]
    if unslotted is not None:
        rows.append(("together, a slot each (before)", *unslotted))
    for label, seconds, writes in rows:
        rates = " / ".join(f"{w.rate:.0f}" for w in writes)
        print(f"{label:<34}{seconds:>8.1f}{sum(w.tokens for w in writes):>9}{rates:>13}")
    print()
    print(f"together / one after the other: {pair_seconds / seq_seconds:.2f}x (target <= 1.2)")
    if unslotted is not None:
        print(f"a slot each / one after the other: {unslotted[0] / seq_seconds:.2f}x")
    waited = [w for w in pair if w.waited]
    if waited:
        print(f"{waited[0].name} said: {waited[0].waited}")
    else:
        print("neither write waited (the first finished before the second loaded)")


if __name__ == "__main__":
    main()
