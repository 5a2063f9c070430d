"""llama.cpp's own `llama-server`, built once from the llama.cpp sources vendored in
the installed llama-cpp-python's sdist, and started as a subprocess: for the
scale-out bench (bench/scale.py) and the endpoint tests that run against the real
engine (tests/test_llama_server_real.py).

The binary lives in lwz's cache folder, one per llama-cpp-python version, so it
matches the llama.cpp the rest of lwz runs:

    $LWZ_HOME/cache/llama-server/<version>/bin/llama-server            (LWZ_HOME set)
    ${XDG_CACHE_HOME:-~/.cache}/lwz/llama-server/<version>/bin/llama-server

`LWZ_LLAMA_SERVER=/path/to/llama-server` uses a binary built elsewhere instead.
Build it (several minutes on 2 cores; later calls reuse it):

    python tests/llama_server_bin.py            # prints the binary's path

The sdist comes from the package index (`pip download llama-cpp-python==<version>
--no-binary :all:`), or from `--sdist FILE`. The build is CPU only and needs no
network beyond that: no curl, no OpenSSL, no web UI download.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lwz_cli.paths import paths  # noqa: E402

BINARY = "llama-server"

# Everything that would reach the network at configure or build time is off: the
# server's web UI comes prebuilt from a Hugging Face bucket unless told not to.
CMAKE_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DGGML_NATIVE=ON",
]


def llama_cpp_version() -> str:
    return version("llama_cpp_python")


def cache_dir(llama_version: str | None = None) -> Path:
    return paths().cache / "llama-server" / (llama_version or llama_cpp_version())


def binary_path(llama_version: str | None = None) -> Path:
    return cache_dir(llama_version) / "bin" / BINARY


def find() -> Path | None:
    """The llama-server binary to use, or None when none is built yet."""
    override = os.environ.get("LWZ_LLAMA_SERVER")
    if override:
        path = Path(override).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    path = binary_path()
    return path if path.is_file() and os.access(path, os.X_OK) else None


def missing_reason() -> str:
    """Why `find()` found nothing, in words a skipped test can print."""
    override = os.environ.get("LWZ_LLAMA_SERVER")
    if override:
        return f"LWZ_LLAMA_SERVER={override} is not an executable file"
    return f"llama-server is not built at {binary_path()}: run `python tests/llama_server_bin.py`"


def fetch_sdist(llama_version: str, into: Path) -> Path:
    """The llama-cpp-python sdist of this version, from the package index (pip's
    cache answers when it already has it)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"llama-cpp-python=={llama_version}",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(into),
        ],
        check=True,
    )
    found = sorted(into.glob("llama_cpp_python-*.tar.gz"))
    if not found:
        raise SystemExit(f"pip download left no llama_cpp_python sdist in {into}")
    return found[0]


def extract_llama_cpp(sdist: Path, into: Path) -> Path:
    """Unpack only the vendored llama.cpp tree; return its root."""
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name + "/"]
        if not members:
            raise SystemExit(f"{sdist} holds no vendor/llama.cpp")
        tar.extractall(into, members=members, filter="data")
    (root,) = into.glob("*/vendor/llama.cpp")
    return root


def build(*, sdist: Path | None = None, jobs: int | None = None) -> Path:
    """Build llama-server into the cache unless it is there; return its path.

    The compiler's output goes to `build.log` beside the binary (thousands of
    lines of warnings); a failed step raises with that log's last lines."""
    target = binary_path()
    if target.is_file():
        return target
    work = cache_dir()
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "build.log"
    with tempfile.TemporaryDirectory(dir=work, prefix="build-") as tmp, open(log_path, "w") as log:
        scratch = Path(tmp)

        def step(cmd: list[str]) -> None:
            log.write(f"$ {shlex.join(cmd)}\n")
            log.flush()
            done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                log.close()
                tail = log_path.read_text(errors="replace").splitlines()[-30:]
                raise SystemExit(
                    f"{shlex.join(cmd[:3])} failed ({done.returncode}); "
                    f"{log_path} ends:\n" + "\n".join(tail)
                )

        if sdist is None:
            sdist = fetch_sdist(llama_cpp_version(), scratch)
        source = extract_llama_cpp(sdist, scratch / "src")
        build_dir = scratch / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []  # else make
        step(["cmake", "-S", str(source), "-B", str(build_dir), *generator, *CMAKE_FLAGS])
        step(
            [
                "cmake",
                "--build",
                str(build_dir),
                "--target",
                BINARY,
                "-j",
                str(jobs or os.cpu_count() or 1),
            ]
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy then rename, so a reader never sees half a binary.
        partial = target.with_suffix(".partial")
        shutil.copy2(build_dir / "bin" / BINARY, partial)
        partial.rename(target)
    return target


def llama_server_command(
    binary: Path,
    model: Path,
    *,
    port: int,
    parallel: int = 1,
    ctx: int = 4096,
    threads: int = 2,
    api_key: str | None = None,
) -> list[str]:
    """`llama-server` serving `model` on 127.0.0.1:port with `parallel` slots.

    Continuous batching (`-cb`) decodes every slot's next token in one batch; with a
    unified KV cache (`--kv-unified`) the slots share one `ctx`-token cache, so each
    request may use up to `ctx` tokens while the slots together hold `ctx`. lwz reads
    the per-slot context from `GET /props`."""
    cmd = [
        str(binary),
        "-m",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-c",
        str(ctx),
        "--parallel",
        str(parallel),
        "--cont-batching",
        "--kv-unified",
        "-t",
        str(threads),
        "-tb",
        str(threads),
        "--no-webui",
    ]
    if api_key:
        cmd += ["--api-key", api_key]
    return cmd


class ServerProcess:
    """An OpenAI-compatible server started from a command line, ready once
    `GET /v1/models` answers with a model; stopped with SIGTERM (then SIGKILL)."""

    def __init__(
        self,
        command: Sequence[str] | str,
        url: str,
        *,
        api_key: str | None = None,
        log: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        self.command = shlex.split(command) if isinstance(command, str) else list(command)
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.log = log
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> ServerProcess:
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(self.log, "ab")) if self.log else subprocess.DEVNULL
            self.proc = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(self.env or {})},
                start_new_session=True,  # its own group: stop() ends its workers too
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{Path(self.command[0]).name} exited with {self.proc.returncode}"
                    + (f"; see {self.log}" if self.log else "")
                )
            if self.ready():
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"{Path(self.command[0]).name} did not answer {self.url}/v1/models "
            f"within {timeout:.0f} s" + (f"; see {self.log}" if self.log else "")
        )

    def ready(self) -> bool:
        request = urllib.request.Request(self.url + "/v1/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                return bool(json.loads(resp.read()).get("data"))
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, help="a llama-cpp-python sdist already downloaded")
    parser.add_argument("--jobs", type=int, help="parallel compile jobs (default: all cores)")
    args = parser.parse_args()
    started = time.monotonic()
    built = binary_path().is_file()
    path = build(sdist=args.sdist, jobs=args.jobs)
    if not built:
        print(f"built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(path)


if __name__ == "__main__":
    main()
