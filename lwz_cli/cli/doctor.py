"""`lwz doctor`: check the install, each line ok / warn / fail with the fix."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import typer
from rich.console import Console

from lwz_cli.config import config_path, env_name, load_file, read_file
from lwz_cli.errors import LwzError, UsageError
from lwz_cli.paths import paths
from lwz_cli.view.format import human_size

GIB = 1024**3  # memory and disk in binary units, as `lwz fit` and `df -h` count them


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str | None = None


def _engine(machine) -> list[Check]:
    from lwz_cli.models.hardware import CUDA_REINSTALL, METAL_REINSTALL  # lazy: lwz --help start-up
    from lwz_cli.system import cpu_flags, use_extra_buffers

    try:
        import llama_cpp  # lazy: llama_cpp is slow to import; lwz --help start-up
    except Exception as exc:  # a broken build must be reported, not crash the doctor
        return [
            Check(
                "llama-cpp-python",
                "fail",
                f"cannot be imported ({exc})",
                "pip install --force-reinstall llama-cpp-python",
            )
        ]
    checks = [Check("llama-cpp-python", "ok", f"version {llama_cpp.__version__}")]
    reinstall = METAL_REINSTALL if machine.unified else CUDA_REINSTALL
    if machine.offload:
        checks.append(Check("GPU offload", "ok", "this build can offload to a GPU"))
    elif machine.gpus:
        checks.append(
            Check(
                "GPU offload",
                "fail",
                f"{machine.gpus[0].name} found, but this llama-cpp-python build is CPU-only",
                reinstall,
            )
        )
    else:
        checks.append(
            Check(
                "GPU offload",
                "ok",
                "CPU-only build, and no GPU found",
                f"with a GPU later: {reinstall}",
            )
        )
    if "amx_int8" in cpu_flags():
        state = "on (LWZ_EXTRA_BUFFERS=1)" if use_extra_buffers() else "off"
        checks.append(
            Check(
                "AMX weight buffers",
                "ok",
                f"{state}: llama.cpp's AMX buffers crash on some machines (llama.cpp issue 20824)",
            )
        )
    return checks


def _hardware(machine) -> list[Check]:
    checks = []
    for gpu in machine.gpus:
        checks.append(
            Check(
                "GPU", "ok", f"{gpu.name}: {gpu.vram / GIB:.1f} GiB, {gpu.free / GIB:.1f} GiB free"
            )
        )
    if not machine.gpus:
        checks.append(
            Check("GPU", "ok", "none found (nvidia-smi, Apple GPU): writing runs on the CPU")
        )
    ram = machine.ram / GIB
    from lwz_cli.models.fit import plan  # lazy: lwz --help start-up

    fit = plan(machine, words=10_000)
    if fit.fits:
        checks.append(
            Check("memory", "ok", f"{ram:.1f} GiB RAM; LongWriter-Zero-32B plan: {fit.reason}")
        )
    else:
        checks.append(
            Check(
                "memory",
                "warn",
                f"{ram:.1f} GiB RAM: LongWriter-Zero-32B does not fit "
                f"a 10,000-word job ({fit.reason})",
                fit.nearest or "use a smaller model",
            )
        )
    return checks


def _disk() -> list[Check]:
    from lwz_cli.models.registry import hf_cache_dir  # lazy: lwz --help start-up

    checks = []
    for label, where, want in (
        ("disk (HF cache)", hf_cache_dir(), 20 * GIB),
        ("disk (LWZ_HOME)", paths().data, 1 * GIB),
    ):
        probe = where
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if free < 0.05 * GIB:
            checks.append(
                Check(
                    label,
                    "fail",
                    f"{free / GIB:.2f} GiB free at {where}: checkpoints and downloads will fail",
                    "free space on that disk",
                )
            )
        elif free < want:
            checks.append(
                Check(
                    label,
                    "warn",
                    f"{free / GIB:.1f} GiB free at {where}",
                    "a LongWriter-Zero-32B Q4_K_M needs 18.5 GiB"
                    if want > GIB
                    else "free some space",
                )
            )
        else:
            checks.append(Check(label, "ok", f"{free / GIB:.1f} GiB free at {where}"))
    return checks


def _home() -> list[Check]:
    """The folders lwz writes (runs, config, chat history, cache): read-only, every
    write fails when it creates its journal."""
    where = paths()
    home = os.environ.get("LWZ_HOME")
    folders = list(dict.fromkeys((where.data, where.config, where.state, where.cache)))
    for folder in folders:
        probe = folder  # the folder, or the nearest one above it that exists
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if os.access(probe, os.W_OK | os.X_OK):
            continue
        try:
            read_only = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        reason = "is on a read-only filesystem" if read_only else "is not writable"
        harm = (
            "lwz cannot save runs there"
            if probe in (folder, Path(home or folder))
            else f"lwz cannot create {folder}"
        )
        return [
            Check(
                "LWZ_HOME",
                "fail",
                f"{probe} {reason}: {harm}",
                "make it writable, or set LWZ_HOME to a folder you can write to",
            )
        ]
    shown = home or ", ".join(str(folder) for folder in folders)
    return [Check("LWZ_HOME", "ok", f"writable: {shown}")]


def _models() -> list[Check]:
    from lwz_cli.models.gguf import read_gguf  # lazy: lwz --help start-up
    from lwz_cli.models.hub import cached_files
    from lwz_cli.models.registry import DEFAULT_MODEL, hf_cache_dir, resolve_model, tiny_model_path

    checks = []
    paths = []
    try:
        paths.append(("tiny", tiny_model_path()))
    except UsageError as exc:
        checks.append(Check("model tiny", "warn", exc.message, exc.hint))
    paths += [(f"{repo}/{p.name}", p) for repo, p in cached_files()]
    for snapshot in sorted(hf_cache_dir().glob("models--*/snapshots/*/*.gguf")):
        if snapshot.is_symlink() and not snapshot.exists():
            checks.append(
                Check(
                    f"model {snapshot.name}",
                    "fail",
                    f"{snapshot} points to a missing file",
                    "pull it again with `lwz models pull`, or `lwz models rm` it",
                )
            )
    for name, path in paths:
        try:
            info = read_gguf(path)
            checks.append(
                Check(
                    f"model {name}",
                    "ok",
                    f"{info.architecture}, {human_size(path.stat().st_size)}, header readable",
                )
            )
        except UsageError as exc:
            checks.append(
                Check(
                    f"model {name}",
                    "fail",
                    exc.message,
                    "pull it again with `lwz models pull`, or `lwz models rm` it",
                )
            )
    for partial in sorted(hf_cache_dir().glob("models--*/blobs/*.incomplete")):
        repo = partial.parent.parent.name[len("models--") :].replace("--", "/", 1)
        checks.append(
            Check(
                "download",
                "warn",
                f"unfinished download in {repo} ({human_size(partial.stat().st_size)} so far)",
                f"`lwz models pull {repo}:QUANT` resumes it",
            )
        )
    configured = _configured_model()
    if configured is None:
        try:
            resolve_model(DEFAULT_MODEL)
            checks.append(Check("default model", "ok", "LongWriter-Zero-32B is downloaded"))
        except UsageError as exc:
            checks.append(Check("default model", "warn", exc.message, exc.hint))
    else:
        checks.append(_model_check(*configured))
    return checks


def _configured_model() -> tuple[str, str] | None:
    """The model a write uses without --model, and where that is set ($LWZ_MODEL, then
    config.yaml); None when it is the built-in default."""
    name = env_name("model")
    if os.environ.get(name):
        return os.environ[name], f"${name}"
    try:
        spec = read_file().values.get("model")
    except LwzError:  # an unreadable file is the config check's to report
        return None
    return (spec, f"model: in {config_path()}") if spec else None


def _model_check(spec: str, where: str) -> Check:
    from lwz_cli.models.names import check_model_name  # lazy: lwz --help start-up
    from lwz_cli.models.registry import ModelNotDownloaded, resolve_model

    fix = "`lwz config set model NAME`" if where.startswith("model:") else f"change {where}"
    try:
        check_model_name(spec)
        model = resolve_model(spec)
    except ModelNotDownloaded as exc:
        return Check("model", "warn", f"{spec} ({where}): {exc.message}", exc.hint)
    except UsageError as exc:
        return Check("model", "fail", f"{exc.message} ({where})", f"{fix}; {exc.hint}")
    return Check("model", "ok", f"{spec} ({where}) is here: {model.path}")


def _export() -> list[Check]:
    """The optional converters behind `-o .docx/.odt/.epub/.pdf` (HTML needs none): a
    warning, not a failure, since Markdown and HTML work without them."""
    from lwz_cli.export import INSTALL, PDF_ENGINES, pandoc_path, pdf_engine  # lazy: start-up

    pandoc = pandoc_path()
    if pandoc is None:
        return [
            Check(
                "export",
                "warn",
                "no pandoc: -o .docx, .odt, .epub and .pdf are refused (.md and .html work)",
                f"{INSTALL} installs it",
            )
        ]
    engine = pdf_engine()
    if engine is None:
        return [
            Check(
                "export",
                "warn",
                f"pandoc at {pandoc}: .docx, .odt, .epub; no PDF engine, so -o .pdf is refused",
                f"install one of {', '.join(PDF_ENGINES)} for .pdf",
            )
        ]
    return [Check("export", "ok", f"pandoc at {pandoc}, PDF through {engine}")]


def _config_and_runs() -> list[Check]:
    checks = []
    try:
        found = read_file()
    except UsageError as exc:
        checks.append(Check("config", "fail", exc.message, exc.hint or "fix or remove the file"))
    else:
        values = found.values
        shown = {k: ("(set)" if k == "api_key" else v) for k, v in values.items()}  # no secrets
        detail = f"{config_path()}: " + (
            ", ".join(f"{k}={v}" for k, v in shown.items())
            if values
            else "no settings (built-in defaults)"
        )
        if not found.problems:
            checks.append(Check("config", "ok", detail))
        for problem in found.problems:  # every bad entry, each with its mend
            checks.append(Check("config", "fail", problem.message, problem.hint))
    from lwz_cli.run_listing import run_rows  # lazy: lwz --help start-up (the writing layer)

    open_runs = [r for r in run_rows() if r["resume"]]
    if open_runs:
        checks.append(
            Check(
                "runs",
                "warn",
                f"{len(open_runs)} unfinished: " + "; ".join(r["resume"] for r in open_runs[:3]),
                "resume them, or `lwz runs rm`",
            )
        )
    else:
        checks.append(Check("runs", "ok", "no unfinished runs"))
    return checks


def _endpoints() -> list[Check]:
    """The configured --endpoint servers (LWZ_ENDPOINT or config `endpoint`), if any."""
    try:
        values = load_file()
    except LwzError:
        values = {}
    raw = os.environ.get("LWZ_ENDPOINT") or values.get("endpoint")
    if not raw:
        return []
    from lwz_cli.engine.http import EndpointRejected, probe  # lazy: lwz --help start-up
    from lwz_cli.writing.endpoint import endpoint_list

    key = os.environ.get("LWZ_API_KEY") or values.get("api_key")
    checks = []
    try:
        urls = endpoint_list([raw])
    except LwzError as exc:
        return [Check("endpoint", "fail", exc.message, exc.hint)]
    for url in urls:
        try:
            info = probe(url, api_key=key, timeout=3)
        except EndpointRejected as exc:
            checks.append(Check(f"endpoint {url}", "fail", exc.message, exc.hint))
        except LwzError as exc:
            checks.append(Check(f"endpoint {url}", "warn", exc.message, exc.hint))
        else:
            ctx = f", context {info.n_ctx:,} tokens" if info.n_ctx else ""
            checks.append(
                Check(
                    f"endpoint {url}",
                    "ok",
                    f"reachable, serves {info.model or 'an unnamed model'}{ctx}",
                )
            )
    return checks


def doctor(json_mode: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """Check the install: engine build, GPU, memory, disk, models, export, config, runs."""
    from lwz_cli.models.hardware import probe  # lazy: lwz --help start-up

    machine = probe()
    checks = (
        _engine(machine)
        + _hardware(machine)
        + _home()
        + _disk()
        + _models()
        + _export()
        + _config_and_runs()
        + _endpoints()
    )
    failed = any(c.status == "fail" for c in checks)
    if json_mode:
        sys.stdout.write(
            json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2) + "\n"
        )
    else:
        console = Console(highlight=False)
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
        for c in checks:
            console.print(
                f"[{style[c.status]}]{c.status:>4}[/] {c.name}: {c.detail}", soft_wrap=True
            )
            if c.fix and c.status != "ok":
                console.print(f"      fix: {c.fix}", soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
