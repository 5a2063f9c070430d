"""Batch throughput over endpoints: jobs per minute for a small recipe run one job
at a time vs `--jobs 2`, against two llama-cpp-python server slots.

llama-cpp-python's server answers one request at a time, so "a server with 2
parallel slots" is two server processes on one machine, one thread each (what
llama-server's `--parallel 2` gives in one process). Both runs use the same two
endpoints; only `--jobs` differs. Run:

    python bench/batch.py [--jobs-in-recipe 4] [--words 150]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from llama_server import LlamaServer  # noqa: E402


def recipe_text(jobs: int, words: int) -> str:
    topics = [
        "green tea",
        "rainwater tanks",
        "bicycle chains",
        "sourdough",
        "city trees",
        "lighthouses",
        "beekeeping",
        "tide pools",
    ][:jobs]
    items = "\n".join(f"  - {{topic: {t}, slug: {t.replace(' ', '-')}}}" for t in topics)
    return (
        f"name: bench\nmodel: tiny\nstrategy: single\nwords: {words}\n"
        f"params: {{seed: 1, max_tokens: {int(words * 2.2)}}}\n"
        "prompt: 'Write a {words}-word note about {topic}.'\n"
        f"output: 'out/{{slug}}.md'\nitems:\n{items}\n"
    )


def run_batch(recipe: Path, endpoints: list[str], jobs: int, home: Path) -> dict:
    env = {**os.environ, "LWZ_HOME": str(home)}
    cmd = [
        sys.executable,
        "-m",
        "lwz_cli",
        "batch",
        str(recipe),
        "--json",
        "--jobs",
        str(jobs),
        "--out-dir",
        str(home / "docs"),
    ]
    for url in endpoints:
        cmd += ["--endpoint", url]
    started = time.monotonic()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"batch failed ({result.returncode}):\n{result.stderr[-2000:]}")
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    dones = [e for e in events if e["event"] == "done"]
    summary = events[-1]
    return {
        "seconds": seconds,
        "jobs": summary["done"],
        "tokens": sum(d["generated_tokens"] for d in dones),
        "words": sum(d["words"] for d in dones),
        "token_counts": sorted({d.get("token_counts", "?") for d in dones}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs-in-recipe", type=int, default=4)
    parser.add_argument("--words", type=int, default=150)
    args = parser.parse_args()
    from lwz_cli.models.registry import tiny_model_path

    model = tiny_model_path()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        recipe = base / "bench.yaml"
        recipe.write_text(recipe_text(args.jobs_in_recipe, args.words))
        servers = [
            LlamaServer(model, threads=1, log=base / f"server{i}.log").start() for i in range(2)
        ]
        try:
            urls = [s.url for s in servers]
            print(
                f"{args.jobs_in_recipe} jobs of ~{args.words} words, tiny model, "
                f"2 llama_cpp.server slots (1 thread each)"
            )
            results = {}
            for jobs in (1, 2):
                r = run_batch(recipe, urls, jobs, base / f"home-{jobs}")
                r["per_minute"] = r["jobs"] / r["seconds"] * 60
                results[jobs] = r
                print(
                    f"  --jobs {jobs}: {r['jobs']} jobs in {r['seconds']:.1f} s = "
                    f"{r['per_minute']:.2f} jobs/min; {r['tokens']} tokens "
                    f"({r['tokens'] / r['seconds']:.1f} tok/s overall, "
                    f"{', '.join(r['token_counts'])}), {r['words']} words"
                )
        finally:
            for server in servers:
                server.stop()
    ratio = results[2]["per_minute"] / results[1]["per_minute"]
    tok_ratio = (results[2]["tokens"] / results[2]["seconds"]) / (
        results[1]["tokens"] / results[1]["seconds"]
    )
    print(f"jobs/min ratio (--jobs 2 / --jobs 1): {ratio:.2f}x; tokens/s ratio: {tok_ratio:.2f}x")


if __name__ == "__main__":
    main()
