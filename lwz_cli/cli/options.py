"""The options `write`, `resume`, `chat` and `batch` share, declared once.

Each option is a factory for its `typer.Option`: the flags, env var, metavar and
completion are fixed here; a command whose help says something of its own passes
that text. The common form is an `Annotated` type a command uses as it is.
Env var names and defaults come from the settings table (`lwz_cli.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.models import OptionInfo

from lwz_cli.cli import complete
from lwz_cli.config import SETTINGS, config_path, default, env_name
from lwz_cli.errors import UsageError
from lwz_cli.profiles import LWZ, profile
from lwz_cli.strategy import STRATEGY_NAMES

KV_TYPES: tuple[str, ...] = SETTINGS["kv_type"].choices or ()

MODEL_HELP = (
    f"A .gguf path, an alias (tiny, {default('model')}), repo_id:QUANT or repo_id/file.gguf."
)
STRATEGY_HELP = (
    "single: one pass; planned: an outline with word budgets, then section by "
    "section; auto: single within the model's one-pass reach (LongWriter-Zero "
    f"~{profile(LWZ).single_pass_reach:,} words), planned beyond."
)
TEMPERATURE_HELP = f"Sampling temperature (model card: {default('temperature'):g})."
TOP_P_HELP = f"Nucleus sampling (model card: {default('top_p'):g})."
SEED_HELP = "Random seed, for repeatable output."
THREADS_HELP = "CPU threads (default: physical cores)."
GPU_LAYERS_HELP = "Layers to offload to the GPU (-1: all). Default: the fit plan's."
JSON_HELP = "JSON Lines events on stdout instead of the live view."
QUIET_HELP = "No progress output; warnings and errors only."
WAIT_HELP = (
    "While another lwz runs a model on this machine, wait for it (the default); "
    "--no-wait exits 1 at once instead."
)


BRIEF_HELP = (
    "The author's brief: audience, tone, points to cover, facts to use. A file that "
    "exists is read (UTF-8); anything else is the brief itself. Goes into every prompt."
)
STYLE_HELP = (
    "A sample of your own prose (UTF-8 file) for the model to write in your voice: its first "
    "paragraphs up to ~400 words (字 for Chinese) are used, cut at a paragraph or sentence end."
)


SOURCE_HELP = (
    "Write from these files (repeatable: a file, a folder or a glob; Markdown, text, HTML, "
    "PDF, DOCX). Each section's prompt gets the passages that match it, numbered, for the "
    "model to cite as [n]."
)
CITATIONS_HELP = (
    "With --source: numeric keeps the [n] that point at excerpts the model was given, "
    "renumbered, with References at the end; footnotes makes them [^n] footnotes; none "
    "drops them."
)
EXCERPT_TOKENS_HELP = "With --source: tokens of excerpts in each prompt."


def source(help: str = SOURCE_HELP) -> OptionInfo:
    return typer.Option("--source", metavar="PATH", help=help)


def citations(help: str = CITATIONS_HELP) -> OptionInfo:
    return typer.Option(
        "--citations",
        envvar=env_name("citations"),
        metavar="|".join(SETTINGS["citations"].choices or ()),
        help=help,
    )


def excerpt_tokens(help: str = EXCERPT_TOKENS_HELP) -> OptionInfo:
    return typer.Option(
        "--excerpt-tokens", envvar=env_name("excerpt_tokens"), metavar="N", help=help
    )


def brief(help: str = BRIEF_HELP) -> OptionInfo:
    return typer.Option("--brief", metavar="TEXT|FILE", help=help)


def style(help: str = STYLE_HELP) -> OptionInfo:
    return typer.Option("--style", metavar="FILE", help=help)


def _env(key: str, env: bool) -> str | None:
    return env_name(key) if env else None


def _model_from_settings(
    ctx: typer.Context, param: typer.CallbackParam, value: str | None
) -> str | None:
    """A model named by config.yaml or $LWZ_MODEL rather than on the command line is
    checked here, so an unknown name says where it came from."""
    source = ctx.get_parameter_source(param.name or "")
    from_file = source is not None and source.name == "DEFAULT_MAP"
    from_env = source is not None and source.name == "ENVIRONMENT"
    if value is None or ctx.resilient_parsing or not (from_file or from_env):
        return value
    from lwz_cli.models.names import check_model_name  # lazy: lwz --help start-up

    try:
        check_model_name(value)
    except UsageError as exc:
        where = f"`model:` in {config_path()}" if from_file else f"${env_name('model')}"
        raise UsageError(
            f"{exc.message} (the name comes from {where})",
            hint="`lwz config set model NAME` or `lwz config unset model` changes it"
            if from_file
            else exc.hint,
        ) from None
    return value


def model(help: str = MODEL_HELP, *, env: bool = True) -> OptionInfo:
    return typer.Option(
        "-m",
        "--model",
        envvar=_env("model", env),
        metavar="MODEL",
        autocompletion=complete.models,
        callback=_model_from_settings,
        help=help,
    )


def words(help: str) -> OptionInfo:
    return typer.Option("--words", "-w", envvar=env_name("words"), metavar="N", help=help)


def strategy(help: str = STRATEGY_HELP) -> OptionInfo:
    return typer.Option(
        "--strategy", "-s", envvar=env_name("strategy"), metavar="|".join(STRATEGY_NAMES), help=help
    )


def temperature(help: str = TEMPERATURE_HELP) -> OptionInfo:
    return typer.Option(
        "--temperature", "-t", envvar=env_name("temperature"), metavar="T", help=help
    )


def top_p(help: str = TOP_P_HELP) -> OptionInfo:
    return typer.Option("--top-p", envvar=env_name("top_p"), metavar="P", help=help)


def seed(help: str = SEED_HELP) -> OptionInfo:
    return typer.Option("--seed", envvar=env_name("seed"), metavar="N", help=help)


def ctx(help: str) -> OptionInfo:
    return typer.Option("--ctx", envvar=env_name("ctx"), metavar="TOKENS", help=help)


def threads(help: str = THREADS_HELP) -> OptionInfo:
    return typer.Option("--threads", envvar=env_name("threads"), metavar="N", help=help)


def gpu_layers(help: str = GPU_LAYERS_HELP) -> OptionInfo:
    return typer.Option("--gpu-layers", envvar=env_name("gpu_layers"), metavar="N", help=help)


def kv_type(help: str) -> OptionInfo:
    return typer.Option(
        "--kv-type", envvar=env_name("kv_type"), metavar="|".join(KV_TYPES), help=help
    )


def kv_snapshot(help: str, *, env: bool = True) -> OptionInfo:
    return typer.Option(
        "--kv-snapshot/--no-kv-snapshot", envvar=_env("kv_snapshot", env), help=help
    )


MEMORY_HELP = (
    "Planned runs: after each section the model notes what it established (names, terms, "
    "numbers, decisions) and later sections get those notes. Default: on when the document "
    "outgrows the context window."
)


def memory(help: str = MEMORY_HELP) -> OptionInfo:
    return typer.Option("--memory/--no-memory", envvar=env_name("memory"), help=help)


def snapshot_max_gb(help: str = "Skip KV snapshots larger than this.") -> OptionInfo:
    return typer.Option(
        "--snapshot-max-gb", envvar=env_name("snapshot_max_gb"), metavar="GB", help=help
    )


def json_mode(help: str = JSON_HELP) -> OptionInfo:
    return typer.Option("--json", help=help)


def quiet(help: str = QUIET_HELP) -> OptionInfo:
    return typer.Option("--quiet", "-q", help=help)


def wait(help: str = WAIT_HELP) -> OptionInfo:
    return typer.Option("--wait/--no-wait", envvar=env_name("wait"), help=help)


def outline(
    help: str = "Write exactly this outline file (`lwz plan` writes one): its ## headings in "
    "order, their <!-- N words --> budgets (scaled to --words) and notes; PROMPT is then optional.",
) -> OptionInfo:
    return typer.Option("--outline", metavar="FILE", help=help)


def verbose() -> OptionInfo:
    return typer.Option("--verbose", help="Show llama.cpp's own log.")


def endpoint(help: str, *, env: bool = True) -> OptionInfo:
    return typer.Option("--endpoint", envvar=_env("endpoint", env), metavar="URL", help=help)


def api_key(help: str) -> OptionInfo:
    return typer.Option(
        "--api-key", envvar=env_name("api_key"), metavar="KEY", show_default=False, help=help
    )


def endpoint_model(help: str, *, env: bool = True) -> OptionInfo:
    return typer.Option(
        "--endpoint-model", envvar=_env("endpoint_model", env), metavar="NAME", help=help
    )


# The common forms, for commands whose help says nothing of its own.
Model = Annotated[str | None, model()]
StrategyName = Annotated[str, strategy()]
Temperature = Annotated[float, temperature()]
TopP = Annotated[float, top_p()]
Seed = Annotated[int | None, seed()]
Threads = Annotated[int | None, threads()]
GpuLayers = Annotated[int | None, gpu_layers()]
SnapshotMaxGb = Annotated[float, snapshot_max_gb()]
JsonMode = Annotated[bool, json_mode()]
Quiet = Annotated[bool, quiet()]
Verbose = Annotated[bool, verbose()]
Wait = Annotated[bool, wait()]
Endpoints = list[str] | None  # the type of --endpoint (repeatable)
Brief = Annotated[str | None, brief()]
Style = Annotated[Path | None, style()]
Sources = Annotated[list[str] | None, source()]
Citations = Annotated[str, citations()]
ExcerptTokens = Annotated[int, excerpt_tokens()]
