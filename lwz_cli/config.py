"""Settings: flags > LWZ_* environment > config.yaml > built-in defaults.

The file is `$XDG_CONFIG_HOME/lwz/config.yaml` (or `$LWZ_HOME/config/config.yaml`),
read with `yaml.safe_load` semantics and validated against `SETTINGS`: unknown
keys and wrong types are refused with FILE:LINE:COL. The command line gets the
file's values as Click's `default_map`, under environment variables and flags.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lwz_cli.atomic import atomic_write_text
from lwz_cli.errors import UsageError
from lwz_cli.paths import paths
from lwz_cli.strategy import STRATEGY_NAMES, Strategy


@dataclass(frozen=True)
class Setting:
    key: str
    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None

    @property
    def env(self) -> str:
        return "LWZ_" + self.key.upper()


# The one place a setting's built-in default is written: the flags, `lwz config show`
# and the library (through `default`) all read it from here.
SETTINGS = {
    s.key: s
    for s in (
        Setting("model", str, "longwriter-zero-32b", "default --model"),  # the Hub alias
        Setting("strategy", str, Strategy.AUTO.value, "default --strategy", STRATEGY_NAMES),
        Setting("words", int, None, "default --words (else the request's own length)", minimum=1),
        Setting("temperature", float, 0.6, "sampling temperature", minimum=0),  # model card
        Setting("top_p", float, 0.95, "nucleus sampling", minimum=0),  # model card
        Setting("seed", int, None, "random seed"),
        Setting("max_tokens", int, None, "generation cap", minimum=1),
        Setting("ctx", int, None, "context size (tokens)", minimum=256),
        Setting("threads", int, None, "CPU threads (default: physical cores)", minimum=1),
        Setting("gpu_layers", int, None, "layers on the GPU (-1 all; default: the fit plan)"),
        Setting(
            "kv_type", str, None, "KV cache type (default: the fit plan)", ("f16", "q8_0", "q4_0")
        ),
        Setting("kv_snapshot", bool, True, "save KV snapshots for fast resume"),
        Setting("snapshot_max_gb", float, 4.0, "largest KV snapshot to save", minimum=0),
        Setting(
            "endpoint", str, None, "OpenAI-compatible server(s) to write with (space-separated)"
        ),
        Setting("endpoint_model", str, None, "model name to ask the endpoint for"),
        Setting("api_key", str, None, "bearer key for the endpoint"),
        Setting(
            "memory",
            bool,
            None,
            "planned runs: a memory of each section's facts for later sections "
            "(default: when the document outgrows the context window)",
        ),
        Setting("wait", bool, True, "wait while another lwz runs a model (false: exit 1)"),
        Setting(
            "citations",
            str,
            "numeric",
            "how --source facts are cited",
            ("none", "numeric", "footnotes"),
        ),
        Setting("excerpt_tokens", int, 900, "tokens of --source excerpts per prompt", minimum=100),
    )
}
# env names that differ from LWZ_<KEY>
ENV_NAMES = {"snapshot_max_gb": "LWZ_KV_SNAPSHOT_MAX_GB"}
COMMANDS_USING = {
    "write": list(SETTINGS),
    "resume": ["threads", "gpu_layers", "kv_snapshot", "snapshot_max_gb", "api_key", "wait"],
    "chat": [
        "model",
        "words",
        "temperature",
        "top_p",
        "seed",
        "ctx",
        "threads",
        "gpu_layers",
        "kv_type",
        "wait",
        "memory",
    ],
    "batch": [
        "model",
        "strategy",
        "temperature",
        "top_p",
        "seed",
        "ctx",
        "threads",
        "gpu_layers",
        "endpoint",
        "endpoint_model",
        "api_key",
        "wait",
    ],
}
MULTIPLE = {"endpoint"}  # repeatable options: the file's value is split on spaces and commas


def default(key: str) -> Any:
    """The built-in default of setting `key` (before env, file and flags)."""
    return SETTINGS[key].default


def env_name(key: str) -> str:
    return ENV_NAMES.get(key, SETTINGS[key].env)


def config_path() -> Path:
    return paths().config_file


def _position(path: Path, node) -> str:
    mark = node.start_mark
    return f"{path}:{mark.line + 1}:{mark.column + 1}"


def convert(setting: Setting, value: Any, where: str) -> Any:
    """Check one value; raise UsageError naming `where` when it is wrong."""
    kind = setting.kind
    if value is None:
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "true",
            "false",
            "yes",
            "no",
            "on",
            "off",
            "1",
            "0",
        ):
            return value.lower() in ("true", "yes", "on", "1")
        raise UsageError(f"{where}: {setting.key} must be true or false, not {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, (int, str))):
        raise UsageError(f"{where}: {setting.key} must be a whole number, not {value!r}")
    if kind is float and isinstance(value, bool):
        raise UsageError(f"{where}: {setting.key} must be a number, not {value!r}")
    try:
        converted = kind(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: float(10**400)
        noun = {int: "a whole number", float: "a number", str: "text"}[kind]
        raise UsageError(f"{where}: {setting.key} must be {noun}, not {value!r}") from None
    if kind is int and isinstance(value, str) and str(converted) != value.strip():
        raise UsageError(f"{where}: {setting.key} must be a whole number, not {value!r}")
    if kind is float and converted != converted:  # NaN passes every comparison below
        raise UsageError(f"{where}: {setting.key} must be a number, not {value!r}")
    if setting.choices and converted not in setting.choices:
        raise UsageError(
            f"{where}: {setting.key} must be one of {', '.join(setting.choices)}, not {value!r}"
        )
    if setting.minimum is not None and converted < setting.minimum:
        raise UsageError(
            f"{where}: {setting.key} must be at least {setting.minimum:g}, not {value!r}"
        )
    return converted


class ConfigEntryError(UsageError):
    """One bad entry of the config file (an unknown key, a wrong value): `lwz config`
    shows the rest and can unset or set it, so the file is mended with lwz itself."""

    def __init__(self, message: str, *, key: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.key = key


@dataclass
class ConfigFile:
    """The config file read leniently: its valid settings, every entry as written
    (bad ones too, so a rewrite keeps them), and what is wrong with it."""

    values: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, Any] = field(default_factory=dict)
    problems: list[ConfigEntryError] = field(default_factory=list)


def read_file(path: Path | None = None) -> ConfigFile:
    """The config file, each bad entry a problem rather than an error. A file that is
    not a YAML mapping at all raises UsageError (there are no entries to keep)."""
    path = path or config_path()
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return ConfigFile()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: not UTF-8 text (byte {exc.start})", hint="save it as UTF-8"
        ) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise UsageError(
            f"{where}: not valid YAML ({_problem(exc)})",
            hint="fix the file, or `lwz config path` to find it",
        ) from None
    except RecursionError:  # yaml's composer recurses once per level of nesting
        raise UsageError(
            f"{path}: not valid YAML (nested too deeply)",
            hint="fix the file, or `lwz config path` to find it",
        ) from None
    if root is None:
        return ConfigFile()
    if not isinstance(root, yaml.MappingNode):
        raise UsageError(
            f"{_position(path, root)}: the config must be a mapping of key: value",
            hint="for example `model: tiny`",
        )
    found = ConfigFile()
    for key_node, value_node in root.value:
        key = str(key_node.value)
        unreadable = None
        try:
            value = yaml.safe_load(yaml.serialize(value_node)) if value_node.value != "" else None
        except (yaml.YAMLError, ValueError, OverflowError) as exc:  # a tag, 2020-02-30, 5000 digits
            unreadable = _problem(exc)
            value = text[value_node.start_mark.index : value_node.end_mark.index]  # as written
        found.entries[key] = value
        shown = key if key.isprintable() else repr(key)  # the hint stays one line
        if key not in SETTINGS:
            close = difflib.get_close_matches(key, SETTINGS, n=1)
            found.problems.append(
                ConfigEntryError(
                    f"{_position(path, key_node)}: unknown key {key!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else ""),
                    key=key,
                    hint=f"`lwz config unset {shown}` removes it",
                )
            )
            continue
        mend = f"`lwz config set {key} VALUE` or `lwz config unset {key}` mends it"
        if unreadable is not None:
            found.problems.append(
                ConfigEntryError(
                    f"{_position(path, value_node)}: {key}: not a valid value ({unreadable})",
                    key=key,
                    hint=mend,
                )
            )
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            found.problems.append(
                ConfigEntryError(
                    f"{_position(path, value_node)}: {key} must be a single value",
                    key=key,
                    hint=mend,
                )
            )
            continue
        try:
            found.values[key] = convert(SETTINGS[key], value, _position(path, value_node))
        except UsageError as exc:
            found.problems.append(ConfigEntryError(exc.message, key=key, hint=mend))
    return found


def _problem(exc: Exception) -> str:
    """A YAML error in one line (a ReaderError has no `problem`, and a multi-line str)."""
    return getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]


def load_file(path: Path | None = None) -> dict[str, Any]:
    """The validated settings in the config file ({} when there is none); the first
    bad entry raises UsageError naming its FILE:LINE:COL."""
    found = read_file(path)
    if found.problems:
        raise found.problems[0]
    return found.values


def default_map() -> dict[str, dict[str, Any]]:
    """The file's values as Click defaults for the commands that take them."""
    values = {k: v for k, v in load_file().items() if v is not None}
    mapping = {}
    for command, keys in COMMANDS_USING.items():
        mapping[command] = {
            ("json_mode" if k == "json" else k): (
                values[k].replace(",", " ").split() if k in MULTIPLE else values[k]
            )
            for k in keys
            if k in values
        }
    return mapping


def effective(file_values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every setting with its value and where it came from (env, file, default);
    `file_values`: the file's settings when the caller has read them already."""
    if file_values is None:
        file_values = load_file()
    rows = []
    for key, setting in SETTINGS.items():
        name = env_name(key)
        if os.environ.get(name, "") != "":
            value = convert(setting, os.environ[name], f"${name}")
            source = f"env {name}"
        elif key in file_values:
            value, source = file_values[key], f"file {config_path()}"
        else:
            value, source = setting.default, "default"
        rows.append({"key": key, "value": value, "source": source, "help": setting.help})
    return rows


def save_file(values: dict[str, Any], path: Path | None = None) -> None:
    """Write `values`: the settings in table order, then any other entries (kept as
    they were, for the user to unset)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = {k: values[k] for k in SETTINGS if k in values}
    ordered.update((k, v) for k, v in values.items() if k not in SETTINGS)
    text = "# lwz settings: `lwz config show` lists them all\n"
    text += yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True) if ordered else ""
    atomic_write_text(path, text)
