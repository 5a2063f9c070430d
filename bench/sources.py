"""Source index speed and scale: a generated corpus indexed, re-indexed and queried.

Builds a corpus of `--files` files holding `--mb` MB of text in all (Markdown and
plain text, one file in twenty Chinese), generated from a fixed seed (nothing is
downloaded, and every run indexes the same bytes), in a temporary folder with a fresh
LWZ_HOME, then prints:

- full index: the first `SourceIndex.open` (read, cut into passages, FTS5-indexed)
- re-index, nothing changed: the next open (stat only)
- re-index, 1% changed: after editing one file in a hundred
- query latency p50 / p99 over `--queries` queries of 3-12 words (a section's heading
  and notes are of that size), `limit=20`
- index size on disk, and the process's peak memory (RSS)

Goals on the 2-core machine (issue 16): full index < 60 s, unchanged re-index < 1 s,
queries < 20 ms, memory < 500 MB. Time it alone on the machine:

    flock /tmp/lwz-cpu.lock python bench/sources.py          # 1,000 files, 50 MB: about 15 s
    python bench/sources.py --files 20 --mb 1                 # a quick check (seconds)
    python bench/sources.py --engine bm25s                    # the same corpus through bm25s
                                                              # (pip install bm25s; for comparison)
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = 16
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "shi",
    "po",
    "ven",
    "dar",
    "el",
    "ost",
    "ing",
    "ter",
    "ba",
    "co",
    "lum",
    "fa",
    "gre",
    "hol",
]
HAN = "茶水山川风雨花草木石日月人心言语书画文字学问道理天地光影声音时空古今东西南北中外"


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    words = {"".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))) for _ in range(size * 2)}
    return sorted(words)[:size]


def _paragraph(
    rng: random.Random, vocabulary: list[str], weights: list[float], chinese: bool
) -> str:
    if chinese:
        return "".join(
            "".join(rng.choices(HAN, k=rng.randint(6, 20))) + "。" for _ in range(rng.randint(3, 8))
        )
    sentences = []
    for _ in range(rng.randint(3, 7)):
        words = rng.choices(vocabulary, cum_weights=weights, k=rng.randint(8, 24))
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def build_corpus(folder: Path, files: int, megabytes: float) -> tuple[list[Path], list[str]]:
    """The corpus files, and the vocabulary the queries draw from."""
    rng = random.Random(SEED)
    vocabulary = _vocabulary(rng)
    zipf = [1 / (rank + 1) for rank in range(len(vocabulary))]  # word frequencies as in prose
    weights = _cumulative(zipf)
    per_file = int(megabytes * 1_000_000 / files)
    paths = []
    for number in range(files):
        chinese = number % 20 == 19
        suffix = ".md" if number % 2 else ".txt"
        path = folder / f"topic-{number // 100:02d}" / f"doc-{number:04d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = [f"# Document {number}\n"] if suffix == ".md" else []
        size = 0
        while size < per_file:
            paragraph = _paragraph(rng, vocabulary, weights, chinese)
            parts.append(paragraph + "\n")
            size += len(paragraph.encode()) + 2
        path.write_text("\n".join(parts), encoding="utf-8")
        paths.append(path)
    return paths, vocabulary


def _cumulative(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out


def _queries(vocabulary: list[str], count: int) -> list[str]:
    rng = random.Random(SEED + 1)
    common = vocabulary[:200]  # the frequent words too: the slow case for BM25
    return [
        " ".join(
            rng.choice(common if rng.random() < 0.3 else vocabulary)
            for _ in range(rng.randint(3, 12))
        )
        for _ in range(count)
    ]


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _latencies(search, queries: list[str]) -> tuple[float, float]:
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def bench_fts5(corpus: Path, paths: list[Path], queries: list[str]) -> dict[str, float]:
    from lwz_cli.paths import paths as lwz_paths
    from lwz_cli.sources.index import SourceIndex

    figures: dict[str, float] = {}
    started = time.perf_counter()
    with SourceIndex.open([str(corpus)]) as index:
        figures["full"] = time.perf_counter() - started
        figures["passages"] = index.passages
    started = time.perf_counter()
    with SourceIndex.open([str(corpus)]) as index:
        figures["unchanged"] = time.perf_counter() - started
    for path in paths[::100]:  # one file in a hundred
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\nAn edited paragraph about lighthouses and keepers.\n")
    started = time.perf_counter()
    with SourceIndex.open([str(corpus)]) as index:
        figures["changed"] = time.perf_counter() - started
        figures["reread"] = index.reread
        index.search("warm up")
        figures["p50"], figures["p99"] = _latencies(lambda q: index.search(q, 20), queries)
    figures["size"] = _size(lwz_paths().cache / "sources")
    return figures


def bench_bm25s(corpus: Path, paths: list[Path], queries: list[str]) -> dict[str, float]:
    import bm25s  # not an lwz dependency: pip install bm25s

    from lwz_cli.sources import readers

    figures: dict[str, float] = {}
    started = time.perf_counter()
    texts = [p.text for path in paths for p in readers.parse(path.read_bytes(), path.suffix)]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    saved = corpus.parent / "bm25s-index"
    retriever.save(saved)
    figures["full"] = time.perf_counter() - started
    figures["passages"] = len(texts)
    # bm25s has no incremental update: any change re-reads and re-indexes everything;
    # unchanged, the index is loaded from disk
    started = time.perf_counter()
    retriever = bm25s.BM25.load(saved)
    figures["unchanged"] = time.perf_counter() - started
    figures["changed"] = figures["full"]
    figures["reread"] = len(paths)

    def search(query: str) -> None:
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if tokens.vocab:
            retriever.retrieve(tokens, k=20, show_progress=False)

    figures["p50"], figures["p99"] = _latencies(search, queries)
    figures["size"] = _size(saved)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mb", type=float, default=50.0, help="MB of text in all")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--engine", choices=("fts5", "bm25s"), default="fts5")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lwz-bench-sources-") as temporary:
        os.environ["LWZ_HOME"] = str(Path(temporary) / "home")
        corpus = Path(temporary) / "corpus"
        started = time.perf_counter()
        paths, vocabulary = build_corpus(corpus, args.files, args.mb)
        print(
            f"corpus: {len(paths):,} files, {_size(corpus) / 1e6:.1f} MB "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )
        queries = _queries(vocabulary, args.queries)
        run = bench_fts5 if args.engine == "fts5" else bench_bm25s
        figures = run(corpus, paths, queries)
    print(f"engine: {args.engine}, {int(figures['passages']):,} passages")
    print(f"full index:                 {figures['full']:8.2f} s   (goal < 60 s)")
    print(f"re-index, nothing changed:  {figures['unchanged']:8.3f} s   (goal < 1 s)")
    print(
        f"re-index, 1% changed:       {figures['changed']:8.2f} s   ({int(figures['reread'])} files read)"
    )
    print(
        f"query p50 / p99:            {figures['p50']:8.2f} / {figures['p99']:.2f} ms   (goal < 20 ms)"
    )
    print(f"index size on disk:         {figures['size'] / 1e6:8.1f} MB")
    print(f"peak memory (RSS):          {_peak_mb():8.0f} MB   (goal < 500 MB)")


if __name__ == "__main__":
    main()
