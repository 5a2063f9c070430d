"""Expanding a checked recipe into jobs (items x matrix), and the output-path rules."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from yaml.nodes import Node

from lwz_cli.export import FORMATS
from lwz_cli.recipes.model import MAX_JOBS, SUFFIXES, Job, Overrides, Recipe
from lwz_cli.strategy import Strategy
from lwz_cli.writing.length import parse_target


class Reader(Protocol):
    """Where expand() records a fault (recipes.reader.Reader); a protocol, so that the
    reader may import this module without a cycle."""

    def error(
        self, where: Node | tuple[int, int], message: str, hint: str | None = None
    ) -> None: ...


@dataclass
class Item:
    """One entry of items:, checked: its template values and its own settings."""

    number: int
    line: int
    values: dict[str, str]
    settings: dict[str, tuple[Any, Node]]


def expand(
    reader: Reader,
    recipe: Recipe,
    value: dict[str, Node],
    settings: dict,
    items: list[Item],
    prompt_vars: list[str],
    output_vars: list[str],
    variables: dict[str, str],
    overrides: Overrides,
) -> None:
    """Fill recipe.jobs: items x matrix, each checked (variables, output path);
    `overrides` win over the recipe's and the items' settings."""
    axes = [
        (key, [variables[key]] if key in variables else values)  # --var pins an axis
        for key, values in recipe.matrix.items()
    ]
    total = max(len(items), 1) * math.prod(len(values) for _, values in axes)
    if total > MAX_JOBS:
        reader.error(
            value["matrix"] if axes else value["items"],
            f"this recipe makes {total:,} jobs, more than {MAX_JOBS:,}",
            "split it into several recipes",
        )
        return
    root = recipe.out_root
    faults = _Faults()
    outputs: dict[Path, str] = {}
    index = 0
    each_item: list[Item | None] = list(items) or [None]  # no items: one pass, item None
    for item in each_item:
        own = item.settings if item else {}
        merged = {**settings, **{k: v for k, v in own.items() if k != "params"}}
        for combo in itertools.product(*(values for _, values in axes)):
            index += 1
            axis_values = dict(zip((key for key, _ in axes), combo, strict=True))
            values = {
                **recipe.vars,
                **axis_values,
                **(item.values if item else {}),
                **variables,
                "name": recipe.name,
                "index": str(index),
            }
            words = overrides.words or setting(merged, "words")
            if words is not None:
                values["words"] = str(words)
            who = f"item {item.number} at line {item.line}" if item else "the recipe"
            job = who + (
                f" ({', '.join(f'{k}={_shown(v)}' for k, v in axis_values.items())})"
                if axis_values
                else ""
            )
            missing = False
            for field_name, used in (("prompt", prompt_vars), ("output", output_vars)):
                for var in dict.fromkeys(v for v in used if v not in values):
                    missing = True
                    if var == "words":
                        faults.add(
                            ("words", field_name),
                            value[field_name],
                            who,
                            "item",
                            f"{field_name} uses {{words}} but {who} has no target",
                            "set words: in the recipe or the item",
                        )
                    else:
                        faults.add(
                            ("missing", field_name, var),
                            value[field_name],
                            who,
                            "item",
                            f"{field_name} uses {{{var}}}, which has no value in {who}",
                            f"give the item a {var}, add it to vars: or matrix:, or pass --var {var}=VALUE",
                        )
            if missing:
                continue
            prompt = recipe.prompt.format_map(values)
            if not prompt.strip():
                faults.add(
                    ("empty prompt",),
                    value["prompt"],
                    job,
                    "job",
                    f"the prompt for {job} is empty",
                    "check the variables that prompt: uses",
                )
            rel, unsafe = output_path(recipe.output.format_map(values), root, job, recipe.format)
            if unsafe is not None:
                faults.add(unsafe[0], value["output"], job, "job", *unsafe[1:])
            if rel is None:
                continue
            target = (root / rel).resolve()
            if target in outputs:
                faults.add(
                    ("same output", target),
                    value["output"],
                    job,
                    "job",
                    f"{outputs[target]} and {job} both write {rel}",
                    "use a variable that differs between them in output:, e.g. out/{topic}.md",
                )
                continue
            outputs[target] = job
            strategy = setting(merged, "strategy")
            no_length = words is None and parse_target(prompt) is None and recipe.outline is None
            if strategy == Strategy.PLANNED and no_length:
                faults.add(
                    ("planned",),
                    merged["strategy"][1],
                    job,
                    "job",
                    f"strategy planned needs a target length for {job}",
                    "set words:, or state the length in the prompt",
                )
            params = {**(setting(settings, "params") or {}), **(setting(own, "params") or {})}
            recipe.jobs.append(
                Job(
                    id=f"{recipe.name}/{rel}",
                    index=index,
                    prompt=prompt,
                    output=root / rel,
                    relpath=str(rel),
                    words=words,
                    model=overrides.model or setting(merged, "model"),
                    strategy=strategy,
                    params=params,
                    endpoint=recipe.endpoint,
                    outline=recipe.outline,
                    recipe=recipe.name,
                    source=recipe.path,
                    item=item.number if item else None,
                    item_line=item.line if item else None,
                    variables={k: values[k] for k in dict.fromkeys(prompt_vars + output_vars)},
                    brief=recipe.brief,
                    style=recipe.style,
                    sources=recipe.sources,
                    citations=recipe.citations,
                )
            )
    faults.report(reader)


class _Faults:
    """One problem per fault, however many jobs share it: the first job is named and
    the others counted, so a bad template gives one line, not one per job."""

    def __init__(self) -> None:
        self.found: dict[tuple, tuple[Node, str, str, str, list[str]]] = {}

    def add(self, key: tuple, node: Node, who: str, noun: str, message: str, hint: str) -> None:
        whos = self.found.setdefault(key, (node, noun, message, hint, []))[4]
        if who not in whos:
            whos.append(who)

    def report(self, reader: Reader) -> None:
        for node, noun, message, hint, whos in self.found.values():
            more = len(whos) - 1
            reader.error(
                node,
                message + (f" (and {more} more {noun}{'s' * (more > 1)})" if more else ""),
                hint,
            )


def output_path(
    rendered: str, root: Path, who: str, fmt: str | None = None
) -> tuple[PurePosixPath | None, tuple | None]:
    """(the rendered output as a path relative to `root`, None), or (None, the fault:
    (key, message, hint)) when it is empty, absolute, goes up, or leaves `root`."""
    shown = rendered if len(rendered) < 80 else rendered[:77] + "..."
    rel = PurePosixPath(rendered)
    if not rendered.strip():
        return None, (
            ("empty",),
            f"output is empty for {who}",
            "output: is a file path such as out/{topic}.md",
        )
    if any(c in rendered for c in "\0\n\r"):
        return None, (
            ("newline",),
            f"output for {who} contains a newline or NUL: {shown!r}",
            "use variables without line breaks in output:",
        )
    if rel.is_absolute() or re.match(r"[A-Za-z]:[\\/]|\\", rendered):  # Windows forms too
        return None, (
            ("absolute",),
            f"output {shown!r} for {who} is an absolute path; it must stay in {root}",
            "make it relative, e.g. out/{topic}.md; --out-dir chooses the folder",
        )
    if ".." in rel.parts:
        return None, (
            ("up",),
            f"output {shown!r} for {who} goes up with '..'; it must stay in {root}",
            "remove the '..'; --out-dir chooses the folder",
        )
    if fmt is not None and rel.name:  # `format: docx`: out/{topic}.md is written as .docx
        rel = rel.with_suffix(".md" if fmt == "md" else f".{fmt}")
    if rel.suffix.lower() not in SUFFIXES:
        return None, (
            ("suffix",),
            f"output {shown!r} for {who} must end in .md or .txt (or {', '.join(FORMATS)})",
            "for example out/{topic}.md",
        )
    target = (root / rel).resolve()  # follows symlinks in the parts that exist
    if root != target and root not in target.parents:
        return None, (
            ("symlink",),
            f"output {shown!r} for {who} leads outside {root} through a symlink (to {target})",
            "remove the symlink or write somewhere else",
        )
    if target.is_dir():
        return None, (
            ("folder", target),
            f"output {shown!r} for {who} is a folder",
            "name a file, e.g. out/{topic}.md",
        )
    return rel, None


def _shown(value: str) -> str:
    """A value as a problem line shows it: quoted when it holds a newline or the like."""
    return value if value.isprintable() else repr(value)


def setting(settings: dict[str, tuple[Any, Node]], key: str) -> Any:
    """The value of one (value, node) setting, or None when it is not set."""
    return settings[key][0] if key in settings else None
