"""A real OpenAI-compatible server for the endpoint tests: llama-cpp-python's own
(`python -m llama_cpp.server`, the `server` extra) with the tiny model, on
127.0.0.1, as a subprocess that can be killed (SIGKILL) and started again on the
same port.

Run as a script, this file is that server: it applies lwz's AMX workaround
before handing over to `llama_cpp.server.__main__.main()`. On AMX CPUs
(Sapphire Rapids class) llama.cpp's extra weight buffers segfault in the first
batched decode (ggml-org/llama.cpp#20824; see lwz_cli/system.py), and the
server has no option for `use_extra_bufts`: unpatched, it dies silently on its
first completion here, exactly as lwz's own engine would without the patch.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    # One thread: the tests' lwz processes and other jobs share the 2 cores, and with
    # 2 threads llama.cpp's spinning barriers stall whenever one thread is descheduled
    # (measured here under load: 0.6 tok/s with 2 threads against ~50 with 1).
    def __init__(
        self,
        model: Path,
        *,
        port: int | None = None,
        n_ctx: int = 8192,
        threads: int = 1,
        api_key: str | None = None,
        log: Path | None = None,
    ):
        self.model = Path(model)
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.threads = threads
        self.api_key = api_key
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            str(HERE),
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            "--verbose",
            "False",
            "--use_mlock",
            "False",
            "--logits_all",
            "False",
            # queue a second request instead of cutting the one streaming (the
            # server's default), so jobs sharing it do not interrupt each other
            "--interrupt_requests",
            "False",
        ]
        if self.api_key:
            cmd += ["--api_key", self.api_key]
        return cmd

    def start(self, timeout: float = 60) -> LlamaServer:
        # the child keeps its own copy of the log's descriptor: ours closes once it has started
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(self.log, "ab")) if self.log else subprocess.DEVNULL
            self.proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with {self.proc.returncode}"
                    + (f"; see {self.log}" if self.log else "")
                )
            if self.ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("llama_cpp.server did not answer /v1/models in time")

    def ready(self) -> bool:
        request = urllib.request.Request(self.url + "/v1/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=1) as resp:
                return bool(json.loads(resp.read()).get("data"))
        except (OSError, ValueError):
            return False

    def kill(self) -> None:
        """SIGKILL: the server dies mid-stream, its sockets reset."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self) -> LlamaServer:
        self.kill()
        return self.start()


def _serve() -> None:
    from lwz_cli.engine.llama import _model_params
    from lwz_cli.system import use_extra_buffers

    # The server builds its Llama() inside main(): patch around the whole of it.
    with _model_params(use_extra_buffers()):
        from llama_cpp.server.__main__ import main

        main()


if __name__ == "__main__":
    _serve()
