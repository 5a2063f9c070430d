"""Render `man/lwz.1` from the Typer app, so the man page cannot drift from `--help`.

Regenerate with `python scripts/gen_man.py`; a test fails when it is stale.
"""

from __future__ import annotations

import re

import typer

from lwz_cli import __version__
from lwz_cli.repl.commands import COMMANDS, usage

ENVIRONMENT = [
    (
        "LWZ_HOME",
        "Directory for all of lwz's own state (config, runs, history, cache); "
        "overrides the XDG locations.",
    ),
    ("LWZ_MODEL", "Default for --model."),
    ("LWZ_THREADS", "Default for --threads."),
    ("LWZ_GPU_LAYERS", "Default for --gpu-layers."),
    ("LWZ_KV_SNAPSHOT_MAX_GB", "Default for --snapshot-max-gb (4)."),
    (
        "LWZ_STRATEGY, LWZ_WORDS, LWZ_TEMPERATURE, LWZ_TOP_P, LWZ_SEED, LWZ_MAX_TOKENS, LWZ_CTX, "
        "LWZ_KV_TYPE, LWZ_KV_SNAPSHOT, LWZ_MEMORY",
        "Defaults for the lwz write options of the same names. "
        "Precedence: flags, then LWZ_* variables, then config.yaml, then built-in defaults.",
    ),
    (
        "LWZ_ENDPOINT, LWZ_ENDPOINT_MODEL, LWZ_API_KEY",
        "Defaults for --endpoint (several URLs "
        "separated by spaces), --endpoint-model and --api-key (the key is never stored).",
    ),
    (
        "LWZ_ENDPOINT_RETRIES, LWZ_ENDPOINT_BACKOFF, LWZ_ENDPOINT_TIMEOUT, LWZ_ENDPOINT_STALL",
        "Endpoint failures: "
        "retries in a row before giving up (5), the first backoff in seconds, doubled at each "
        "retry (0.5), the seconds a request may wait for its first event (600), and the "
        "seconds a started stream may go without one (120).",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY",
        "Proxies for --endpoint servers, and the hosts reached without one.",
    ),
    (
        "SSL_CERT_FILE, SSL_CERT_DIR, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE",
        "CA certificates to trust for https --endpoint servers (the first one set).",
    ),
    ("LWZ_JOBS", "Default for lwz batch --jobs."),
    (
        "LWZ_WAIT",
        "false: as --no-wait (write, resume, chat, batch): exit 1 at once while "
        "another lwz runs a model, instead of waiting for it.",
    ),
    ("LWZ_DEBUG", "1: show the Python traceback of an internal error."),
    (
        "LWZ_FAULT_PAUSE_IN_CHECKPOINT",
        "Testing only: hold each checkpoint write for this many "
        "seconds before its rename, to test crashes inside a checkpoint.",
    ),
    (
        "LWZ_EXTRA_BUFFERS",
        "1 lets llama.cpp repack weights into extra CPU buffers (AMX, "
        "REPACK) on AMX CPUs too, 0 forbids it everywhere. By default lwz turns them off on AMX "
        "CPUs, where llama.cpp can crash (llama.cpp issue 20824).",
    ),
    ("HF_HOME, HF_HUB_CACHE", "Where Hugging Face models are cached; lwz finds models there."),
    ("HF_ENDPOINT", "The Hugging Face Hub endpoint."),
    ("HF_TOKEN", "Token for gated or private Hub repositories."),
    ("HF_HUB_OFFLINE", "1: never contact the Hub; use the cache only."),
    (
        "XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME, XDG_CACHE_HOME, XDG_RUNTIME_DIR",
        "Base directories used when LWZ_HOME is not set.",
    ),
]

FILES = [
    (
        "$XDG_CONFIG_HOME/lwz/config.yaml",
        "Your defaults (or $LWZ_HOME/config/config.yaml); see lwz config.",
    ),
    (
        "PATH.partial",
        "While a document is written, its finished sections, rewritten atomically "
        "at each checkpoint; removed when PATH is complete. Beside the file a "
        "symlinked PATH points at. Always Markdown, whatever PATH's suffix: "
        "guide.docx.partial is the Markdown so far (lwz export converts it).",
    ),
    (
        "$XDG_DATA_HOME/lwz/runs/ID",
        "One run directory per document (or $LWZ_HOME/data/runs/ID): "
        "manifest.json, checkpoint-0.json and checkpoint-1.json (generated token ids, written "
        "alternately, each with its own sha256), think.md, sections/NNNN.md, and kv.bin/kv.json "
        "(an optional llama.cpp KV snapshot). Private: the folder 0700, its files 0600.",
    ),
    (
        "$XDG_STATE_HOME/lwz/chat-history",
        "lwz chat's input history (or $LWZ_HOME/state/chat-history).",
    ),
    (
        "$XDG_RUNTIME_DIR/lwz/engine.lock",
        "The engine slot: one in-process model per user at a time. write, resume, chat "
        "and batch hold an flock on it while their model is loaded (freed however they "
        "end, kill -9 included) and write who they are into it; another lwz waits for it "
        "(--no-wait: exits 1). Without XDG_RUNTIME_DIR, $XDG_STATE_HOME/lwz/engine.lock; "
        "with LWZ_HOME, $LWZ_HOME/state/engine.lock. lwz runs names the holder.",
    ),
    ("$HF_HOME/hub", "The shared Hugging Face model cache."),
]

RECIPE_KEYS = [
    ("name", "Required. The series name: letters, digits, -, _ and . (a folder name)."),
    (
        "prompt",
        "Required. The request template: text with {name} fields only ({{ and }} for braces).",
    ),
    (
        "output",
        "Required. The output path template: relative, ending in .md or .txt (or .docx, "
        ".odt, .epub, .pdf, .html: converted, see EXPORT), under the "
        "recipe's folder or --out-dir; no .. part, no absolute path, no way out through a symlink.",
    ),
    (
        "format",
        "md, html, docx, odt, epub or pdf: every output is written in that format "
        "(its suffix replaced), as with -o guide.docx.",
    ),
    ("model, strategy, words", "As --model, --strategy and --words; an item may set its own."),
    (
        "params",
        "Sampling: temperature, top_p, top_k, min_p, repeat_penalty, seed, max_tokens; "
        "an item's params are merged over the recipe's.",
    ),
    ("items", "A list of mappings: one job per item, each key a template variable."),
    (
        "matrix",
        "A mapping of variable to a list of values: every combination is crossed with every item.",
    ),
    ("vars", "Default values for template variables (--var overrides them)."),
    ("endpoint", "A URL or a list of URLs of OpenAI-compatible servers to run the jobs on."),
]

EXIT_STATUS = [
    ("0", "The document is complete."),
    ("1", "A runtime failure: the engine, the disk or the network."),
    ("2", "Bad usage or input: a flag, the prompt, the model or the output path."),
    ("130", "Interrupted (Ctrl-C, SIGTERM, or SIGHUP: the terminal closed)."),
    (
        "lwz batch",
        "0 when every job is done or skipped, 1 when any failed, 2 for invalid "
        "recipes or flags (before any job starts), 130 when interrupted.",
    ),
]

EXAMPLES = [
    (
        "Write a guide with the default model:",
        'lwz write "a 10,000-word guide to home espresso" -o guide.md',
    ),
    (
        "Try the pipeline with the tiny test model:",
        'lwz write "Write a 400-word blog post about green tea." --model tiny -o tea.md',
    ),
    (
        "Read the request from stdin, the document to stdout:",
        'echo "a 2000-word history of the bicycle" | lwz write - --model tiny > bike.md',
    ),
    (
        "Continue after Ctrl-C, a crash or kill -9 (running the same write again does it too):",
        "lwz resume guide.md",
    ),
    ("See unfinished and finished runs:", "lwz runs"),
    (
        "Write straight to Word, or convert a document already written:",
        'lwz write "a 3000-word guide to bread" -o bread.docx && lwz export bread.md -o bread.html',
    ),
    (
        "Plan for one 24 GB GPU, then download the chosen quant:",
        "lwz fit --vram 24 && lwz models pull",
    ),
    (
        "Make the tiny model the default, then check the install:",
        "lwz config set model tiny && lwz doctor",
    ),
    (
        "Draft interactively, steering section by section (/help lists the commands):",
        "lwz chat guide.md --model tiny",
    ),
    (
        "Check recipes and see what each job would do, then run them:",
        "lwz batch recipes/espresso-guides.yaml --dry-run && lwz batch recipes/espresso-guides.yaml",
    ),
    (
        "Machine-readable progress:",
        'lwz write "a 3000-word report" -o report.md --json | jq -c \'select(.event=="done")\'',
    ),
]


def _esc(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.M)


def _para(text: str) -> str:
    return _esc(" ".join(text.split()))


def _option_line(param) -> tuple[str, str]:
    names = ", ".join(f"\\fB{_esc(n)}\\fR" for n in param.opts + param.secondary_opts)
    if not param.is_flag:
        metavar = (param.metavar or "VALUE").upper()
        names += f" \\fI{_esc(metavar)}\\fR"
    help_text = param.help or ""
    envvar = param.envvar if isinstance(param.envvar, str) else None
    if envvar:
        help_text += f" (env: {envvar})"
    return names, _para(help_text)


def _command(command, path: str) -> list[str]:
    args = " ".join(
        f"\\fI{_esc(p.metavar or p.name.upper())}\\fR"
        for p in command.params
        if p.param_type_name == "argument"
    )
    out = [
        ".SS " + _esc(f"{path} [OPTIONS]") + (" " + args if args else ""),
        _para(command.help or ""),
    ]
    for param in command.params:
        if param.param_type_name == "argument":
            out += [
                ".TP",
                f"\\fI{_esc(param.metavar or param.name.upper())}\\fR",
                _para(getattr(param, "help", "") or ""),
            ]
    for param in command.params:
        if param.param_type_name == "option" and not param.hidden:
            names, help_text = _option_line(param)
            out += [".TP", names, help_text]
    return out


def _commands(group, ctx, path: str) -> list[str]:
    out: list[str] = []
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        out += _command(command, f"{path} {name}")
        if hasattr(command, "list_commands"):
            out += _commands(command, typer.Context(command, parent=ctx), f"{path} {name}")
    return out


def render(app: typer.Typer) -> str:
    root = typer.main.get_command(app)
    out = [
        '.TH LWZ 1 "" "lwz ' + __version__ + '" "User Commands"',
        ".SH NAME",
        "lwz \\- " + _para(root.help or "").rstrip("."),
        ".SH SYNOPSIS",
        "\\fBlwz\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        _para(
            "lwz turns one request into a long Markdown document with LongWriter-Zero-32B "
            "(or any GGUF model) running in-process through llama.cpp. It shows the model's "
            "plan and draft live on a terminal, prints plain progress lines when piped, and "
            "JSON Lines events with --json. The document goes to -o PATH, written "
            "atomically, or to standard output; everything else goes to standard error."
        ),
        ".SH COMMANDS",
    ]
    out += _commands(root, typer.Context(root), "lwz")
    out.append(".SH CHAT COMMANDS")
    out.append(
        _para(
            "Inside lwz chat. Plain text starts a draft when there is none; with one, "
            "it is guidance for the next /continue or /redo. Enter sends, Alt-Enter "
            "adds a line, Tab completes, Ctrl-C stops a generation and keeps what was "
            "written, Ctrl-D leaves. The draft is a run: lwz resume and /open go on "
            "with it."
        )
    )

    for name, command in COMMANDS.items():
        out += [".TP", f"\\fB{_esc(usage(name))}\\fR", _para(command.help)]
    out.append(".SH RECIPES")
    out.append(
        _para(
            "lwz batch reads YAML recipes (yaml.safe_load rules: plain data, never "
            "code). Every recipe is checked before any job starts; each problem is "
            "reported as FILE:LINE:COL: message and lwz batch exits 2. Template "
            "variables, lowest precedence first: vars, the matrix values and the "
            "item's keys, --var; built in: {words}, {name}, {index}. A rerun skips "
            "finished jobs whose inputs are unchanged, resumes unfinished ones and "
            "regenerates changed ones. Examples are in the recipes/ folder of the "
            "source tree."
        )
    )
    for key, text in RECIPE_KEYS:
        out += [".TP", f"\\fB{_esc(key)}\\fR", _para(text)]
    out.append(".SH EXPORT")
    out.append(
        _para(
            "-o PATH (write, resume, recipes' output and format, chat's /export) picks the "
            "format by suffix: .docx, .odt, .epub, .pdf and .html (.htm) are converted from "
            "the finished Markdown once, at the end, atomically; any other suffix is "
            "Markdown. The journal and PATH.partial stay Markdown. HTML needs nothing "
            "more (markdown-it-py); DOCX, ODT, EPUB and PDF need pandoc: pip install "
            "'lwz-cli[export]' (or a pandoc on PATH), and PDF also a PDF engine pandoc can "
            "drive (typst, tectonic, weasyprint, wkhtmltopdf or a LaTeX). Without them the "
            "run is refused before the model loads (exit 2). DOCX headings use Word's "
            "Heading 1, Heading 2... styles, so Word's navigation pane shows the outline. "
            "lwz export SOURCE -o PATH converts a document already written."
        )
    )
    out.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT:
        out += [".TP", f"\\fB{_esc(name)}\\fR", _para(text)]
    out.append(".SH FILES")
    for name, text in FILES:
        out += [".TP", f"\\fI{_esc(name)}\\fR", _para(text)]
    out.append(".SH EXIT STATUS")
    for code, text in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", _para(text)]
    out.append(".SH EXAMPLES")
    for text, example in EXAMPLES:
        out += [".PP", _para(text), ".PP", ".RS 4", ".nf", _esc(example), ".fi", ".RE"]
    out += [
        ".SH SEE ALSO",
        "\\fBllama-server\\fR(1), \\fBhf\\fR(1)",
        ".PP",
        _para("README.md and CHANGELOG.md in the lwz source tree."),
    ]
    return "\n".join(out) + "\n"
