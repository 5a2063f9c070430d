"""Recipes: many `lwz write` jobs described by one YAML file, for `lwz batch`.

A pure library: it reads, validates and expands recipes; it never loads a model.

API (imported by `lwz batch`; keep it stable):

    load_recipe(path, *, variables=None, out_dir=None, overrides=None) -> Recipe
        Parse, validate and expand one recipe. Raises RecipeError (a UsageError,
        exit 2) listing every problem as `FILE:LINE:COL: message`.
    load_recipes(paths, *, variables=None, out_dir=None, overrides=None) -> list[Recipe]
        The same for several recipes: all are checked before any is returned, and
        two recipes writing the same file is an error too. `overrides` (Overrides:
        model, words) win over every recipe's and item's settings.
    parse_vars(["key=value", ...]) -> dict[str, str]     # --var; UsageError if malformed
    select(jobs, pattern) -> list[Job]                   # --only, fnmatch
    Recipe, Job (dataclasses); Job.fingerprint() -> sha256 hex of the inputs that shape
    the text; RecipeError.problems -> list[Problem(file, line, column, message, hint)].

YAML is read node by node with SafeLoader (`yaml.compose`), so each problem points
at the key or value at fault; values are built with `yaml.safe_load` rules and any
other tag (`!!python/...`, `!custom`) is refused. Templates are `str.format` text
restricted to plain `{name}` fields (`{{`/`}}` for braces). Per job the variables are,
lowest first: `vars:`, the matrix values and the item's keys, then `--var` (which
also pins a matrix axis to one value); `name`, `index` (1-based) and `words` are
built in. Jobs run items x matrix, the last matrix key varying fastest.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from lwz_cli.errors import UsageError
from lwz_cli.recipes.model import (
    ITEM_SETTINGS,
    RESERVED,
    Job,
    Overrides,
    Problem,
    Recipe,
    RecipeError,
)
from lwz_cli.recipes.reader import Reader

__all__ = [
    "Job",
    "Overrides",
    "Problem",
    "Recipe",
    "RecipeError",
    "load_recipe",
    "load_recipes",
    "parse_vars",
    "select",
]


def parse_vars(pairs: Iterable[str]) -> dict[str, str]:
    """`--var key=value` flags as a dict (the last of a repeated key wins)."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"--var {pair!r} is not KEY=VALUE", hint="for example --var audience=beginners"
            )
        _check_var_name(key)
        values[key] = value
    return values


def _check_var_name(key: str) -> None:
    if not key.isidentifier():
        raise UsageError(
            f"--var {key!r}: a variable name is letters, digits and _",
            hint="for example --var audience=beginners",
        )
    if key in RESERVED:
        raise UsageError(
            f"--var {key}: {key!r} is set by the recipe or by lwz, not by --var",
            hint=f"set {key}: in the recipe" if key in ITEM_SETTINGS else "use another name",
        )


def select(jobs: Iterable[Job], pattern: str) -> list[Job]:
    """The jobs whose id, output path, file name or file stem matches `pattern`."""

    def names(job: Job) -> tuple[str, ...]:
        rel = PurePosixPath(job.relpath)
        return job.id, job.relpath, rel.name, rel.stem

    return [job for job in jobs if any(fnmatch.fnmatchcase(n, pattern) for n in names(job))]


def load_recipes(
    paths: Iterable[Path],
    *,
    variables: Mapping[str, str] | None = None,
    out_dir: Path | None = None,
    overrides: Overrides | None = None,
) -> list[Recipe]:
    """Load every recipe, then refuse two jobs (from any recipes) writing one file."""
    recipes, problems = [], []
    for path in paths:
        try:
            recipes.append(
                load_recipe(Path(path), variables=variables, out_dir=out_dir, overrides=overrides)
            )
        except RecipeError as exc:
            problems.extend(exc.problems)
    seen: dict[Path, Job] = {}
    names: dict[str, Recipe] = {}
    for recipe in recipes:
        first = names.setdefault(recipe.name, recipe)
        if first is not recipe:  # job ids (name/relpath) must not clash across recipes
            problems.append(
                Problem(
                    str(recipe.path),
                    *recipe.positions["name"],
                    f"recipe name {recipe.name!r} is also used by {first.path}",
                    "give each recipe its own name",
                )
            )
            continue
        line, column = recipe.positions["output"]
        for job in recipe.jobs:
            other = seen.setdefault(job.output.resolve(), job)
            if other is not job:
                problems.append(
                    Problem(
                        str(recipe.path),
                        line,
                        column,
                        f"{job.id} writes {job.output}, as {other.id} ({other.where}) does",
                        "give the recipes different output templates or --out-dir",
                    )
                )
    if problems:
        raise RecipeError(problems)
    return recipes


def load_recipe(
    path: Path,
    *,
    variables: Mapping[str, str] | None = None,
    out_dir: Path | None = None,
    overrides: Overrides | None = None,
) -> Recipe:
    """Parse, validate and expand one recipe; RecipeError lists every problem."""
    path = Path(path)
    variables = dict(variables or {})
    for key in variables:
        _check_var_name(key)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"recipe {path} does not exist", hint="check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read recipe {path}: {exc.strerror}") from None
    reader = Reader(path)
    recipe = reader.read(data, variables, out_dir, overrides or Overrides())
    if reader.problems or recipe is None:
        # dict.fromkeys: a node reached through several YAML aliases is reported once
        raise RecipeError(sorted(dict.fromkeys(reader.problems), key=lambda p: (p.line, p.column)))
    return recipe
