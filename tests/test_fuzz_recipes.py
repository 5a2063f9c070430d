"""Fuzz: recipes (`lwz batch` files), as YAML-ish text and as arbitrary YAML data.

Loading gives a Recipe or lwz's RecipeError/UsageError, never another exception,
and every job's output stays inside the output folder, whatever the templates,
variables, `..`, absolute paths or symlinks.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from hypothesis_profiles import outcome
from lwz_cli.errors import UsageError
from lwz_cli.recipes import load_recipe
from lwz_cli.recipes.model import KEYS, PARAMS

ATOMS = st.sampled_from(
    [
        "name: s\n", "prompt: ", "output: ", "items:\n", "matrix:\n", "vars:\n", "params:\n",
        "words: ", "endpoint: ", "  - ", "  ", "- ", ": ", "{", "}", "[", "]", "{topic}", "{{",
        "}}", "{0}", "{a.b}", "{x!r}", "&a ", "*a", "<<: *a\n", "!!python/object:os.system ",
        "!!binary ", "!!set ", "!t ", "'", '"', "#", "\n", "---\n", "2020-02-30", "1" * 400,
        ".nan", ".inf", "0x10", "1:30", "~", "\t", "\x00", "\x1f", "\ufeff", "../", "/", ".md",
        "temperature: ", "seed: ", "top_p: ", "http://h:1", "topic: a\n", "%", "\\",
    ]
)  # fmt: skip
YAMLISH = st.lists(st.one_of(ATOMS, st.text(max_size=6)), max_size=40).map("".join)

# path pieces for output templates and variable values: traversal, absolute paths,
# Windows forms, a symlink to outside the output folder
PATH_PIECES = [
    "..", "../", "/", "//", "out", "a", ".", "./", "\\", "C:\\", "C:/", "~", "link", "link/",
    "{topic}", "{name}", "{index}", ".md", ".txt", ".MD", "\x00", "\n", " ", "é", "%2e%2e", "…",
]  # fmt: skip
PATHS = st.lists(st.sampled_from(PATH_PIECES), max_size=8).map("".join)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), PATHS, st.dates(),
    st.sampled_from([10**400, -(10**400), 2**63]),  # past a float's range, past int64
)  # fmt: skip
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.one_of(st.sampled_from(["topic", "words", "model", "seed", *PARAMS]), st.text(max_size=5)), inner, max_size=3), max_leaves=10)  # fmt: skip


@pytest.fixture(scope="module")
def folder():
    """An output folder holding `link`, a symlink to a folder outside it."""
    with tempfile.TemporaryDirectory() as root:
        out, outside = Path(root) / "out", Path(root) / "outside"
        out.mkdir()
        outside.mkdir()
        (out / "link").symlink_to(outside)
        yield out


def load(folder: Path, data: bytes, variables: dict[str, str] | None = None) -> None:
    path = folder / "recipe.yaml"
    path.write_bytes(data)
    try:
        recipe = load_recipe(path, variables=variables, out_dir=folder)
    except UsageError as exc:  # RecipeError is one
        for line in str(exc).splitlines():  # one line per problem, each FILE:LINE:COL
            assert line.startswith(f"{path}:") or len(str(exc).splitlines()) == 1, line
        outcome("refused")  # the statistics (--hypothesis-show-statistics) count both kinds
        return
    outcome("loaded, with jobs" if recipe.jobs else "loaded, no jobs")
    root = folder.resolve()
    for job in recipe.jobs:
        target = Path(os.path.realpath(job.output))
        assert root in target.parents, (job.relpath, target)


@given(st.one_of(YAMLISH.map(str.encode), st.binary(max_size=200)))
@example(b"[" * 1000)  # deep nesting: RecursionError in yaml's composer (found writing this)
@example(b'name: r\nprompt: x\noutput: a.md\nbrief: "a\\0b"\n')  # NUL: ValueError in resolve
@example(b'name: r\nprompt: x\noutput: a.md\nsources: ["a\\0b", "../x"]\n')
def test_any_recipe_text_loads_or_is_refused(folder, data):
    load(folder, data)


@given(
    st.fixed_dictionaries(
        {"name": st.one_of(st.just("s"), SCALARS), "prompt": st.one_of(st.just("Write about {topic}."), VALUES), "output": PATHS},
        optional={k: VALUES for k in KEYS if k not in ("name", "prompt", "output")},
    ),
    st.dictionaries(st.sampled_from(["topic", "x", "name"]), PATHS, max_size=2),
)  # fmt: skip
# an integer past a float's range: float() raised OverflowError (found by reading the code
# after the fuzz tests found the same in the config file)
@example({"name": "s", "prompt": "x", "output": "a.md", "params": {"temperature": 10**400}}, {})
def test_any_recipe_data_loads_or_is_refused(folder, data, variables):
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return
    load(folder, text.encode(), variables)


TEMPLATES = st.sampled_from(
    [
        "{topic}",
        "out/{topic}",
        "link/{topic}",
        "{topic}/x",
        "a/../{topic}",
        "{name}/{index}-{topic}",
    ]
)
TOPICS = st.one_of(st.sampled_from(["a", "b c", "x/y", "link/z", "..x", "é"]), PATHS)


@given(
    st.builds(
        lambda head, path, suffix: head + path + suffix,
        TEMPLATES,
        st.one_of(st.just(""), PATHS),
        st.sampled_from(["", ".md", ".md", ".txt"]),
    ),
    st.lists(TOPICS, min_size=1, max_size=3, unique=True),
    st.one_of(st.none(), TOPICS),
)
@example("{topic}.md", ["../x"], None)
@example("link/{topic}.md", ["a"], None)
@example("..", [""], "\n")  # a problem line broke in two at the newline (found by this test)
def test_outputs_never_leave_the_output_folder(folder, output, topics, pinned):
    recipe = {"name": "s", "prompt": "Write about {topic}.", "output": output, "matrix": {"topic": topics}}  # fmt: skip
    variables = {"topic": pinned} if pinned is not None else None
    load(folder, yaml.safe_dump(recipe, allow_unicode=True).encode(), variables)
